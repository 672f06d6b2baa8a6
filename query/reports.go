package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/report"
	"github.com/graphql-go/graphql"
)

// Governance actions of the privacy office (rego/data.json
// governance_actions).
const (
	ActionReportGenerate = "report.generate"
	ActionAuditReview    = "audit.review"
)

// Reports serves the privacy office and the security team: the paged audit
// log, audit exports, compliance reports and the break-glass review queue.
// Every operation is decided by policy and audited through Reader.Govern
// before anything is released (fail closed).
type Reports struct {
	Reader *Reader
	// Processing holds the compliance configuration, the policy's tables
	// and the configured sources and subscribers.
	Processing report.ProcessingInputs
	// Observer names this hub instance in FHIR AuditEvent exports.
	Observer report.Observer
}

func (rp *Reports) cfg() report.Config { return rp.Processing.Config }

// AuditPage returns up to first events f selects after the cursor f.After
// (an event id), the cursor of the last one and whether more follow. The
// query is governed and audited as an audit query.
func (rp *Reports) AuditPage(ctx context.Context, c Caller, f audit.Filter, first int) ([]audit.Event, string, bool, error) {
	f.Limit = first + 1
	events, err := rp.Reader.AuditEvents(ctx, c, f)
	if err != nil {
		return nil, "", false, err
	}
	more := len(events) > first
	if more {
		events = events[:first]
	}
	end := ""
	if len(events) > 0 {
		end = report.EncodeCursor(events[len(events)-1].ID)
	}
	return events, end, more, nil
}

// Export streams every event f selects to enc, oldest first, and closes
// it. The export is decided by policy (audit.query) and audited
// (CodeAuditExport) before the first event is written; it returns how
// many events were written.
func (rp *Reports) Export(ctx context.Context, c Caller, f audit.Filter, format report.Format, enc report.Encoder) (int, error) {
	err := rp.Reader.Govern(ctx, c, Governed{
		Action: ActionAuditQuery, Code: audit.CodeAuditExport, DenyCode: audit.CodeAuditQueryDeny,
		PatientID: f.PatientID, Describe: "audit export format=" + string(format) + " " + strings.TrimPrefix(describeFilter(f), "audit query "),
	}, func(context.Context) error { return nil })
	if err != nil {
		return 0, err
	}
	return report.Export(ctx, rp.Reader.Querier, f, enc)
}

// report runs a report under report.generate, audited as CodeReport.
func (rp *Reports) report(ctx context.Context, c Caller, patientID, describe string, fn func(ctx context.Context) error) error {
	return rp.Reader.Govern(ctx, c, Governed{
		Action: ActionReportGenerate, Code: audit.CodeReport, DenyCode: audit.CodeReportDeny,
		PatientID: patientID, Describe: describe,
	}, fn)
}

// Accounting produces a patient's HIPAA accounting of disclosures over
// [from, to) (zero: the six years before now, the cap).
func (rp *Reports) Accounting(ctx context.Context, c Caller, patientID string, from, to time.Time) (*report.Accounting, error) {
	now := rp.Reader.now()
	w, err := report.AccountingWindow(from, to, now)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	var out *report.Accounting
	err = rp.report(ctx, c, patientID, "accounting of disclosures patient="+patientID+window(w), func(ctx context.Context) error {
		var err error
		q, cs, err := rp.person(ctx, patientID)
		if err != nil {
			return err
		}
		out, err = report.AccountingOf(ctx, q, cs, rp.cfg(), rp.Processing.Policy, patientID, w, now)
		return err
	})
	return out, err
}

// AccessReport lists every use and disclosure of a patient's record over
// [from, to) (zero from: six years back; zero to: now).
func (rp *Reports) AccessReport(ctx context.Context, c Caller, patientID string, from, to time.Time) (*report.AccessReport, error) {
	now := rp.Reader.now()
	w, err := report.AccountingWindow(from, to, now)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	if !from.IsZero() { // the access report is not capped at six years
		w.From, w.Capped = from.UTC(), false
	}
	var out *report.AccessReport
	err = rp.report(ctx, c, patientID, "access report patient="+patientID+window(w), func(ctx context.Context) error {
		var err error
		q, _, err := rp.person(ctx, patientID)
		if err != nil {
			return err
		}
		out, err = report.AccessReportOf(ctx, q, rp.cfg(), patientID, w, now)
		return err
	})
	return out, err
}

