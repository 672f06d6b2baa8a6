package metrics

import "time"

// ObservePolicyDecision records one policy decision for an action
// (policy.ActionWrite, ActionRead, ActionRoute): its result (an error, else
// allow or deny) and how long it took. Decisions are counted, never their
// subjects or resources.
func (m *Metrics) ObservePolicyDecision(action string, allowed bool, err error, d time.Duration) {
	if m == nil {
		return
	}
	action = closed(policyActions, action)
	result := DecisionDeny
	switch {
	case err != nil:
		result = DecisionError
	case allowed:
		result = DecisionAllow
	}
	m.policyDecisions.WithLabelValues(action, result).Inc()
	m.policyDuration.WithLabelValues(action).Observe(d.Seconds())
}

// ObserveAuditAppend records one call that appends audit events (an
// audit.Appender's Append, or a store commit that carries audit events):
// how long it took and whether it failed. Count the appended events with
// AuditEvent once the call has succeeded.
func (m *Metrics) ObserveAuditAppend(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.auditAppend.Observe(d.Seconds())
	if err != nil {
		m.auditFailures.Inc()
	}
}

// AuditEvent counts one audit event durably appended, by its code (e.g.
// CC2000I). Unknown codes count as "other".
func (m *Metrics) AuditEvent(code string) {
	if m == nil {
		return
	}
	m.auditEvents.WithLabelValues(eventCodeLabel(code)).Inc()
}

// ObserveGraphQL records one GraphQL request: its top-level operation (the
// schema field asked for: "patient" or "auditEvents"; the client's
// operation name is never used), its result code (CodeOK, or the API error
// code: BAD_REQUEST, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, UNAVAILABLE) and
// its duration. Anything else counts as "other".
func (m *Metrics) ObserveGraphQL(operation, code string, d time.Duration) {
	if m == nil {
		return
	}
	operation = closed(graphqlOperations, operation)
	m.graphqlRequests.WithLabelValues(operation, closed(graphqlCodes, code)).Inc()
	m.graphqlDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// Redacted counts elements of a record type that a reader requested and
// policy masked (minimum necessary), e.g. Redacted("Patient", 1) for a
// masked telecom.
func (m *Metrics) Redacted(recordType string, elements int) {
	if m == nil || elements <= 0 {
		return
	}
	m.redactions.WithLabelValues(recordTypeLabel(recordType)).Add(float64(elements))
}
