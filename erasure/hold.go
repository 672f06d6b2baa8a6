package erasure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/query"
)

// Categories of legal holds. A fixed list, so that the reason of a hold can
// never carry free text (and so PHI) into the audit log.
var Categories = []string{"litigation", "investigation", "regulatory", "audit", "other"}

const (
	reasonPlaced = "legal hold placed"
	reasonLifted = "legal hold lifted"
)

// PlaceHold places a legal hold on a patient for a case, decided by policy
// (legal.hold). The hold is its audit event (CodeLegalHold): there is no
// other record of it.
func (s *Service) PlaceHold(ctx context.Context, c query.Caller, patientID, category, caseRef string) (query.PatientStatus, error) {
	if err := validPatient(patientID); err != nil {
		return query.PatientStatus{}, err
	}
	patientID, _, err := s.group(ctx, patientID) // holds and status are the merged person's
	if err != nil {
		return query.PatientStatus{}, err
	}
	if !slices.Contains(Categories, category) {
		return query.PatientStatus{}, query.BadRequest("category must be one of " + strings.Join(Categories, ", "))
	}
	if err := validCase(caseRef); err != nil {
		return query.PatientStatus{}, err
	}
	return s.changeHold(ctx, c, patientID, audit.CodeLegalHold,
		fmt.Sprintf("%s: category=%s case=%s", reasonPlaced, category, caseRef),
		func(st query.PatientStatus) error {
			if st.Erased {
				return &query.ErasedError{At: st.ErasedAt}
			}
			if holdOf(st, caseRef) >= 0 {
				return query.BadRequest("a legal hold for case " + caseRef + " is already in force")
			}
			return nil
		})
}

// LiftHold lifts the legal hold of a case (CodeLegalHoldLift).
func (s *Service) LiftHold(ctx context.Context, c query.Caller, patientID, caseRef string) (query.PatientStatus, error) {
	if err := validPatient(patientID); err != nil {
		return query.PatientStatus{}, err
	}
	patientID, owners, err := s.group(ctx, patientID) // holds and status are the merged person's
	if err != nil {
		return query.PatientStatus{}, err
	}
	if err := validCase(caseRef); err != nil {
		return query.PatientStatus{}, err
	}
	// A hold placed on an id before it was merged is lifted where it is.
	for _, m := range owners[1:] {
		if st, err := s.status(ctx, m); err == nil && holdOf(st, caseRef) >= 0 {
			patientID = m
			break
		}
	}
	return s.changeHold(ctx, c, patientID, audit.CodeLegalHoldLift,
		fmt.Sprintf("%s: case=%s", reasonLifted, caseRef),
		func(st query.PatientStatus) error {
			if holdOf(st, caseRef) < 0 {
				return query.BadRequest("no legal hold for case " + caseRef + " is in force")
			}
			return nil
		})
}

// changeHold runs a governed hold change: check runs on the current state
// and may refuse; the change itself is Govern's allow event. Denied changes
// are audited with the same code and outcome deny (which the fold ignores).
func (s *Service) changeHold(ctx context.Context, c query.Caller, patientID, code, describe string, check func(query.PatientStatus) error) (query.PatientStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st query.PatientStatus
	err := s.d.Governor.Govern(ctx, c, query.Governed{
		Action: query.ActionLegalHold, Code: code, DenyCode: audit.CodeLegalHoldDeny,
		PatientID: patientID, RecordType: "Patient", Describe: describe,
	}, func(ctx context.Context) error {
		var err error
		if st, err = s.status(ctx, patientID); err != nil {
			return err
		}
		return check(st)
	})
	if err != nil {
		return query.PatientStatus{}, err
	}
	// Read back what the log now says (this instance's own append is
	// visible to its next query on both backends).
	return s.status(ctx, patientID)
}

// Status reports whether a patient is erased or under legal hold. Reading
// it is an audit query: decided by policy (audit.query) and audited.
func (s *Service) Status(ctx context.Context, c query.Caller, patientID string) (query.PatientStatus, error) {
	if err := validPatient(patientID); err != nil {
		return query.PatientStatus{}, err
	}
	patientID, owners, err := s.group(ctx, patientID) // holds and status are the merged person's
	if err != nil {
		return query.PatientStatus{}, err
	}
	var st query.PatientStatus
	err = s.d.Governor.Govern(ctx, c, query.Governed{
		Action: query.ActionAuditQuery, Code: audit.CodeAuditQuery, DenyCode: audit.CodeAuditQueryDeny,
		PatientID: patientID, Describe: "patient status (erasure, legal holds)",
	}, func(ctx context.Context) error {
		var err error
		st, err = s.personStatus(ctx, owners)
		return err
	})
	return st, err
}