// SubjectAccess produces the GDPR Article 15 report of a data subject.
func (rp *Reports) SubjectAccess(ctx context.Context, c Caller, patientID string) (*report.SubjectAccess, error) {
	var out *report.SubjectAccess
	err := rp.report(ctx, c, patientID, "gdpr article 15 report patient="+patientID, func(ctx context.Context) error {
		var err error
		q, _, err := rp.person(ctx, patientID)
		if err != nil {
			return err
		}
		out, err = report.SubjectAccessOf(ctx, q, rp.cfg(), rp.Processing.Policy, patientID, rp.Reader.now())
		return err
	})
	return out, err
}

// ProcessingRecord produces the GDPR Article 30 record of processing.
func (rp *Reports) ProcessingRecord(ctx context.Context, c Caller) (*report.ProcessingRecord, error) {
	var out *report.ProcessingRecord
	err := rp.report(ctx, c, "", "gdpr article 30 record of processing", func(context.Context) error {
		out = report.ProcessingRecordOf(rp.Processing, rp.Reader.now())
		return nil
	})
	return out, err
}

// BreakGlassQueue lists the unreviewed break-glass sessions in [from, to)
// (zero from: 365 days back). It is governed by audit.review and audited
// as an audit query.
func (rp *Reports) BreakGlassQueue(ctx context.Context, c Caller, from, to time.Time) ([]report.Session, error) {
	now := rp.Reader.now()
	if from.IsZero() {
		from = now.AddDate(-1, 0, 0)
	}
	var out []report.Session
	err := rp.Reader.Govern(ctx, c, Governed{
		Action: ActionAuditReview, Code: audit.CodeAuditQuery, DenyCode: audit.CodeAuditQueryDeny,
		Describe: "break-glass review queue" + window(report.Window{From: from, To: to}),
	}, func(ctx context.Context) error {
		var err error
		out, err = report.Queue(ctx, rp.Reader.Querier, rp.cfg(), from, to)
		return err
	})
	return out, err
}

// Review is a recorded break-glass review finding.
type Review struct {
	Session  report.Session
	Finding  report.Finding
	Reviewer string
	Time     time.Time
}

