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
	now := r.now()
	d, err := r.Decider.Decide(ctx, policy.Input{
		Action: ActionAuditQuery, Subject: c.Subject, PatientID: f.PatientID, RecordType: "AuditEvent", Now: now,
	})
	if err != nil {
		r.log().Warn("query: policy evaluation failed; denying", "err", err)
	}
	e := audit.Event{
		Time: now, Code: audit.CodeAuditQuery, Action: audit.ActionAuditQuery, Outcome: audit.OutcomeAllow,
		ActorID: c.Subject.ID, ActorRoles: c.Subject.Roles, ActorOrg: c.Subject.Org,
		Application: c.Application, Purpose: c.Subject.Purpose, PatientID: f.PatientID,
		RecordType: "AuditEvent", PolicyRevision: d.Revision, Rules: d.Rules,
		Reason: describeFilter(f), RequestID: c.RequestID,
	}
	if !d.Allow {
		e.Code, e.Outcome = audit.CodeAuditQueryDeny, audit.OutcomeDeny
		e.Reason = strings.Join(d.Reasons, "; ")
		if err := r.appendDetached(ctx, []audit.Event{e}); err != nil {
			return nil, err
		}
		return nil, &DenyError{Reasons: d.Reasons}
	}
	events, err := r.Querier.Query(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("query: audit query: %w", err)
	}
	if err := r.appendDetached(ctx, []audit.Event{e}); err != nil {
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
	add("after", f.After)
	return "audit query " + strings.Join(parts, " ")
}
