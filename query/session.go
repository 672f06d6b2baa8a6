package query

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
)

// Break-the-glass sessions. A declaration (purpose ETREAT with a reason)
// opens a session; within the policy's window (default 4 h) later ETREAT
// reads of the same patient by the same person continue it without
// restating the reason; after the window policy refuses
// (break-glass.expired) until the person declares again. Every read under
// break-the-glass is audited with audit.CodeBreakGlass: the event that
// opens a session carries the declared reason, an event that continues one
// carries sessionContinued and the session's start, so the sessions (and
// the review queue) are read back from the audit log alone, on every
// instance.
const sessionContinued = "break-glass session continued; opened "

// sessionLookback bounds the audit query for an open session. Windows
// longer than this are not found (a new declaration is then needed).
const sessionLookback = 24 * time.Hour

// breakGlass returns the subject and the break-the-glass declaration for a
// read: nil when the purpose is not a break-glass one; the declared reason
// as a session opening now; or, with no reason, the open session found in
// the audit log (zero Started and no reason when there is none: policy
// then refuses for want of a reason).
func (r *Reader) breakGlass(ctx context.Context, c Caller, patientID string, now time.Time) (policy.Subject, *policy.BreakGlass, error) {
	s := c.Subject
	if s.Purpose != "ETREAT" {
		return s, nil, nil
	}
	if strings.TrimSpace(s.BreakGlassReason) != "" {
		if strings.HasPrefix(strings.TrimSpace(s.BreakGlassReason), strings.TrimSpace(sessionContinued)) {
			// A declaration must not pass itself off as a continuation
			// (whose text names the session's start).
			return s, nil, &APIError{Code: "BAD_REQUEST", Message: "a break-the-glass reason may not start with \"" + strings.TrimSpace(sessionContinued) + "\""}
		}
		return s, &policy.BreakGlass{Reason: s.BreakGlassReason}, nil
	}
	if r.Querier == nil || patientID == "" {
		return s, nil, nil
	}
	evs, err := r.Querier.Query(ctx, audit.Filter{
		PatientID: patientID, ActorID: s.ID, Codes: []string{audit.CodeBreakGlass},
		From: now.Add(-sessionLookback), Limit: 10000,
	})
	if err != nil {
		return s, nil, fmt.Errorf("query: break-glass session: %w", err)
	}
	if len(evs) == 0 {
		return s, nil, nil
	}
	last := evs[len(evs)-1]
	started := last.Time
	if rest, ok := strings.CutPrefix(last.Reason, sessionContinued); ok {
		// A continuation names its session's start, which is never after
		// the continuation itself (nor, by sessionLookback, long before).
		if t, err := time.Parse(time.RFC3339Nano, rest); err == nil && !t.After(last.Time) {
			started = t
		}
	}
	// The session's reason stays in the opening event; policy needs one
	// to grant, and the continuation names the session instead.
	return s, &policy.BreakGlass{Reason: sessionContinued + started.UTC().Format(time.RFC3339Nano), Started: started}, nil
}

// breakGlassReason is the Reason of the audit event of a read under
// break-the-glass: the declaration, or the session it continues.
func breakGlassReason(c Caller, bg *policy.BreakGlass) string {
	if strings.TrimSpace(c.Subject.BreakGlassReason) != "" || bg == nil {
		return c.Subject.BreakGlassReason
	}
	return bg.Reason
}

// group returns the survivor of patientID and every id of its merged
// patient (survivor first); a patient that was never merged, or a reader
// without Groups, is a group of one.
func (r *Reader) group(ctx context.Context, patientID string) (string, []string, error) {
	if r.Groups == nil || patientID == "" {
		return patientID, []string{patientID}, nil
	}
	survivor, members, err := r.Groups.Group(ctx, patientID)
	if err != nil {
		return "", nil, fmt.Errorf("query: merged patient: %w", err)
	}
	return survivor, members, nil
}