// ReviewBreakGlass records a reviewer's finding on an unreviewed session.
// The finding is the audit event itself (CodeBreakGlassReview, RecordIDs
// the session's break-glass events, Reason the finding and its category
// from the fixed lists; no free text), so the session leaves the queue
// exactly when the finding is durable. Reviewing one's own session is
// refused, and the refusal audited.
func (rp *Reports) ReviewBreakGlass(ctx context.Context, c Caller, sessionID string, f report.Finding) (*Review, error) {
	if err := f.Validate(); err != nil {
		return nil, badRequest(err.Error())
	}
	// Found before the decision, released only after it: an unauthorised
	// caller learns nothing about the session, not even that it exists.
	s, findErr := report.FindSession(ctx, rp.Reader.Querier, rp.cfg(), sessionID)
	if findErr != nil && !errors.Is(findErr, report.ErrNoSession) {
		return nil, findErr
	}
	g := Governed{
		Action: ActionAuditReview, Code: audit.CodeBreakGlassReview, DenyCode: audit.CodeAuditQueryDeny,
		PatientID: s.PatientID, RecordIDs: s.EventIDs, Describe: report.ReviewReason(sessionID, f),
	}
	err := rp.Reader.Govern(ctx, c, g, func(ctx context.Context) error {
		if findErr != nil {
			return &APIError{Code: "NOT_FOUND", Message: report.ErrNoSession.Error()}
		}
		if s.Actor == c.Subject.ID {
			e := audit.Event{
				Time: rp.Reader.now(), Code: audit.CodeAuditQueryDeny, Action: ActionAuditReview, Outcome: audit.OutcomeDeny,
				ActorID: c.Subject.ID, ActorRoles: c.Subject.Roles, ActorOrg: c.Subject.Org, Application: c.Application,
				Purpose: c.Subject.Purpose, PatientID: s.PatientID, RecordType: "AuditEvent", RecordIDs: s.EventIDs,
				Reason: g.Describe + ": self-review refused", RequestID: c.RequestID,
			}
			if err := rp.Reader.AppendAudit(ctx, e); err != nil {
				return err
			}
			return &DenyError{Reasons: []string{"a reviewer may not review their own break-glass session"}}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Review{Session: s, Finding: f, Reviewer: c.Subject.ID, Time: rp.Reader.now()}, nil
}

func window(w report.Window) string {
	s := ""
	if !w.From.IsZero() {
		s += " from=" + w.From.UTC().Format(time.RFC3339)
	}
	if !w.To.IsZero() {
		s += " to=" + w.To.UTC().Format(time.RFC3339)
	}
	return s
}

// --- filters ------------------------------------------------------------

// FilterFrom builds an audit filter from GraphQL AuditFilter fields or HTTP
// query parameters (the same names): patient or identifier ("system|value",
// resolved through the patient index, audited), actor, action, outcome,
// codes, purpose, recordType, application, from, to (RFC 3339), breakGlass
// and denied (shortcuts for the break-glass code and the deny outcome).
func (rp *Reports) FilterFrom(ctx context.Context, c Caller, m map[string]any) (audit.Filter, error) {
	var f audit.Filter
	s := func(k string) string { v, _ := m[k].(string); return strings.TrimSpace(v) }
	f.PatientID, f.ActorID, f.Action, f.Outcome = s("patient"), s("actor"), s("action"), s("outcome")
	f.Purpose, f.RecordType, f.Application = s("purpose"), s("recordType"), s("application")
	codes, _ := m["codes"].([]any)
	for _, v := range codes {
		if code, _ := v.(string); code != "" {
			f.Codes = append(f.Codes, code)
		}
	}
	if b, _ := m["breakGlass"].(bool); b {
		f.Codes = append(f.Codes, audit.CodeBreakGlass)
	}
	if b, _ := m["denied"].(bool); b {
		if f.Outcome != "" && f.Outcome != audit.OutcomeDeny {
			return f, badRequest("denied conflicts with outcome")
		}
		f.Outcome = audit.OutcomeDeny
	}
	for _, tv := range []struct {
		arg string
		dst *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := s(tv.arg); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, badRequest(tv.arg + " must be an RFC 3339 time")
			}
			*tv.dst = t
		}
	}
	if f.Outcome != "" && f.Outcome != audit.OutcomeAllow && f.Outcome != audit.OutcomeDeny && f.Outcome != audit.OutcomeError {
		return f, badRequest("outcome must be allow, deny or error")
	}
	pid, err := rp.patientArg(ctx, c, f.PatientID, s("identifier"), true)
	if err != nil {
		return f, err
	}
	f.PatientID = pid
	return f, nil
}

// patientArg resolves a patient given by enterprise id or by identifier
// ("system|value"); with optional, neither is fine.
func (rp *Reports) patientArg(ctx context.Context, c Caller, id, ident string, optional bool) (string, error) {
	switch {
	case id != "" && ident != "":
		return "", badRequest("give at most one of patient or identifier")
	case ident != "":
		return rp.Reader.LookupIdentifier(ctx, c, ident)
	case id == "" && !optional:
		return "", badRequest("a patient is required: give patient (enterprise id) or identifier (system|value)")
	case id != "":
		if err := ValidPatientID(id); err != nil {
			return "", err
		}
	}
	return id, nil
}

// --- GraphQL --------------------------------------------------------------

// Extension is the GraphQL of the privacy office: auditLog (cursor pages),
// accountingOfDisclosures, accessReport, gdprSubjectAccess,
// recordOfProcessing, breakGlassQueue and the mutation reviewBreakGlass.
func (rp *Reports) Extension() Extension {
	purposeArg := &graphql.ArgumentConfig{Type: graphql.String, Description: "Purpose of use (default: the token's first)."}
	patientArgs := func() graphql.FieldConfigArgument {
		return graphql.FieldConfigArgument{
			"patient":    {Type: graphql.ID, Description: "Enterprise patient id."},
			"identifier": {Type: graphql.String, Description: "Patient identifier as system|value (resolved through the patient index; audited)."},
			"from":       {Type: graphql.String, Description: "RFC 3339, inclusive (default: six years back)."},
			"to":         {Type: graphql.String, Description: "RFC 3339, exclusive (default: now)."},
			"purpose":    purposeArg,
		}
	}
	return Extension{
		Query: graphql.Fields{
			"auditLog": {
				Type: graphql.NewNonNull(auditPageType),
				Description: "Audit events selected by filter, oldest first, a page at a time (privacy officers, security analysts). " +
					"Each page is itself an audited audit query.",
				Args: graphql.FieldConfigArgument{
					"filter":  {Type: auditFilterInput},
					"first":   {Type: graphql.Int, Description: "Page size, 1 to 1000 (default 100)."},
					"after":   {Type: graphql.String, Description: "pageInfo.endCursor of the previous page."},
					"purpose": purposeArg,
				},
				Resolve: rp.resolveAuditLog,
			},
			"accountingOfDisclosures": {
				Type:        graphql.NewNonNull(accountingType),
				Description: "HIPAA accounting of disclosures (45 CFR 164.528) for a patient, up to six years back; report.generate, audited.",
				Args:        patientArgs(),
				Resolve: rp.patientReport(func(ctx context.Context, c Caller, pid string, from, to time.Time) (any, error) {
					return rp.Accounting(ctx, c, pid, from, to)
				}),
			},
			"accessReport": {
				Type:        graphql.NewNonNull(accessReportType),
				Description: "Every use and disclosure of a patient's record, workforce reads included, denials and break-the-glass marked.",
				Args:        patientArgs(),
				Resolve: rp.patientReport(func(ctx context.Context, c Caller, pid string, from, to time.Time) (any, error) {
					return rp.AccessReport(ctx, c, pid, from, to)
				}),
			},
			"gdprSubjectAccess": {
				Type:        graphql.NewNonNull(subjectAccessType),
				Description: "GDPR Article 15 report for a data subject: purposes, categories, recipients, retention, sources, automated decisions.",
				Args:        patientArgs(),
				Resolve: rp.patientReport(func(ctx context.Context, c Caller, pid string, _, _ time.Time) (any, error) {
					return rp.SubjectAccess(ctx, c, pid)
				}),
			},
			"recordOfProcessing": {
				Type:        graphql.NewNonNull(processingRecordType),
				Description: "GDPR Article 30 record of processing activities, generated from configuration and policy.",
				Args:        graphql.FieldConfigArgument{"purpose": purposeArg},
				Resolve: func(p graphql.ResolveParams) (any, error) {
					c, err := callerFor(p.Context, p.Args)
					if err != nil {
						return nil, err
					}
					rec, err := rp.ProcessingRecord(p.Context, c)
					if err != nil {
						return nil, APIErrorOf(err)
					}
					return withText(rec, rec.Text())
				},
			},
			"breakGlassQueue": {
				Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(breakGlassSessionType))),
				Description: "Break-the-glass sessions awaiting review, oldest first (audit.review).",
				Args: graphql.FieldConfigArgument{
					"from":    {Type: graphql.String, Description: "RFC 3339 (default: one year back)."},
					"to":      {Type: graphql.String, Description: "RFC 3339, exclusive."},
					"purpose": purposeArg,
				},
				Resolve: func(p graphql.ResolveParams) (any, error) {
					c, err := callerFor(p.Context, p.Args)
					if err != nil {
						return nil, err
					}
					from, to, err := timeArgs(p.Args)
					if err != nil {
						return nil, err
					}
					q, err := rp.BreakGlassQueue(p.Context, c, from, to)
					if err != nil {
						return nil, APIErrorOf(err)
					}
					return asJSON(q)
				},
			},
		},
		Mutation: graphql.Fields{
			"reviewBreakGlass": {
				Type:        graphql.NewNonNull(breakGlassReviewType),
				Description: "Record a review finding on a break-glass session (audit.review); audited as CC4200I. No free text is stored.",
				Args: graphql.FieldConfigArgument{
					"session":  {Type: graphql.NewNonNull(graphql.ID), Description: "Session id from breakGlassQueue."},
					"finding":  {Type: graphql.NewNonNull(graphql.String), Description: "justified or unjustified."},
					"category": {Type: graphql.NewNonNull(graphql.String), Description: "One of the fixed categories of the finding."},
					"purpose":  purposeArg,
				},
				Resolve: func(p graphql.ResolveParams) (any, error) {
					c, err := callerFor(p.Context, p.Args)
					if err != nil {
						return nil, err
					}
					sid, _ := p.Args["session"].(string)
					f := report.Finding{}
					f.Finding, _ = p.Args["finding"].(string)
					f.Category, _ = p.Args["category"].(string)
					rv, err := rp.ReviewBreakGlass(p.Context, c, sid, f)
					if err != nil {
						return nil, APIErrorOf(err)
					}
					return map[string]any{
						"session": rv.Session.ID, "finding": rv.Finding.Finding, "category": rv.Finding.Category,
						"reviewer": rv.Reviewer, "patient": rv.Session.PatientID, "actor": rv.Session.Actor,
						"eventIds": rv.Session.EventIDs, "recorded": rv.Time.Format(time.RFC3339Nano),
					}, nil
				},
			},
		},
	}
}

