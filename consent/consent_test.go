package consent

import (
	"testing"
	"time"
)

func TestInForce(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	ds := []Directive{
		{ID: "active", Status: "active"},
		{ID: "inactive", Status: "inactive"},
		{ID: "expired", Status: "active", End: now.Add(-time.Hour)},
		{ID: "future", Status: "active", Start: now.Add(time.Hour)},
		{ID: "current", Status: "active", Start: now.Add(-time.Hour), End: now.Add(time.Hour)},
	}
	got := InForce(ds, now)
	if len(got) != 2 || got[0].ID != "active" || got[1].ID != "current" {
		t.Fatalf("InForce = %+v, want active and current", got)
	}
}
