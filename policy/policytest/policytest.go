// Package policytest is the hub's table of policy decision cases: role ×
// purpose × consent × sensitivity label × care relationship ×
// break-the-glass, with the decision each must get. The policy package runs
// it against the engine directly; the GraphQL read, the outbound route and
// the explain paths run the same table so that every path decides alike.
//
// A Case is built from pieces every path can express:
//
//   - Roles, Kind, Purpose, Org: the subject (Kind "user", "application" or
//     "system"; Org a FHIR reference such as "Organization/f001").
//   - BreakGlassReason and BreakGlassAge: a break-the-glass declaration
//     (Purpose ETREAT); a zero age opens the session now, a positive age
//     says how long before Now it opened.
//   - Consents: FHIR R4 Consent resources as JSON (parsed with
//     consent.FromFHIR for the patient Patient), and Directives: directives
//     as stored (both apply; callers put them in force for Patient).
//   - RecordType and Labels: the records decided and their sensitivity
//     labels.
//   - Relationship: whether a care relationship exists.
//   - Action: "read" (default) or "route".
//   - Profile: the jurisdiction profile ("" = the engine's, hipaa).
//
// The expectation: WantAllow; WantRules, rule ids the decision must list
// (the key ones, not all); WantObligations, exactly the obligations of the
// decision (nil = none).
package policytest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
)

// Now is the time every case is decided at.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Patient is the enterprise id of the patient of every case.
const Patient = "P000000001"

// Case is one decision case.
type Case struct {
	Name string

	Roles            []string
	Kind             string // default "user"
	Purpose          string
	Org              string
	BreakGlassReason string
	BreakGlassAge    time.Duration // how long before Now the session opened

	Consents   []string            // FHIR Consent JSON
	Directives []consent.Directive // stored directives

	RecordType   string
	Labels       []string
	Relationship bool
	Action       string // default policy.ActionRead
	Profile      string

	WantAllow       bool
	WantRules       []string
	WantObligations []string
}

// Input builds the policy input of c, decided at Now.
func (c Case) Input() (policy.Input, error) {
	kind := c.Kind
	if kind == "" {
		kind = "user"
	}
	action := c.Action
	if action == "" {
		action = policy.ActionRead
	}
	in := policy.Input{
		Action: action,
		Subject: policy.Subject{
			ID: "subject-1", Kind: kind, Roles: c.Roles, Org: c.Org, Purpose: c.Purpose,
		},
		PatientID: Patient, RecordType: c.RecordType, Labels: c.Labels,
		Relationship: c.Relationship, Now: Now, Profile: c.Profile,
	}
	if c.BreakGlassReason != "" {
		in.BreakGlass = &policy.BreakGlass{Reason: c.BreakGlassReason}
		if c.BreakGlassAge > 0 {
			in.BreakGlass.Started = Now.Add(-c.BreakGlassAge)
		}
	}
	ds, err := c.AllDirectives()
	if err != nil {
		return policy.Input{}, err
	}
	in.Consents = consent.InForce(ds, Now)
	return in, nil
}

// AllDirectives returns the case's directives: Directives, then Consents
// parsed (their ids are the Consent ids, else "consent-N").
func (c Case) AllDirectives() ([]consent.Directive, error) {
	ds := append([]consent.Directive(nil), c.Directives...)
	for i, src := range c.Consents {
		var res map[string]any
		if err := json.Unmarshal([]byte(src), &res); err != nil {
			return nil, fmt.Errorf("policytest: %s: consent %d: %w", c.Name, i, err)
		}
		d, err := consent.FromFHIR(res, Patient, "policytest", Now)
		if err != nil {
			return nil, fmt.Errorf("policytest: %s: consent %d: %w", c.Name, i, err)
		}
		if d.ID == "" {
			d.ID = fmt.Sprintf("consent-%d", i)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Check returns a description of how d differs from the case's
// expectation, "" when it matches.
func (c Case) Check(d policy.Decision) string {
	if d.Allow != c.WantAllow {
		return fmt.Sprintf("allow = %v, want %v (rules %v)", d.Allow, c.WantAllow, d.Rules)
	}
	for _, r := range c.WantRules {
		if !contains(d.Rules, r) {
			return fmt.Sprintf("rules %v lack %q", d.Rules, r)
		}
	}
	if len(d.Obligations) != len(c.WantObligations) {
		return fmt.Sprintf("obligations = %v, want %v", d.Obligations, c.WantObligations)
	}
	for _, o := range c.WantObligations {
		if !contains(d.Obligations, o) {
			return fmt.Sprintf("obligations = %v, want %v", d.Obligations, c.WantObligations)
		}
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
