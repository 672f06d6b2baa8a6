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
	// Refs are FHIR references that identify the subject
	// ("Practitioner/123", "PractitionerRole/7"); consent actors match
	// them, and Org ("Organization/f001"; a bare id matches
	// "Organization/"+id too).
	Refs []string `json:"refs,omitempty"`
}

// BreakGlass is a break-the-glass declaration: purpose ETREAT with a
// reason opens a session; Started is when the session opened (zero for a
// session opening now). A session older than the policy's window
// (break_glass_window_seconds, default 4 h) no longer grants: the caller
// must declare again.
type BreakGlass struct {
	Reason  string    `json:"reason"`
	Started time.Time `json:"started,omitzero"`
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

	// BreakGlass declares break-the-glass (with Subject.Purpose ETREAT).
	// Subject.BreakGlassReason alone still works: a session opening now.
	BreakGlass *BreakGlass `json:"break_glass,omitempty"`
	// Profile selects the jurisdiction profile ("hipaa", "gdpr"); empty
	// means the engine's Config.Profile.
	Profile string `json:"profile,omitempty"`
	// What the record is, for consent provisions that name codes, data or
	// a data period. nil (zero) means unknown: a deny provision with such a
	// condition then applies and a permit provision does not (fail
	// closed). Codes are "system|code"; DataRefs FHIR references of the
	// record and of records it relates to ("Task/example3").
	Codes    []string  `json:"codes,omitzero"`
	DataRefs []string  `json:"data_refs,omitzero"`
	DataTime time.Time `json:"data_time,omitzero"`
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
	// Mask lists the catalogued PHI elements of the record type that may
	// not be disclosed (all of them on a deny).
	Mask []string
	// Obligations the caller must meet when it discloses, such as
	// ObligationPart2Notice.
	Obligations []string
}

// Obligations a decision may carry.
const (
	// ObligationPart2Notice: every disclosure of 42 CFR Part 2 data
	// (label ETH) carries the redisclosure notice of 42 CFR 2.32.
	ObligationPart2Notice = "part2-redisclosure-notice"
	// ObligationBreakGlassReview: a break-the-glass access is reviewed
	// (audited with its own code and raising an alert).
	ObligationBreakGlassReview = "break-glass-review"
)

// Rule ids callers act on.
const (
	RuleBreakGlass        = "break-glass"             // break-the-glass granted this access
	RuleBreakGlassExpired = "break-glass.expired"     // the session is older than the window
	RulePart2Emergency    = "part2.medical-emergency" // 42 CFR 2.51 disclosure
	RuleConsentOptOut     = "consent.opt-out"         // a deny provision matched
	RuleConsentPermit     = "consent.permit"          // a permit provision matched
	RuleRelationship      = "read.relationship-required"
)

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