func (rp *Reports) resolveAuditLog(p graphql.ResolveParams) (any, error) {
	c, err := callerFor(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	first := 100
	if n, ok := p.Args["first"].(int); ok {
		if n < 1 || n > 1000 {
			return nil, badRequest("first must be between 1 and 1000")
		}
		first = n
	}
	after, _ := p.Args["after"].(string)
	cursor, err := report.DecodeCursor(after)
	if err != nil {
		return nil, badRequest("after is not a cursor of this API")
	}
	m, _ := p.Args["filter"].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	f, err := rp.FilterFrom(p.Context, c, m)
	if err != nil {
		return nil, APIErrorOf(err)
	}
	f.After = cursor
	events, end, more, err := rp.AuditPage(p.Context, c, f, first)
	if err != nil {
		return nil, APIErrorOf(err)
	}
	rows := make([]map[string]any, len(events))
	for i, e := range events {
		rows[i] = auditEventSource(e)
	}
	if end == "" {
		end = after
	}
	return map[string]any{"events": rows, "pageInfo": map[string]any{"endCursor": end, "hasNextPage": more}}, nil
}

// patientReport resolves the patient and window arguments, then run.
func (rp *Reports) patientReport(run func(ctx context.Context, c Caller, pid string, from, to time.Time) (any, error)) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) {
		c, err := callerFor(p.Context, p.Args)
		if err != nil {
			return nil, err
		}
		from, to, err := timeArgs(p.Args)
		if err != nil {
			return nil, err
		}
		id, _ := p.Args["patient"].(string)
		ident, _ := p.Args["identifier"].(string)
		pid, err := rp.patientArg(p.Context, c, id, ident, false)
		if err != nil {
			return nil, APIErrorOf(err)
		}
		rep, err := run(p.Context, c, pid, from, to)
		if err != nil {
			return nil, APIErrorOf(err)
		}
		t, ok := rep.(interface{ Text() string })
		if !ok {
			return asJSON(rep)
		}
		return withText(rep, t.Text())
	}
}

