// Package query serves the policy-filtered patient view and the audit
// queries over GraphQL. The read path is the same for every caller:
//
//	verify JWT → load records → decide per record type (OPA) → decrypt only
//	what is both requested and allowed → audit what is disclosed and what is
//	withheld (fail closed) → respond
package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

// Opener decrypts selected PHI elements of sealed records (phi.Sealer).
type Opener interface {
	Open(ctx context.Context, s *record.Sealed, elements []string) (map[string]any, error)
}

// PatientIndex finds the enterprise id of an identifier (mpi.Index).
type PatientIndex interface {
	Lookup(ctx context.Context, id record.Identifier) (string, bool, error)
}

// PatientGroups resolves merged patients (mpi.Index): the survivor of an
// enterprise id and every id merged into it, survivor first.
type PatientGroups interface {
	Group(ctx context.Context, epi string) (string, []string, error)
}

// Relationships tells whether a practitioner has a care relationship with
// a patient (mpi.Index, from encounters, appointments, orders and care
// teams in the ingested data).
type Relationships interface {
	HasRelationship(ctx context.Context, practitioner, epi string) (bool, error)
}

// Reader is the read service behind GraphQL.
type Reader struct {
	Index    PatientIndex
	Records  store.RecordReader
	Consents store.ConsentReader
	Decider  policy.Decider
	Opener   Opener
	Audit    audit.Appender
	Querier  audit.Querier
	Logger   *slog.Logger
	Now      func() time.Time
	// AuditTimeout bounds the audit write, detached from the caller's
	// cancellation so that a client hanging up cannot leave a disclosure
	// half-recorded.
	AuditTimeout time.Duration
	// Erasures, when set, makes reads of an erased patient fail with
	// ErasedError (audited) for every caller.
	Erasures ErasureStatus
	// Groups, when set, makes the view of a patient the merged view: the
	// survivor's records and those of every id merged into it.
	Groups PatientGroups
	// Explainer explains decisions (the explain query).
	Explainer Explainer
	// Relationships, when set, tells policy whether the caller (its SMART
	// fhirUser) has a care relationship with the patient; without it, or
	// without a fhirUser, there is none.
	Relationships Relationships
}

// Errors the API edge translates; their text never carries PHI.
var (
	ErrForbidden = errors.New("access denied")
	ErrNotFound  = errors.New("not found")
	ErrAudit     = errors.New("audit unavailable: nothing disclosed")
	ErrKeys      = errors.New("key manager unavailable: nothing disclosed")
)

// DenyError is a denial with the policy's reasons.
type DenyError struct {
	Reasons []string
}

func (e *DenyError) Error() string {
	if len(e.Reasons) == 0 {
		return ErrForbidden.Error()
	}
	return ErrForbidden.Error() + ": " + strings.Join(e.Reasons, "; ")
}

func (e *DenyError) Unwrap() error { return ErrForbidden }

// Caller is who reads and why.
type Caller struct {
	Subject     policy.Subject
	Application string
	RequestID   string
	// Practitioner is the caller's SMART fhirUser ("Practitioner/123"),
	// for care relationships; empty for callers that are not clinicians.
	Practitioner string

	bg *policy.BreakGlass // the break-the-glass session of this read
}

// Resource is one disclosed record: its clear elements and the PHI elements
// that were both requested and allowed; Masked lists requested elements the
// caller may not see.
type Resource struct {
	Type   string
	ID     string
	Data   map[string]any
	Masked []string
	// Notices must accompany the resource wherever it goes (the 42 CFR
	// part 2 redisclosure notice).
	Notices []string
}

// Withheld is a record type withheld from the caller as a whole.
type Withheld struct {
	ResourceType string
	Reason       string
}

// PatientView is what one read disclosed.
type PatientView struct {
	PatientID string
	Patient   *Resource             // latest Patient record, nil if none
	Related   map[string][]Resource // by resource type, oldest first
	Withheld  []Withheld
}

