package route_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
)

// The phi.Sealer is the production Opener.
var _ route.Opener = (*phi.Sealer)(nil)

// memWrapped is an in-memory keys.WrappedStore.
type memWrapped struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ keys.WrappedStore = (*memWrapped)(nil)

func (s *memWrapped) GetWrapped(_ context.Context, owner string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.m[owner]
	return bytes.Clone(w), ok, nil
}

func (s *memWrapped) PutWrappedIfAbsent(_ context.Context, owner string, wrapped []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	if w, ok := s.m[owner]; ok {
		return bytes.Clone(w), nil
	}
	s.m[owner] = bytes.Clone(wrapped)
	return bytes.Clone(wrapped), nil
}

// realSealed seals FHIR resources with the production sealer.
func realSealed(t *testing.T) (*phi.Sealer, []record.Sealed) {
	t.Helper()
	kr, err := local.FromKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := phi.NewSealer(kr, &memWrapped{}, phi.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pat := patientPlain()
	pat["resourceType"] = "Patient"
	obs := obsPlain()
	obs["resourceType"], obs["status"] = "Observation", "final"
	var out []record.Sealed
	for _, r := range []record.Record{
		{ID: "r-pat", Type: "Patient", Source: "ehr", Key: "k-pat", PatientID: "P1", Resource: pat},
		{ID: "r-obs", Type: "Observation", Source: "lis", Key: "k-obs", PatientID: "P1", Labels: []string{"ETH"}, Resource: obs},
		{ID: "r-p2", Type: "Patient", Source: "ehr", Key: "k-p2", PatientID: "P2", Resource: patientPlain()},
	} {
		r.Resource["id"] = r.ID
		s, err := sealer.Seal(context.Background(), &r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return sealer, out
}

// TestRealPolicyRouting runs the embedded Rego policy. The HIE (role
// hie_participant, kind system, TREAT) receives patient P1's Patient, is
// denied P1's substance use disorder Observation (labelled ETH: 42 CFR Part
// 2 needs the patient's consent, which P1 has not given) and is denied
// P2's records, who opted out. Role application needs a care relationship the
// router cannot assert yet (Input.Relationship stays false), and a user role
// is not valid for a system subscriber: both are denied, audited and never
// decrypted.
func TestRealPolicyRouting(t *testing.T) {
	ctx := context.Background()
	eng, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, recs := realSealed(t)
	hie := route.Subscriber{Name: "hie", Kind: route.KindSystem, Roles: []string{"hie_participant"},
		Purpose: "TREAT", Types: []string{"Patient", "Observation"}}
	billingClerk := billing
	billingClerk.Roles = []string{"billing_clerk"} // a user role: not valid for kind system
	consents := &memConsents{by: map[string][]consent.Directive{
		"P2": {{ID: "c-1", PatientID: "P2", Status: "active", Decision: consent.Deny}},
	}}
	r, err := route.New(route.Config{Subscribers: []route.Subscriber{app, billingClerk, hie}}, route.Deps{
		Decider: eng, Consents: consents, Opener: sealer, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 {
		t.Fatalf("routed %d messages, want P1's Patient to the HIE", len(p.Messages))
	}
	for _, m := range p.Messages {
		if m.Topic != "hub.out.hie" || string(m.Key) != "P1" {
			t.Errorf("routed to %s for %s", m.Topic, m.Key)
		}
	}
	wantDeny := map[string]string{
		"carecrest-app": "care relationship required",
		"billing":       "role not valid for this kind of subject",
		"hie":           "patient opted out for this purpose",
	}
	var routed, denied int
	for _, e := range p.Events {
		if !strings.HasPrefix(e.PolicyRevision, "sha256:") {
			t.Errorf("event names no policy revision: %q", e.PolicyRevision)
		}
		switch e.Code {
		case audit.CodeRouted:
			routed++
			if e.ActorID != "hie" || e.PatientID != "P1" {
				t.Errorf("routed event %s %s", e.ActorID, e.PatientID)
			}
		case audit.CodeRouteDeny:
			denied++
			want := wantDeny[e.ActorID]
			if e.ActorID == "hie" && e.PatientID == "P1" {
				want = "42 CFR Part 2) require the patient's consent"
			}
			if !strings.HasPrefix(e.Key, "rd|"+e.ActorID+"|") || !strings.Contains(e.Reason, want) {
				t.Errorf("%s %s %s: key %s reason %q, want %q", e.ActorID, e.PatientID, e.RecordType, e.Key, e.Reason, want)
			}
		}
	}
	if routed != 1 || denied != 7 {
		t.Errorf("events: %d routed, %d denied; want 1 and 7 (app 3, billing 2 Patients, hie P1's Observation and P2)", routed, denied)
	}
}

// TestRealSealingMinimumNecessary routes records sealed by the production
// sealer, decided by a fake holding the grants the shipped policy gives
// billing_clerk (HPAYMT) and application (TREAT), as a policy with routing
// roles would: decrypted values reach the subscriber, masked ones are never
// decrypted, and the audit names elements only.
func TestRealSealingMinimumNecessary(t *testing.T) {
	ctx := context.Background()
	sealer, recs := realSealed(t)
	consents := &memConsents{by: map[string][]consent.Directive{
		"P2": {{ID: "c-1", PatientID: "P2", Status: "active", Decision: consent.Deny}},
	}}
	r, err := route.New(route.Config{Subscribers: []route.Subscriber{app, billing}}, route.Deps{
		Decider: &fakeDecider{grants: grants}, Consents: consents, Opener: sealer, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	topics := byTopic(p)
	if len(topics["hub.out.carecrest-app"]) != 2 || len(topics["hub.out.billing"]) != 1 {
		t.Fatalf("messages per topic: app %d, billing %d; want 2 and 1",
			len(topics["hub.out.carecrest-app"]), len(topics["hub.out.billing"]))
	}
	bill := body(t, topics["hub.out.billing"][0])
	name, _ := json.Marshal(bill["name"])
	if !strings.Contains(string(name), "Doe") || bill["birthDate"] != "1970-01-02" {
		t.Errorf("billing Patient not decrypted: %v", bill)
	}
	if _, ok := bill["telecom"]; ok || !contains(security(bill), "REDACTED") {
		t.Errorf("billing Patient not masked: %v", bill)
	}
	obs := body(t, topics["hub.out.carecrest-app"][1])
	vq, _ := obs["valueQuantity"].(map[string]any)
	if vq["value"] != 7.25 || obs["status"] != "final" {
		t.Errorf("Observation not decrypted: %v", obs)
	}
	if !contains(security(obs), "42CFRPart2") || !strings.Contains(string(topics["hub.out.carecrest-app"][1].Value), route.Part2Notice) {
		t.Errorf("ETH Observation lacks the part 2 notice: %v", obs["meta"])
	}
	for _, m := range p.Messages {
		if string(m.Key) == "P2" {
			t.Error("opted-out patient routed")
		}
	}
	b, _ := json.Marshal(p.Events)
	for _, v := range phiValues {
		if strings.Contains(string(b), v) {
			t.Errorf("audit events carry PHI value %q", v)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