func timeArgs(args map[string]any) (from, to time.Time, err error) {
	for _, tv := range []struct {
		arg string
		dst *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s, _ := args[tv.arg].(string); s != "" {
			t, perr := time.Parse(time.RFC3339Nano, s)
			if perr != nil {
				return from, to, badRequest(tv.arg + " must be an RFC 3339 time")
			}
			*tv.dst = t
		}
	}
	return from, to, nil
}

// asJSON turns a report into the GraphQL source: its JSON form (field names
// from the json tags, times as RFC 3339).
func asJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, APIErrorOf(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, APIErrorOf(err)
	}
	return out, nil
}

func withText(v any, text string) (any, error) {
	out, err := asJSON(v)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	if m == nil {
		return nil, APIErrorOf(errors.New("report is not an object"))
	}
	m["text"] = text
	if ex, ok := m["excluded"].(map[string]any); ok { // accounting: map → list
		var list []map[string]any
		for _, k := range sortedMapKeys(ex) {
			list = append(list, map[string]any{"reason": k, "count": ex[k]})
		}
		m["excluded"] = list
	}
	return m, nil
}

func sortedMapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// auditEventSource is the GraphQL AuditEvent source of an event.
func auditEventSource(e audit.Event) map[string]any {
	r := report.RowOf(e)
	return map[string]any{
		"id": r.ID, "time": r.Time, "code": r.Code, "action": r.Action, "outcome": r.Outcome, "actor": r.Actor,
		"roles": r.Roles, "organization": r.Organization, "application": r.Application, "purpose": r.Purpose,
		"patient": r.Patient, "recordType": r.RecordType, "recordIds": r.RecordIDs, "disclosed": r.Disclosed,
		"masked": r.Masked, "policyRevision": r.PolicyRevision, "rules": r.Rules, "consents": r.Consents,
		"reason": r.Reason, "requestId": r.RequestID, "shard": r.Shard, "seq": float64(r.Seq), "hash": r.Hash,
	}
}