// related reports whether the caller has a care relationship with the
// patient. Unknown (no index, no fhirUser, an index error) is false:
// policy then denies what needs one.
func (r *Reader) related(ctx context.Context, c Caller, patientID string) bool {
	if r.Relationships == nil || c.Practitioner == "" {
		return false
	}
	ok, err := r.Relationships.HasRelationship(ctx, c.Practitioner, patientID)
	if err != nil {
		r.log().Warn("query: care relationship unknown; treating as none", "err", err)
		return false
	}
	return ok
}

// consentsNameCodes reports whether any directive has a provision that
// names codes: only then does a decision depend on a record's codes, and
// records are decided one code set at a time.
func consentsNameCodes(ds []consent.Directive) bool {
	for _, d := range ds {
		for _, rule := range d.EffectiveRules() {
			if len(rule.Codes) > 0 {
				return true
			}
		}
	}
	return false
}

// decisionKey groups the records of one type that policy decides alike.
func decisionKey(s *record.Sealed, withCodes bool) string {
	k := strings.Join(s.Labels, ",")
	if withCodes {
		k += "|" + strings.Join(codeTokens(s.Codes), ",")
	}
	return k
}

// codeTokens are a record's codes as policy takes them ("system|code").
func codeTokens(cs []record.Coding) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.System+"|"+c.Code)
	}
	return out
}

// notices are the texts a disclosure under d must carry.
func notices(d policy.Decision) []string {
	var out []string
	for _, o := range d.Obligations {
		if o == policy.ObligationPart2Notice {
			out = append(out, route.Part2Notice)
		}
	}
	return out
}

// decisionContext is what every decision about one patient for one caller
// depends on beyond the record itself, gathered once per request the same
// way for reads and for explain (so that explain tells what a read would
// do): the merged patient, the consents in force for every id of it, the
// care relationship, the break-the-glass session, and the records.
type decisionContext struct {
	patientID   string // the survivor
	members     []string
	caller      Caller // with its break-the-glass session
	consents    []consent.Directive
	related     bool
	bg          *policy.BreakGlass
	codesMatter bool
	records     []record.Sealed // of the requested types, oldest first
}

// decisionContext gathers the decision context of a request for the
// records of types. A read (forRead) of an erased patient fails here,
// audited; explain
// gathers the same inputs without auditing a read nobody made.
func (r *Reader) decisionContext(ctx context.Context, c Caller, patientID string, types []string, now time.Time, forRead bool) (*decisionContext, error) {
	survivor, members, err := r.group(ctx, patientID)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if !forRead {
			break
		}
		if err := r.checkErased(ctx, c, m, now); err != nil {
			return nil, err
		}
	}
	dc := &decisionContext{patientID: survivor, members: members}
	for _, m := range members {
		cs, err := r.inForce(ctx, m, now)
		if err != nil {
			return nil, err
		}
		dc.consents = append(dc.consents, cs...)
	}
	for _, m := range members {
		rs, err := r.Records.PatientRecords(ctx, m, types)
		if err != nil {
			return nil, fmt.Errorf("query: load records: %w", err)
		}
		dc.records = append(dc.records, rs...)
	}
	if len(members) > 1 { // one patient's history across its merged ids, oldest first
		sort.SliceStable(dc.records, func(i, j int) bool { return dc.records[i].Received.Before(dc.records[j].Received) })
	}
	subject, bg, err := r.breakGlass(ctx, c, survivor, now)
	if err != nil {
		return nil, err
	}
	c.Subject, c.bg = subject, bg
	dc.caller, dc.bg = c, bg
	dc.related = r.related(ctx, c, survivor)
	dc.codesMatter = consentsNameCodes(dc.consents)
	return dc, nil
}

// input is the policy input of a read of typ under dc.
func (dc *decisionContext) input(typ string, now time.Time) policy.Input {
	return policy.Input{
		Action: policy.ActionRead, Subject: dc.caller.Subject, PatientID: dc.patientID,
		RecordType: typ, Consents: dc.consents, Now: now, Relationship: dc.related, BreakGlass: dc.bg,
	}
}
