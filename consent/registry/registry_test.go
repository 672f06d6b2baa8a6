package registry

import (
	"testing"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/query"
)

func TestNumbered(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	all := []consent.Directive{
		{ID: "a", Status: "active", Recorded: t0},
		{ID: "b", Status: "active", Recorded: t0},
		{ID: "a", Status: "inactive", Recorded: t0.Add(time.Hour)},
	}
	h := numbered(all, true)
	if len(h) != 3 || h[0].Version != 1 || h[1].Version != 1 || h[2].Version != 2 || h[2].Status != "inactive" {
		t.Fatalf("history: %+v", h)
	}
	l := numbered(all, false)
	if len(l) != 2 || l[0].ID != "b" || l[1].ID != "a" || l[1].Version != 2 {
		t.Fatalf("latest: %+v", l)
	}
	if numbered(nil, false) != nil {
		t.Error("no directives: want nil")
	}
}

func TestResourceRoundTrips(t *testing.T) {
	d := consent.Directive{
		ID: "consent:hie:abc", PatientID: "Pxyz", Status: "active", Decision: consent.Deny,
		Purposes: []string{"HRESCH"}, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Recorded: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), Source: "hie",
	}
	res := Resource(query.ConsentVersion{Directive: d, Version: 3})
	if res["meta"].(map[string]any)["versionId"] != "3" || res["status"] != "active" {
		t.Fatalf("resource: %v", res)
	}
	// The hub's own FHIR decoder reads it back as the same directive.
	back, err := consent.FromFHIR(res, "Pxyz", "hie", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Decision != d.Decision || !back.Start.Equal(d.Start) || !back.End.Equal(d.End) || len(back.Purposes) != 1 || back.Purposes[0] != "HRESCH" || back.Status != d.Status {
		t.Errorf("round trip: %+v, want %+v", back, d)
	}
	b := Bundle([]query.ConsentVersion{{Directive: d, Version: 1}}, true, time.Now())
	if b["type"] != "history" || b["total"] != 1 {
		t.Errorf("bundle: %v", b)
	}
}