// GraphQL types of the reports. Names are prefixed so that other
// extensions' types cannot collide with them.
var (
	nnString  = graphql.NewNonNull(graphql.String)
	nnStrings = graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String)))
	nnInt     = graphql.NewNonNull(graphql.Int)
	nnBool    = graphql.NewNonNull(graphql.Boolean)
	textField = &graphql.Field{Type: nnString, Description: "The report as human-readable text."}

	auditFilterInput = graphql.NewInputObject(graphql.InputObjectConfig{
		Name: "AuditFilter", Description: "Selects audit events; unset fields do not filter.",
		Fields: graphql.InputObjectConfigFieldMap{
			"patient":     {Type: graphql.ID, Description: "Enterprise patient id."},
			"identifier":  {Type: graphql.String, Description: "Patient identifier system|value (resolved through the patient index, audited)."},
			"actor":       {Type: graphql.String, Description: "User, application or system id."},
			"action":      {Type: graphql.String},
			"outcome":     {Type: graphql.String, Description: "allow, deny or error."},
			"codes":       {Type: graphql.NewList(graphql.NewNonNull(graphql.String)), Description: "Any of these event codes."},
			"purpose":     {Type: graphql.String, Description: "Purpose of use of the events."},
			"recordType":  {Type: graphql.String},
			"application": {Type: graphql.String},
			"from":        {Type: graphql.String, Description: "RFC 3339, inclusive."},
			"to":          {Type: graphql.String, Description: "RFC 3339, exclusive."},
			"breakGlass":  {Type: graphql.Boolean, Description: "Only break-the-glass reads (CC2002W)."},
			"denied":      {Type: graphql.Boolean, Description: "Only denials."},
		},
	})
	auditPageInfoType = obj("AuditPageInfo", "Cursor of an audit page.", graphql.Fields{
		"endCursor":   {Type: graphql.String, Description: "Opaque cursor: pass as after for the next page."},
		"hasNextPage": {Type: nnBool},
	})
	auditPageType = obj("AuditPage", "A page of audit events.", graphql.Fields{
		"events":   {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(auditEventType)))},
		"pageInfo": {Type: graphql.NewNonNull(auditPageInfoType)},
	})
	reportWindowType = obj("ReportWindow", "A report's period, [from, to).", graphql.Fields{
		"from": {Type: nnString, Description: "RFC 3339."}, "to": {Type: nnString, Description: "RFC 3339."},
		"capped": {Type: nnBool, Description: "from was moved forward to the six-year limit."},
	})
	disclosureRecipientType = obj("DisclosureRecipient", "Who received a disclosure.", graphql.Fields{
		"id": {Type: nnString}, "org": str(""), "application": str(""), "roles": {Type: nnStrings},
	})
	disclosureType = obj("Disclosure", "One disclosure in an accounting (45 CFR 164.528(b)(2)).", graphql.Fields{
		"eventId": {Type: nnString, Description: "The audit event."}, "date": {Type: nnString},
		"recipient":   {Type: graphql.NewNonNull(disclosureRecipientType)},
		"description": {Type: nnString, Description: "Record type, count and element names disclosed."},
		"recordType":  str(""), "recordIds": {Type: nnStrings}, "elements": {Type: nnStrings},
		"purpose": str(""), "purposeDisplay": str(""), "code": str(""),
	})
	excludedType = obj("AccountingExclusion", "Disclosures left out of an accounting, by reason.", graphql.Fields{
		"reason": {Type: nnString}, "count": {Type: nnInt},
	})
	accountingType = obj("Accounting", "HIPAA accounting of disclosures.", graphql.Fields{
		"patient": {Type: nnString}, "window": {Type: graphql.NewNonNull(reportWindowType)},
		"generated":   {Type: nnString},
		"disclosures": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(disclosureType)))},
		"excluded":    {Type: graphql.NewList(graphql.NewNonNull(excludedType))},
		"text":        textField,
	})
	accessType = obj("AccessEntry", "One use, disclosure or attempt.", graphql.Fields{
		"eventId": {Type: nnString}, "time": {Type: nnString}, "code": {Type: nnString},
		"kind":    {Type: nnString, Description: "use (workforce), disclosure (external party) or attempt (nothing disclosed)."},
		"outcome": {Type: nnString}, "denied": {Type: nnBool}, "breakGlass": {Type: nnBool},
		"actor": {Type: nnString}, "roles": {Type: nnStrings}, "org": str(""), "application": str(""),
		"purpose": str(""), "recordType": str(""), "recordIds": {Type: nnStrings}, "disclosed": {Type: nnStrings},
		"masked": {Type: nnStrings}, "reason": str(""),
	})
	accessReportType = obj("AccessReport", "Every use and disclosure of a patient's record.", graphql.Fields{
		"patient": {Type: nnString}, "window": {Type: graphql.NewNonNull(reportWindowType)}, "generated": {Type: nnString},
		"entries": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(accessType)))},
		"uses":    {Type: nnInt}, "disclosures": {Type: nnInt}, "denials": {Type: nnInt}, "breakGlass": {Type: nnInt},
		"failures": {Type: nnInt}, "text": textField,
	})
	purposeUseType = obj("PurposeUse", "A purpose the data was used for.", graphql.Fields{
		"code": {Type: nnString}, "display": {Type: nnString}, "accesses": {Type: nnInt},
	})
	dataCategoryType = obj("PersonalDataCategory", "A category of personal data.", graphql.Fields{
		"class": {Type: nnString}, "recordTypes": {Type: nnStrings},
	})
	subjectRecipientType = obj("SubjectRecipient", "A recipient or category of recipients.", graphql.Fields{
		"name": {Type: nnString}, "kind": {Type: nnString, Description: "external or workforce."}, "org": str(""),
		"purposes": {Type: nnStrings},
	})
	retentionType = obj("RetentionPeriods", "Retention periods.", graphql.Fields{
		"records": {Type: nnString}, "audit": {Type: nnString},
	})
	subjectAccessType = obj("SubjectAccessReport", "GDPR Article 15 report.", graphql.Fields{
		"patient": {Type: nnString}, "controller": {Type: nnString}, "generated": {Type: nnString},
		"purposes":                {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(purposeUseType)))},
		"categories":              {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(dataCategoryType)))},
		"recipients":              {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(subjectRecipientType)))},
		"retention":               {Type: graphql.NewNonNull(retentionType)},
		"sources":                 {Type: nnStrings},
		"automatedDecisionMaking": {Type: nnString},
		"text":                    textField,
	})
	processingPurposeType = obj("ProcessingPurpose", "A purpose of processing.", graphql.Fields{
		"code": {Type: nnString}, "display": {Type: nnString}, "breakGlass": {Type: nnBool},
		"roles": {Type: nnStrings}, "recipients": {Type: nnStrings},
	})
	processingSourceType = obj("ProcessingSource", "A source system.", graphql.Fields{
		"name": {Type: nnString}, "recordTypes": {Type: nnStrings},
	})
	processingRecipientType = obj("ProcessingRecipient", "A subscriber records are disclosed to.", graphql.Fields{
		"name": {Type: nnString}, "kind": str(""), "org": str(""), "purpose": str(""),
		"recordTypes": {Type: nnStrings}, "external": {Type: nnBool},
	})
	processingRoleType = obj("ProcessingRole", "A policy role.", graphql.Fields{
		"name": {Type: nnString}, "kinds": {Type: nnStrings}, "purposes": {Type: nnStrings},
		"breakGlass": {Type: nnBool}, "governance": {Type: nnStrings},
	})
	processingRecordType = obj("ProcessingRecord", "GDPR Article 30 record of processing activities.", graphql.Fields{
		"controller": {Type: nnString}, "generated": {Type: nnString},
		"purposes":       {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(processingPurposeType)))},
		"dataSubjects":   {Type: nnStrings},
		"dataCategories": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(dataCategoryType)))},
		"sources":        {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(processingSourceType)))},
		"recipients":     {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(processingRecipientType)))},
		"roles":          {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(processingRoleType)))},
		"transfers":      {Type: nnString},
		"retention":      {Type: graphql.NewNonNull(retentionType)},
		"security":       {Type: nnStrings},
		"text":           textField,
	})
	breakGlassSessionType = obj("BreakGlassSession", "Break-the-glass reads of one patient by one actor, awaiting review.", graphql.Fields{
		"id":    {Type: graphql.NewNonNull(graphql.ID), Description: "The id of its first event."},
		"actor": {Type: nnString}, "roles": {Type: nnStrings}, "org": str(""), "application": str(""),
		"patient": {Type: nnString}, "start": {Type: nnString}, "end": {Type: nnString},
		"eventIds": {Type: nnStrings}, "recordTypes": {Type: nnStrings}, "records": {Type: nnInt},
		"reasons": {Type: nnStrings, Description: "Break-the-glass reasons given."},
	})
	breakGlassReviewType = obj("BreakGlassReview", "A recorded review finding.", graphql.Fields{
		"session": {Type: graphql.NewNonNull(graphql.ID)}, "finding": {Type: nnString}, "category": {Type: nnString},
		"reviewer": {Type: nnString}, "patient": {Type: nnString}, "actor": {Type: nnString},
		"eventIds": {Type: nnStrings}, "recorded": {Type: nnString},
	})
)