// ReadPatient reads a patient's records for the caller. want maps each
// requested resource type to the elements requested ("*" for all). It
// returns only after the disclosure is durably audited.
func (r *Reader) ReadPatient(ctx context.Context, c Caller, patientID string, want map[string][]string) (*PatientView, error) {
	now := r.now()
	types := make([]string, 0, len(want))
	for t := range want {
		types = append(types, t)
	}
	sort.Strings(types)
	dc, err := r.decisionContext(ctx, c, patientID, types, now, true)
	if err != nil {
		return nil, err
	}
	patientID, codesMatter := dc.patientID, dc.codesMatter
	c = dc.caller
	byType := map[string][]record.Sealed{}
	for _, s := range dc.records {
		byType[s.Type] = append(byType[s.Type], s)
	}

	view := &PatientView{PatientID: patientID, Related: map[string][]Resource{}}
	var events []audit.Event
	var denied *DenyError
	for _, typ := range types {
		in := dc.input(typ, now)
		group := byType[typ]
		if typ == "Patient" && len(group) > 1 {
			// The view shows the latest demographics; older versions are
			// neither decrypted nor disclosed (nor audited as disclosed).
			group = group[len(group)-1:]
		}
		// Records of one type can carry different labels: decide per label set.
		decided := map[string]policy.Decision{}
		for i := range group {
			s := &group[i]
			lk := decisionKey(s, codesMatter)
			d, ok := decided[lk]
			if !ok {
				in.Labels = s.Labels
				in.Codes = nil
				if codesMatter {
					in.Codes = codeTokens(s.Codes)
				}
				d, err = r.Decider.Decide(ctx, in)
				if err != nil {
					r.log().Warn("query: policy evaluation failed; denying", "err", err)
				}
				decided[lk] = d
			}
		}
		if len(group) == 0 {
			// Decide anyway so that a denied caller learns nothing about
			// whether records exist.
			d, err := r.Decider.Decide(ctx, in)
			if err != nil {
				r.log().Warn("query: policy evaluation failed; denying", "err", err)
			}
			if !d.Allow {
				events = append(events, r.event(c, patientID, typ, d, nil, nil, nil, now))
				if typ == "Patient" {
					denied = &DenyError{Reasons: d.Reasons}
				}
			}
			continue
		}
		var allowedIDs, deniedIDs []string
		var disclosed, masked []string
		var denyDecision policy.Decision
		var allowDecision policy.Decision
		for i := range group {
			s := &group[i]
			d := decided[decisionKey(s, codesMatter)]
			if !d.Allow {
				deniedIDs = append(deniedIDs, s.ID)
				denyDecision = d
				continue
			}
			allowDecision = d
			show, hide := split(want[typ], s, d)
			data, err := r.Opener.Open(ctx, s, show)
			if err != nil {
				return nil, r.failClosed(ctx, c, patientID, typ, d, now, err)
			}
			allowedIDs = append(allowedIDs, s.ID)
			disclosed = union(disclosed, show)
			masked = union(masked, hide)
			res := Resource{Type: typ, ID: s.ID, Data: data, Masked: hide, Notices: notices(d)}
			if typ == "Patient" {
				view.Patient = &res
			} else {
				view.Related[typ] = append(view.Related[typ], res)
			}
		}
		if len(allowedIDs) > 0 {
			events = append(events, r.event(c, patientID, typ, allowDecision, allowedIDs, disclosed, masked, now))
		}
		if len(deniedIDs) > 0 {
			events = append(events, r.event(c, patientID, typ, denyDecision, deniedIDs, nil, nil, now))
			view.Withheld = append(view.Withheld, Withheld{ResourceType: typ, Reason: strings.Join(denyDecision.Reasons, "; ")})
			if typ == "Patient" && len(allowedIDs) == 0 {
				denied = &DenyError{Reasons: denyDecision.Reasons}
			}
		}
	}
	if len(events) == 0 {
		// Nothing stored and nothing denied: still record that the caller
		// asked, so that probing for patients is visible in the log.
		events = append(events, r.event(c, patientID, strings.Join(types, ","), policy.Decision{Allow: true}, nil, nil, nil, now))
		events[0].Reason = "no records"
	}
	if err := r.appendDetached(ctx, events); err != nil {
		return nil, err
	}
	if denied != nil {
		return nil, denied
	}
	if view.Patient == nil && len(view.Related) == 0 && len(view.Withheld) == 0 {
		return nil, ErrNotFound
	}
	return view, nil
}

// LookupIdentifier resolves an identifier argument in FHIR token syntax
// ("system|value"; the value is required) as LookupPatient does: the
// one parser of identifier arguments for every API field.
func (r *Reader) LookupIdentifier(ctx context.Context, c Caller, token string) (string, error) {
	sys, val, ok := strings.Cut(token, "|")
	if !ok || strings.TrimSpace(val) == "" {
		return "", badRequest("identifier must be system|value")
	}
	return r.LookupPatient(ctx, c, record.Identifier{System: sys, Value: val})
}

