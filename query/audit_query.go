package query

import (
	"context"
	"fmt"
	"strings"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/policy"
)

// ActionAuditQuery is the policy action for reading the audit log.
const ActionAuditQuery = "audit.query"

// AuditEvents answers a privacy officer's or security analyst's audit query.
// The query is itself decided by policy and audited (fail closed) before any
// event is returned.
func (r *Reader) AuditEvents(ctx context.Context, c Caller, f audit.Filter) ([]audit.Event, error) {
	var events []audit.Event
	err := r.Govern(ctx, c, Governed{
		Action: ActionAuditQuery, Code: audit.CodeAuditQuery, DenyCode: audit.CodeAuditQueryDeny,
		PatientID: f.PatientID, Describe: describeFilter(f),
	}, func(ctx context.Context) error {
		var err error
		if events, err = r.Querier.Query(ctx, f); err != nil {
			return fmt.Errorf("query: audit query: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// describeFilter records what was asked, for the audit trail of audit
// queries. Filter values are enterprise ids and actor ids, not PHI.
func describeFilter(f audit.Filter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("patient", f.PatientID)
	add("actor", f.ActorID)
	add("action", f.Action)
	add("outcome", f.Outcome)
	if !f.From.IsZero() {
		add("from", f.From.Format("2006-01-02T15:04:05Z07:00"))
	}
	if !f.To.IsZero() {
		add("to", f.To.Format("2006-01-02T15:04:05Z07:00"))
	}
	add("purpose", f.Purpose)
	add("recordType", f.RecordType)
	add("application", f.Application)
	add("codes", strings.Join(f.Codes, ","))
	add("after", f.After)
	return "audit query " + strings.Join(parts, " ")
}

// Governed describes a governance action (an audit query, a report, a proof,
// an export, a review finding, an alert change, an erasure): which policy
// action decides it and how it is audited.
type Governed struct {
	Action     string // policy action, e.g. "audit.query", "report.generate"
	Code       string // audit code when allowed
	DenyCode   string // audit code when denied
	PatientID  string // patient concerned, if any (enterprise id)
	RecordType string // what is read or changed; default "AuditEvent"
	Describe   string // what was asked, for the audit trail (no PHI)
	RecordIDs  []string
}

// Govern decides g for c by policy and audits it. Denied: the denial is
// audited and a DenyError returned; fn does not run. Allowed: fn runs, and
// its result may be released only if Govern returns nil, which it does only
// after the allow event is durably audited (fail closed). fn must not
// release anything itself; actions that change state must make their own
// change durable together with (or after) an audit event of their own.
func (r *Reader) Govern(ctx context.Context, c Caller, g Governed, fn func(ctx context.Context) error) error {
	now := r.now()
	if g.RecordType == "" {
		g.RecordType = "AuditEvent"
	}
	d, err := r.Decider.Decide(ctx, policy.Input{
		Action: g.Action, Subject: c.Subject, PatientID: g.PatientID, RecordType: g.RecordType, Now: now,
	})
	if err != nil {
		r.log().Warn("query: policy evaluation failed; denying", "action", g.Action, "err", err)
	}
	e := audit.Event{
		Time: now, Code: g.Code, Action: g.Action, Outcome: audit.OutcomeAllow,
		ActorID: c.Subject.ID, ActorRoles: c.Subject.Roles, ActorOrg: c.Subject.Org,
		Application: c.Application, Purpose: c.Subject.Purpose, PatientID: g.PatientID,
		RecordType: g.RecordType, RecordIDs: g.RecordIDs, PolicyRevision: d.Revision, Rules: d.Rules,
		Reason: g.Describe, RequestID: c.RequestID,
	}
	if !d.Allow {
		e.Code, e.Outcome = g.DenyCode, audit.OutcomeDeny
		e.Reason = strings.TrimSpace(g.Describe + ": " + strings.Join(d.Reasons, "; "))
		if err := r.appendDetached(ctx, []audit.Event{e}); err != nil {
			return err
		}
		return &DenyError{Reasons: d.Reasons}
	}
	if err := fn(ctx); err != nil {
		return err
	}
	return r.appendDetached(ctx, []audit.Event{e})
}

// AppendAudit durably appends events with a bounded context that the
// caller's cancellation does not cut short; ErrAudit when it cannot.
func (r *Reader) AppendAudit(ctx context.Context, events ...audit.Event) error {
	return r.appendDetached(ctx, events)
}