// status folds the patient's erasure and hold events and the key store's
// answer into the patient's state.
func (s *Service) status(ctx context.Context, patientID string) (query.PatientStatus, error) {
	f, err := s.fold(ctx, patientID)
	if err != nil {
		return query.PatientStatus{}, err
	}
	st := query.PatientStatus{PatientID: patientID, Holds: f.holdList()}
	if f.requested.IsZero() && f.done.IsZero() {
		return st, nil
	}
	_, present, err := s.d.Keys.GetWrapped(ctx, patientID)
	if err != nil {
		return query.PatientStatus{}, fmt.Errorf("erasure: read data key: %w", err)
	}
	st.Erased = !present
	st.ErasureIncomplete = f.done.IsZero() || present
	if st.Erased {
		st.ErasedAt = f.erasedAt()
	}
	return st, nil
}

// folded is the state the patient's events say.
type folded struct {
	requested, done time.Time // first erasure intent and first completion
	holds           []query.LegalHold
}

// erasedAt is when the erasure finished, or if it did not (yet), when it
// was requested.
func (f folded) erasedAt() time.Time {
	if !f.done.IsZero() {
		return f.done
	}
	return f.requested
}

func (f folded) holdList() []query.LegalHold { return slices.Clone(f.holds) }

// fold reads the patient's erasure and hold events, oldest first, and
// replays them. Only allowed events count; refusals and denied requests
// change nothing.
func (s *Service) fold(ctx context.Context, patientID string) (folded, error) {
	var f folded
	flt := audit.Filter{
		PatientID: patientID, Codes: []string{audit.CodeErasure, audit.CodeLegalHold, audit.CodeLegalHoldLift}, Limit: 1000,
	}
	for {
		evs, err := s.d.Audit.Query(ctx, flt)
		if err != nil {
			return folded{}, fmt.Errorf("erasure: read the patient's audit events: %w", err)
		}
		for _, e := range evs {
			f.apply(e)
		}
		if len(evs) < flt.Limit {
			return f, nil
		}
		flt.After = evs[len(evs)-1].ID
	}
}

func (f *folded) apply(e audit.Event) {
	if e.Outcome != audit.OutcomeAllow {
		return
	}
	switch {
	case e.Code == audit.CodeErasure && strings.HasPrefix(e.Reason, reasonRequested):
		if f.requested.IsZero() {
			f.requested = e.Time
		}
	case e.Code == audit.CodeErasure && strings.HasPrefix(e.Reason, reasonDone):
		if f.done.IsZero() {
			f.done = e.Time
		}
	case e.Code == audit.CodeLegalHold && e.Action == query.ActionLegalHold:
		kv := reasonFields(e.Reason, reasonPlaced)
		if kv["case"] == "" || holdIndex(f.holds, kv["case"]) >= 0 {
			return
		}
		f.holds = append(f.holds, query.LegalHold{Category: kv["category"], CaseRef: kv["case"], PlacedAt: e.Time, PlacedBy: e.ActorID})
	case e.Code == audit.CodeLegalHoldLift && e.Action == query.ActionLegalHold:
		kv := reasonFields(e.Reason, reasonLifted)
		if i := holdIndex(f.holds, kv["case"]); i >= 0 {
			f.holds = slices.Delete(f.holds, i, i+1)
		}
	}
}

// reasonFields parses "<prefix>: k=v k=v" (the reasons this package
// writes); anything else gives no fields.
func reasonFields(reason, prefix string) map[string]string {
	rest, ok := strings.CutPrefix(reason, prefix+": ")
	if !ok {
		return nil
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func holdIndex(hs []query.LegalHold, caseRef string) int {
	return slices.IndexFunc(hs, func(h query.LegalHold) bool { return h.CaseRef == caseRef })
}

func holdOf(st query.PatientStatus, caseRef string) int { return holdIndex(st.Holds, caseRef) }

// validCase checks a case reference: 1 to 64 letters, digits and . _ : / -,
// so that it can be neither free text nor break the reason's format.
func validCase(ref string) error {
	if ref == "" || len(ref) > 64 {
		return query.BadRequest("caseReference must be 1 to 64 characters")
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:/-", c) >= 0) {
			return query.BadRequest("caseReference may hold only letters, digits and . _ : / -")
		}
	}
	return nil
}

// personStatus is the state of a merged patient: its survivor's (owners[0])
// erasure state with the legal holds placed on any of its ids.
func (s *Service) personStatus(ctx context.Context, owners []string) (query.PatientStatus, error) {
	st, err := s.status(ctx, owners[0])
	if err != nil {
		return st, err
	}
	for _, m := range owners[1:] {
		ms, err := s.status(ctx, m)
		if err != nil {
			return st, err
		}
		st.Holds = append(st.Holds, ms.Holds...)
	}
	return st, nil
}
