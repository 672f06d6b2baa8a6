// Package policy decides every access in the hub with OPA: one decision
// function used by ingest (may this source write?), routing, GraphQL reads
// and explain. Policies are Rego from the rego/ folder, prepared once and
// evaluated many times. Deny by default: an undefined result, an evaluation
// error or a malformed result is a deny.
package policy

import (
	"context"
	"errors"
	"time"

	"github.com/carecrest/hub/consent"
)

// Actions a decision is asked for.
const (
	ActionWrite = "write" // a source system writes records
	ActionRead  = "read"  // a person or application reads records
	ActionRoute = "route" // a subscriber receives routed records
)

// Subject is who asks.
type Subject struct {
	ID               string   `json:"id"`
	Kind             string   `json:"kind"` // user, application, system
	Roles            []string `json:"roles"`
	Org              string   `json:"org,omitempty"`
	Purpose          string   `json:"purpose"` // HL7 v3 ActReason: TREAT, ETREAT, HPAYMT, HOPERAT, ...
	BreakGlassReason string   `json:"break_glass_reason,omitempty"`
}

// Input is everything a decision may depend on.
type Input struct {
	Action       string              `json:"action"`
	Subject      Subject             `json:"subject"`
	PatientID    string              `json:"patient,omitempty"`
	RecordType   string              `json:"record_type"`
	Labels       []string            `json:"labels,omitempty"`
	Consents     []consent.Directive `json:"consents,omitempty"` // directives in force for the patient
	Relationship bool                `json:"relationship"`       // a care relationship exists
	Now          time.Time           `json:"now"`
}

// Decision is the answer.
type Decision struct {
	Allow bool
	// Fields lists the PHI elements that may be disclosed; "*" means all.
	Fields   []string
	Rules    []string // matched rules, for audit and explain
	Consents []string // consent ids that applied
	Reasons  []string // human-readable reasons (no PHI)
	Revision string   // policy revision that decided
}

// AllowsField reports whether element may be disclosed under d.
func (d Decision) AllowsField(element string) bool {
	if !d.Allow {
		return false
	}
	for _, f := range d.Fields {
		if f == "*" || f == element {
			return true
		}
	}
	return false
}

// Decider is the one decision function of the hub.
//
// Contract: Decide never returns Allow together with a non-nil error; on any
// error the returned Decision is a deny naming the revision, and the error
// wraps ErrEvaluation.
type Decider interface {
	Decide(ctx context.Context, in Input) (Decision, error)
}

// ErrEvaluation reports that the policy could not be evaluated (the decision
// is then a deny).
var ErrEvaluation = errors.New("policy: evaluation failed")
