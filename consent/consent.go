// Package consent keeps patients' consent directives and turns them into the
// policy inputs that every decision (ingest, routing, reads) uses.
package consent

import "time"

// Decision of a consent directive's base provision.
const (
	Permit = "permit" // opt-in
	Deny   = "deny"   // opt-out
)

// Directive is the policy-relevant summary of one FHIR Consent version. It
// holds no plaintext PHI: the patient is an enterprise id and actors are
// references or roles.
type Directive struct {
	ID        string    `json:"id"`
	PatientID string    `json:"patient"`
	Status    string    `json:"status"`   // active, inactive, rejected, entered-in-error, draft, proposed
	Decision  string    `json:"decision"` // permit or deny
	Purposes  []string  `json:"purposes,omitempty"`
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
	Recorded  time.Time `json:"recorded"`
	Source    string    `json:"source"`
	// Rules are the directive's provisions flattened for policy (see Rule
	// and Flatten): FromFHIR fills them. A directive without rules (one
	// stored before rules existed, or built by hand) is read as one rule at
	// depth 0 with Decision and Purposes, so that it decides as it always
	// did.
	Rules []Rule `json:"rules,omitempty"`
}

// EffectiveRules returns d.Rules, or for a directive without rules the one
// rule its Decision and Purposes stand for.
func (d Directive) EffectiveRules() []Rule {
	if len(d.Rules) > 0 {
		return d.Rules
	}
	return []Rule{{Path: PathRoot, Decision: d.Decision, Purposes: d.Purposes}}
}

// InForce reports whether d applies at t: active and inside its period.
func (d Directive) InForce(t time.Time) bool {
	if d.Status != "active" {
		return false
	}
	if !d.Start.IsZero() && t.Before(d.Start) {
		return false
	}
	if !d.End.IsZero() && !t.Before(d.End) {
		return false
	}
	return true
}

// InForce returns the directives of ds that apply at t.
func InForce(ds []Directive, t time.Time) []Directive {
	var out []Directive
	for _, d := range ds {
		if d.InForce(t) {
			out = append(out, d)
		}
	}
	return out
}
