package policy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
)

// A billing clerk reading a Patient for payment sees only the demographic
// fields billing needs; the same clerk is denied Observations, and a
// patient's opt-out blocks a physician unless the physician breaks the glass.
func ExampleEngine_Decide() {
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Config{}, nil) // embedded policy
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clerk := policy.Subject{ID: "u-7", Kind: "user", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT"}

	d, _ := e.Decide(ctx, policy.Input{Action: policy.ActionRead, Subject: clerk, PatientID: "p-1", RecordType: "Patient", Now: now})
	fmt.Println(d.Allow, d.Fields, d.AllowsField("telecom"))

	d, _ = e.Decide(ctx, policy.Input{Action: policy.ActionRead, Subject: clerk, PatientID: "p-1", RecordType: "Observation", Now: now})
	fmt.Println(d.Allow, d.Rules)

	optOut := consent.Directive{ID: "c-9", PatientID: "p-1", Status: "active", Decision: consent.Deny, Recorded: now}
	doctor := policy.Subject{ID: "u-1", Kind: "user", Roles: []string{"physician"}, Purpose: "TREAT"}
	in := policy.Input{Action: policy.ActionRead, Subject: doctor, PatientID: "p-1", RecordType: "Observation",
		Consents: []consent.Directive{optOut}, Relationship: true, Now: now}
	d, _ = e.Decide(ctx, in)
	fmt.Println(d.Allow, d.Rules, d.Consents)

	in.Subject.Purpose, in.Subject.BreakGlassReason = "ETREAT", "unconscious in ED"
	d, _ = e.Decide(ctx, in)
	fmt.Println(d.Allow, d.Rules, d.Consents)
	// Output:
	// true [address birthDate identifier name] false
	// false [read.type-not-permitted]
	// false [consent.opt-out read.role-purpose] [c-9]
	// true [break-glass consent.opt-out consent.opt-out-overridden read.role-purpose] [c-9]
}