// --- HTTP export --------------------------------------------------------------

// ExportHandler serves GET /audit/export?format=csv|ndjson|fhir|fhir-ndjson
// with the AuditFilter fields as query parameters (codes repeated or
// comma-separated; purposeOfUse chooses the caller's purpose of use). The
// caller authenticates with a bearer token, as for /graphql. The export is
// governed and audited (CodeAuditExport) before the first byte; events
// stream page by page. If the stream fails midway the connection is
// aborted, so a client never mistakes a cut export for a complete one.
func (rp *Reports) ExportHandler(auth Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reqID := req.Header.Get("X-Request-Id")
		if reqID == "" || len(reqID) > 128 {
			reqID = audit.NewID(time.Now())
		}
		w.Header().Set("X-Request-Id", reqID)
		w.Header().Set("Cache-Control", "no-store")
		if req.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeErr(w, http.StatusMethodNotAllowed, "BAD_REQUEST", "use GET")
			return
		}
		token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			writeErr(w, http.StatusUnauthorized, "UNAUTHENTICATED", "bearer token required")
			return
		}
		id, err := auth.Authenticate(strings.TrimSpace(token))
		if err != nil {
			writeErr(w, http.StatusUnauthorized, "UNAUTHENTICATED", "invalid token")
			return
		}
		ctx := context.WithValue(WithIdentity(req.Context(), id), requestIDKey, reqID)
		q := req.URL.Query()
		c, err := callerFor(ctx, map[string]any{"purpose": q.Get("purposeOfUse")})
		if err != nil {
			writeAPIErr(w, err)
			return
		}
		format, err := report.ParseFormat(orDefault(q.Get("format"), string(report.FormatNDJSON)))
		if err != nil {
			writeErr(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		f, err := rp.FilterFrom(ctx, c, queryArgs(q))
		if err != nil {
			writeAPIErr(w, err)
			return
		}
		if f.After, err = report.DecodeCursor(q.Get("after")); err != nil {
			writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "after is not a cursor of this API")
			return
		}
		dw := &deadlineWriter{w: w, rc: http.NewResponseController(w)}
		enc, err := report.NewEncoder(format, dw, rp.Observer)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		// Headers are only committed by the first write, which happens
		// after Govern has audited the export.
		w.Header().Set("Content-Type", format.ContentType())
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s.%s"`, reqID, format.Ext()))
		n, err := rp.Export(ctx, c, f, format, enc)
		if err != nil {
			if n == 0 && !dw.wrote {
				w.Header().Del("Content-Disposition")
				writeAPIErr(w, err)
				return
			}
			rp.Reader.log().Error("audit export failed midway; aborting the response", "written", n, "err", err)
			panic(http.ErrAbortHandler)
		}
	})
}

