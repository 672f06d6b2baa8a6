// Package erasure erases patients by crypto-shredding (GDPR Art. 17) and
// keeps legal holds that block it.
//
// Erasing a patient destroys their wrapped data keys (keys.MaintainedStore
// DestroyWrapped) and evicts them from the key cache: every PHI element
// sealed under those keys, wherever it is stored, can no longer be opened.
// The records stay stored (their clear, non-identifying metadata too), the
// audit log keeps verifying, reads of the patient answer ERASED, and new
// data for the patient cannot be sealed (the pipeline dead-letters it).
//
// There is no table of erasures or holds: the state is the fold of the
// patient's audit events (CodeErasure, CodeLegalHold, CodeLegalHoldLift),
// which are hash-chained and so tamper-evident, plus the key store's
// destroyed marks. Every action is decided by policy (patient.erase,
// legal.hold) and audited, allowed or denied, through query.Reader.Govern.
package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/query"
)

// Governor decides and audits governance actions (query.Reader).
type Governor interface {
	Govern(ctx context.Context, c query.Caller, g query.Governed, fn func(ctx context.Context) error) error
	AppendAudit(ctx context.Context, events ...audit.Event) error
}

// Deps are the service's collaborators.
type Deps struct {
	Governor Governor
	Audit    audit.Querier        // the patient's erasure and hold events
	Keys     keys.MaintainedStore // destroys wrapped data keys
	// Evict drops an owner's unwrapped key from this instance's key cache
	// (phi.Sealer.Evict). Other instances evict when Watch sees the
	// erasure.
	Evict func(owner string)
	// Group, when set, returns the merged patient an enterprise id belongs
	// to (the MPI's merge group: the survivor first, then every id merged
	// into it). Erasure, holds and status concern the whole person: every
	// member's key is destroyed, a hold on any member blocks erasure. Nil:
	// every id is a patient of its own.
	Group  func(ctx context.Context, patientID string) (string, []string, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Service erases patients and manages legal holds. It is safe for
// concurrent use.
type Service struct {
	d Deps

	// mu serialises erasures and hold changes on this instance, so a hold
	// placed here cannot slip between an erasure's hold check and its key
	// destruction. Across instances the window is that of one audit query
	// (see the README).
	mu sync.Mutex

	// erased caches patients known to be erased: erasure is for ever, so
	// the cache never goes stale.
	erased sync.Map // patient id → time.Time
}

// New returns a service.
func New(d Deps) (*Service, error) {
	if d.Governor == nil || d.Audit == nil || d.Keys == nil {
		return nil, errors.New("erasure: a governor, an audit querier and a key store are required")
	}
	if d.Evict == nil {
		d.Evict = func(string) {}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}, nil
}

var _ query.PatientGovernance = (*Service)(nil)
var _ query.ErasureStatus = (*Service)(nil)

// Reasons of the events the service writes; the fold keys on them.
const (
	reasonRequested = "erasure requested" // Govern's event: allowed (the intent) or denied
	reasonDone      = "erasure done"      // after the keys are destroyed
	reasonRefused   = "erasure refused"   // allowed by policy but refused (hold, ...)
	ownersPrefix    = ": data keys "      // then the owners, comma-separated
)

// Erase erases a patient: decided by policy (patient.erase), refused while
// a legal hold is in force, otherwise the data keys of the patient (and of
// its aliases) are destroyed and evicted.
//
// Order, so that no crash leaves an unaudited erasure: (1) Govern appends
// the allowed decision, which is the intent ("erasure requested",
// CodeErasure), durably; (2) the keys are destroyed; (3) "erasure done"
// (CodeErasure) is appended. A crash after (1) leaves the intent in the log
// and the keys either intact (nothing happened) or destroyed (erased, and
// the intent says who asked); either way Status reports ErasureIncomplete
// and erasing again completes it. The alternative, destroying first and
// auditing after with retries, has a window in which keys are gone and no
// record says who destroyed them.
func (s *Service) Erase(ctx context.Context, c query.Caller, patientID string) (query.PatientStatus, error) {
	if err := validPatient(patientID); err != nil {
		return query.PatientStatus{}, err
	}
	patientID, owners, err := s.group(ctx, patientID)
	if err != nil {
		return query.PatientStatus{}, err
	}
	list := strings.Join(owners, ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	var st query.PatientStatus
	err = s.d.Governor.Govern(ctx, c, query.Governed{
		Action: query.ActionPatientErase, Code: audit.CodeErasure, DenyCode: audit.CodeErasureDeny,
		PatientID: patientID, RecordType: "Patient", Describe: reasonRequested + ownersPrefix + list,
	}, func(ctx context.Context) error {
		var err error
		if st, err = s.personStatus(ctx, owners); err != nil { // a hold on any merged id holds the person
			return err
		}
		switch {
		case len(st.Holds) > 0:
			refs := make([]string, len(st.Holds))
			for i, h := range st.Holds {
				refs[i] = h.CaseRef
			}
			herr := fmt.Errorf("%w (case %s)", query.ErrLegalHold, strings.Join(refs, ", "))
			return s.refuse(ctx, c, patientID, herr.Error(), herr)
		case st.Erased && !st.ErasureIncomplete:
			return s.refuse(ctx, c, patientID, "patient already erased", &query.ErasedError{At: st.ErasedAt})
		case !st.Erased && !st.ErasureIncomplete:
			if _, ok, err := s.d.Keys.GetWrapped(ctx, patientID); err != nil {
				return fmt.Errorf("erasure: read data key: %w", err)
			} else if !ok {
				return s.refuse(ctx, c, patientID, "no data key: unknown patient or nothing stored", query.ErrNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return query.PatientStatus{}, err
	}
	// The intent is durable: destroy every key, whatever the client does
	// meanwhile (a hang-up must not leave some owners' keys behind).
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, o := range owners {
		if err := s.d.Keys.DestroyWrapped(dctx, o); err != nil {
			s.d.Logger.Error("erasure: destroying a data key failed; erase again to complete", "err", err)
			return query.PatientStatus{}, fmt.Errorf("erasure: destroy data key: %w", err)
		}
		s.d.Evict(o)
	}
	now := s.d.Now().UTC()
	done := s.event(c, patientID, audit.CodeErasure, audit.OutcomeAllow, now, reasonDone+ownersPrefix+list)
	if err := s.d.Governor.AppendAudit(dctx, done); err != nil {
		// Erased, and the intent records it; erasing again records the end.
		return query.PatientStatus{}, err
	}
	for _, o := range owners {
		s.erased.Store(o, now)
	}
	st.PatientID, st.Erased, st.ErasedAt, st.ErasureIncomplete = patientID, true, now, false
	return st, nil
}

// refuse audits a refused erasure (CodeErasureDeny) and returns err.
func (s *Service) refuse(ctx context.Context, c query.Caller, patientID, why string, err error) error {
	e := s.event(c, patientID, audit.CodeErasureDeny, audit.OutcomeDeny, s.d.Now().UTC(), reasonRefused+": "+why)
	if aerr := s.d.Governor.AppendAudit(ctx, e); aerr != nil {
		return aerr
	}
	return err
}

// ErasedAt implements query.ErasureStatus for the read path: a patient is
// erased when their data key is gone and the log records an erasure. The
// common case (key present) costs one key-store lookup.
func (s *Service) ErasedAt(ctx context.Context, patientID string) (time.Time, bool, error) {
	if at, ok := s.erased.Load(patientID); ok {
		return at.(time.Time), true, nil
	}
	if _, ok, err := s.d.Keys.GetWrapped(ctx, patientID); err != nil || ok {
		return time.Time{}, false, err
	}
	f, err := s.fold(ctx, patientID)
	if err != nil {
		return time.Time{}, false, err
	}
	if f.requested.IsZero() && f.done.IsZero() {
		return time.Time{}, false, nil // no key because nothing was ever stored
	}
	at := f.erasedAt()
	s.erased.Store(patientID, at)
	return at, true, nil
}

func (s *Service) event(c query.Caller, patientID, code, outcome string, now time.Time, reason string) audit.Event {
	return audit.Event{
		Time: now, Code: code, Action: query.ActionPatientErase, Outcome: outcome,
		ActorID: c.Subject.ID, ActorRoles: c.Subject.Roles, ActorOrg: c.Subject.Org,
		Application: c.Application, Purpose: c.Subject.Purpose,
		PatientID: patientID, RecordType: "Patient", Reason: reason, RequestID: c.RequestID,
	}
}

func validPatient(id string) error { return query.ValidPatientID(id) }

// group returns the survivor of patientID's merged patient and every id of
// it, survivor first.
func (s *Service) group(ctx context.Context, patientID string) (string, []string, error) {
	if s.d.Group == nil {
		return patientID, []string{patientID}, nil
	}
	survivor, members, err := s.d.Group(ctx, patientID)
	if err != nil {
		return "", nil, fmt.Errorf("erasure: merged patient: %w", err)
	}
	if len(members) == 0 || members[0] != survivor {
		members = append([]string{survivor}, slices.DeleteFunc(members, func(m string) bool { return m == survivor })...)
	}
	return survivor, members, nil
}
