package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/store"
)

// ConsentHistoryReader is the consent-history contract (the consent
// registry's, consent/registry.History): ConsentHistory returns every stored
// version of every directive of the patient, oldest first in the store's
// commit order, each idempotency key once; a patient with none gets an empty
// result and no error.
type ConsentHistoryReader interface {
	ConsentHistory(ctx context.Context, patientID string) ([]consent.Directive, error)
}

func (s *suite) testConsentHistory(t *testing.T) {
	b := s.h.New(t, "hub-a")
	hr, ok := b.(ConsentHistoryReader)
	if !ok {
		t.Fatalf("backend %T has no ConsentHistory", b)
	}
	d1v1 := directive("D1", "P1", "active", t0)
	d2 := directive("D2", "P1", "active", t0.Add(time.Minute))
	d3 := directive("D3", "P2", "active", t0)
	d1v2 := directive("D1", "P1", "inactive", t0.Add(time.Hour))
	d1v3 := directive("D1", "P1", "active", t0.Add(2*time.Hour))

	checkHistory(t, hr, "P1")
	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k1", Directive: d1v1}, {Key: "k2", Directive: d2}, {Key: "k3", Directive: d3}}})
	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k4", Directive: d1v2}}})
	// Redelivered versions (stored keys) are not history, whatever they say.
	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k4", Directive: d1v3}, {Key: "k1", Directive: d1v3}}})
	checkHistory(t, hr, "P1", d1v1, d2, d1v2)
	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k5", Directive: d1v3}}})
	checkHistory(t, hr, "P1", d1v1, d2, d1v2, d1v3)
	checkHistory(t, hr, "P2", d3)
	// The latest version of each directive is what Consents returns.
	checkConsents(t, b, "P1", d1v3, d2)

	t.Run("second instance", func(t *testing.T) {
		b2 := s.reopen(t, b, "hub-b")
		hr2, ok := b2.(ConsentHistoryReader)
		if !ok {
			t.Fatalf("backend %T has no ConsentHistory", b2)
		}
		d1v4 := directive("D1", "P1", "inactive", t0.Add(3*time.Hour))
		commit(t, b2, store.Batch{Consents: []store.ConsentVersion{{Key: "k6", Directive: d1v4}}})
		// Both instances see every version, the other's included, in order.
		checkHistory(t, hr, "P1", d1v1, d2, d1v2, d1v3, d1v4)
		checkHistory(t, hr2, "P1", d1v1, d2, d1v2, d1v3, d1v4)
		checkConsents(t, b, "P1", d1v4, d2)
	})
}

func checkHistory(t *testing.T, b ConsentHistoryReader, patient string, want ...consent.Directive) {
	t.Helper()
	got, err := b.ConsentHistory(context.Background(), patient)
	if err != nil {
		t.Fatalf("ConsentHistory(%s): %v", patient, err)
	}
	if len(got) != len(want) {
		t.Fatalf("ConsentHistory(%s) = %d versions %+v, want %d %+v", patient, len(got), got, len(want), want)
	}
	for i := range want {
		if !sameDirective(want[i], got[i]) {
			t.Errorf("ConsentHistory(%s)[%d] = %+v, want %+v", patient, i, got[i], want[i])
		}
	}
}