// LookupPatient resolves a business identifier to the enterprise patient
// id. A miss is audited (without the identifier, which is PHI) and reported
// as ErrNotFound.
func (r *Reader) LookupPatient(ctx context.Context, c Caller, id record.Identifier) (string, error) {
	pid, ok, err := r.Index.Lookup(ctx, id)
	if err != nil {
		return "", fmt.Errorf("query: patient lookup: %w", err)
	}
	if !ok {
		e := r.event(c, "", "Patient", policy.Decision{Allow: true}, nil, nil, nil, r.now())
		e.Reason = "no patient for identifier"
		if err := r.appendDetached(ctx, []audit.Event{e}); err != nil {
			return "", err
		}
		return "", ErrNotFound
	}
	return pid, nil
}

// failClosed records a read that could not decrypt (key manager down, key
// destroyed, integrity failure) and returns the error the caller sees.
// Nothing is disclosed, not even what was decrypted before the failure.
func (r *Reader) failClosed(ctx context.Context, c Caller, patientID, typ string, d policy.Decision, now time.Time, cause error) error {
	r.log().Error("query: decrypt failed; failing closed", "record_type", typ, "err", cause)
	e := r.event(c, patientID, typ, d, nil, nil, nil, now)
	e.Code, e.Outcome = audit.CodeReadFailed, audit.OutcomeError
	e.Reason = "decryption failed: " + category(cause)
	if err := r.appendDetached(ctx, []audit.Event{e}); err != nil {
		return err
	}
	return ErrKeys
}

// category names an error's class for audit rows, without its text.
func category(err error) string {
	switch {
	case errors.Is(err, keys.ErrUnavailable):
		return "key manager unavailable"
	case errors.Is(err, keys.ErrDenied):
		return "key manager denied"
	case errors.Is(err, phi.ErrNoKey):
		return "data key destroyed or missing"
	case errors.Is(err, phi.ErrIntegrity):
		return "integrity check failed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	default:
		return "internal error"
	}
}

// split divides the requested PHI elements into those the decision allows
// and those it masks. Clear elements are always shown.
func split(want []string, s *record.Sealed, d policy.Decision) (show, hide []string) {
	all := len(want) == 1 && want[0] == "*"
	for el := range s.Fields {
		if !all && !contains(want, el) {
			continue
		}
		if d.AllowsField(el) {
			show = append(show, el)
		} else {
			hide = append(hide, el)
		}
	}
	sort.Strings(show)
	sort.Strings(hide)
	return show, hide
}

func (r *Reader) inForce(ctx context.Context, patientID string, now time.Time) ([]consent.Directive, error) {
	all, err := r.Consents.Consents(ctx, patientID)
	if err != nil {
		return nil, fmt.Errorf("query: load consents: %w", err)
	}
	return consent.InForce(all, now), nil
}

func (r *Reader) event(c Caller, patientID, typ string, d policy.Decision, ids, disclosed, masked []string, now time.Time) audit.Event {
	e := audit.Event{
		Time: now, Code: audit.CodeRecordRead, Action: audit.ActionRead, Outcome: audit.OutcomeAllow,
		ActorID: c.Subject.ID, ActorRoles: c.Subject.Roles, ActorOrg: c.Subject.Org,
		Application: c.Application, Purpose: c.Subject.Purpose,
		PatientID: patientID, RecordType: typ, RecordIDs: ids, Disclosed: disclosed, Masked: masked,
		PolicyRevision: d.Revision, Rules: d.Rules, Consents: d.Consents,
		RequestID: c.RequestID,
	}
	if !d.Allow {
		e.Code, e.Outcome = audit.CodeRecordReadDeny, audit.OutcomeDeny
		e.Reason = strings.Join(d.Reasons, "; ")
	} else if contains(d.Rules, policy.RuleBreakGlass) {
		e.Code = audit.CodeBreakGlass
		e.Reason = breakGlassReason(c, c.bg)
	}
	return e
}

// appendDetached writes events with a bounded context that the caller's
// cancellation does not cut short.
func (r *Reader) appendDetached(ctx context.Context, events []audit.Event) error {
	timeout := r.AuditTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := r.Audit.Append(actx, events); err != nil {
		r.log().Error("query: audit write failed; failing closed", "err", err)
		return ErrAudit
	}
	return nil
}

func (r *Reader) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Reader) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func union(a, b []string) []string {
	for _, x := range b {
		if !contains(a, x) {
			a = append(a, x)
		}
	}
	sort.Strings(a)
	return a
}
