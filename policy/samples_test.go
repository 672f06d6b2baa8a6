package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/policy/policytest"
)

// TestFHIRConsentExamples loads the FHIR R4 Consent examples of the shared
// samples and checks that the engine enforces each as its narrative says.
// Subtest names are the example file and the expected decision.
func TestFHIRConsentExamples(t *testing.T) {
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, file string) consent.Directive {
		t.Helper()
		b, err := os.ReadFile(samples.Path(t, "fhir-r4/"+file))
		if err != nil {
			t.Fatal(err)
		}
		var res map[string]any
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		d, err := consent.FromFHIR(res, policytest.Patient, "samples", policytest.Now)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	physician := func(purpose string) policy.Subject {
		return policy.Subject{ID: "u-1", Kind: "user", Roles: []string{"physician"}, Purpose: purpose, Org: "Organization/f002"}
	}
	emergency := &policy.BreakGlass{Reason: "unconscious in ED"}
	tests := []struct {
		name, file string
		in         policy.Input
		allow      bool
		rule       string // a rule the decision must list
	}{
		{name: "expired opt-in does not apply: treatment allowed", file: "consent-example.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "Observation", Relationship: true}, allow: true},
		{name: "expired opt-in does not apply: research denied", file: "consent-example.json",
			in: policy.Input{Subject: physician("HRESCH"), RecordType: "Observation"}, rule: "profile.consent-required"},
		{name: "no data for treatment: treatment denied", file: "consent-example-Out.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "Observation", Relationship: true}, rule: "consent.opt-out"},
		{name: "no data for treatment: routing to the HIE denied", file: "consent-example-Out.json",
			in: policy.Input{Action: policy.ActionRoute, Subject: policy.Subject{ID: "hie", Kind: "system", Roles: []string{"hie_participant"}, Purpose: "TREAT"},
				RecordType: "Observation"}, rule: "consent.opt-out"},
		{name: "no data for treatment: break-the-glass overrides", file: "consent-example-Out.json",
			in: policy.Input{Subject: physician("ETREAT"), BreakGlass: emergency, RecordType: "Observation"}, allow: true, rule: "consent.opt-out-overridden"},
		{name: "Organization f001 excluded: f001 denied", file: "consent-example-notOrg.json",
			in: policy.Input{Subject: policy.Subject{ID: "u-2", Kind: "user", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/f001"},
				RecordType: "Observation", Relationship: true}, rule: "consent.opt-out"},
		{name: "Organization f001 excluded: other organisation allowed", file: "consent-example-notOrg.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "Observation", Relationship: true}, allow: true, rule: "consent.permit"},
		{name: "Task example3 withheld: related record denied", file: "consent-example-notThis.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "DiagnosticReport", Relationship: true,
				DataRefs: []string{"DiagnosticReport/r-1", "Task/example3"}}, rule: "consent.opt-out"},
		{name: "Task example3 withheld: unrelated record allowed", file: "consent-example-notThis.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "DiagnosticReport", Relationship: true,
				DataRefs: []string{"DiagnosticReport/r-2"}}, allow: true, rule: "consent.permit"},
		{name: "Task example3 withheld: record of unknown identity denied", file: "consent-example-notThis.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "DiagnosticReport", Relationship: true}, rule: "consent.opt-out"},
		{name: "emergency only: treatment denied", file: "consent-example-Emergency.json",
			in: policy.Input{Subject: physician("TREAT"), RecordType: "Observation", Relationship: true}, rule: "consent.opt-out"},
		{name: "emergency only: emergency treatment allowed", file: "consent-example-Emergency.json",
			in: policy.Input{Subject: physician("ETREAT"), BreakGlass: emergency, RecordType: "Observation"}, allow: true, rule: "consent.permit"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.name, func(t *testing.T) {
			d := load(t, tt.file)
			in := tt.in
			if in.Action == "" {
				in.Action = policy.ActionRead
			}
			in.PatientID, in.Now = policytest.Patient, policytest.Now
			in.Consents = consent.InForce([]consent.Directive{d}, in.Now)
			got, err := e.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v (rules %v)", got.Allow, tt.allow, got.Rules)
			}
			if tt.rule != "" && !slices.Contains(got.Rules, tt.rule) {
				t.Fatalf("rules %v lack %s", got.Rules, tt.rule)
			}
		})
	}
}