// deadlineWriter extends the connection's write deadline as an export
// streams, so a long export is not cut by the server's WriteTimeout while a
// stalled client still is.
type deadlineWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	last  time.Time
	wrote bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.last) > 5*time.Second {
		_ = d.rc.SetWriteDeadline(now.Add(time.Minute))
		d.last = now
	}
	d.wrote = true
	return d.w.Write(p)
}

func queryArgs(q url.Values) map[string]any {
	m := map[string]any{}
	for _, k := range []string{"patient", "identifier", "actor", "action", "outcome", "purpose", "recordType", "application", "from", "to"} {
		if v := q.Get(k); v != "" {
			m[k] = v
		}
	}
	var codes []any
	for _, v := range q["codes"] {
		for _, c := range strings.Split(v, ",") {
			codes = append(codes, c)
		}
	}
	m["codes"] = codes
	for _, k := range []string{"breakGlass", "denied"} {
		if b, err := strconv.ParseBool(q.Get(k)); err == nil {
			m[k] = b
		}
	}
	return m
}

func writeAPIErr(w http.ResponseWriter, err error) {
	api, ok := APIErrorOf(err).(*APIError)
	if !ok {
		api = &APIError{Code: "UNAVAILABLE", Message: "temporarily unavailable; nothing disclosed"}
	}
	status := map[string]int{
		"FORBIDDEN": http.StatusForbidden, "NOT_FOUND": http.StatusNotFound, "BAD_REQUEST": http.StatusBadRequest,
		"UNAUTHENTICATED": http.StatusUnauthorized,
	}[api.Code]
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	writeErr(w, status, api.Code, api.Message)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// person returns the audit log and consents of a patient as one person: a
// merged patient's reports cover every id merged into it (events and
// consents recorded before the merge stay under the retired ids).
func (rp *Reports) person(ctx context.Context, patientID string) (audit.Querier, report.ConsentSource, error) {
	_, members, err := rp.Reader.group(ctx, patientID)
	if err != nil {
		return nil, nil, err
	}
	if len(members) <= 1 {
		return rp.Reader.Querier, rp.Reader.Consents, nil
	}
	return groupLog{rp.Reader.Querier, patientID, members}, groupConsents{rp.Reader.Consents, patientID, members}, nil
}

// groupLog answers a query about patient as a query about every id of its
// merged patient.
type groupLog struct {
	audit.Querier
	patient string
	members []string
}

func (g groupLog) Query(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	if f.PatientID == g.patient {
		f.PatientID, f.PatientIDs = "", g.members
	}
	return g.Querier.Query(ctx, f)
}

// groupConsents are the consents of every id of a merged patient.
type groupConsents struct {
	report.ConsentSource
	patient string
	members []string
}

func (g groupConsents) Consents(ctx context.Context, patientID string) ([]consent.Directive, error) {
	if patientID != g.patient {
		return g.ConsentSource.Consents(ctx, patientID)
	}
	var out []consent.Directive
	for _, m := range g.members {
		ds, err := g.ConsentSource.Consents(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}
