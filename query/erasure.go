package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/policy"
	"github.com/graphql-go/graphql"
)

// Governance actions of erasure and legal holds (rego/data.json
// governance_actions).
const (
	ActionPatientErase = "patient.erase"
	ActionLegalHold    = "legal.hold"
)

// Errors of erasure and legal holds; their text never carries PHI.
var (
	// ErrErased: the patient's data keys were destroyed (GDPR Art. 17
	// crypto-shredding). Their records stay stored but cannot be read.
	ErrErased = errors.New("patient erased")
	// ErrLegalHold: a legal hold is in force; the patient cannot be erased.
	ErrLegalHold = errors.New("legal hold in force")
)

// ErasedError is a read of an erased patient: when it was erased (zero if
// the log does not say).
type ErasedError struct{ At time.Time }

func (e *ErasedError) Error() string {
	if e.At.IsZero() {
		return ErrErased.Error()
	}
	return ErrErased.Error() + " on " + e.At.UTC().Format(time.DateOnly)
}

func (e *ErasedError) Unwrap() error { return ErrErased }

// ErasureStatus says whether a patient was erased (erasure.Service).
//
// Contract: ErasedAt answers from the durable state every hub instance
// shares, so an erasure on one instance stops reads on all of them at once;
// at is when the erasure was recorded (zero if unknown). An error means the
// status is unknown and the caller fails closed.
type ErasureStatus interface {
	ErasedAt(ctx context.Context, patientID string) (at time.Time, erased bool, err error)
}

// checkErased fails a read of an erased patient with ErasedError, for every
// caller, after auditing it (fail closed: no audit, ErrAudit).
func (r *Reader) checkErased(ctx context.Context, c Caller, patientID string, now time.Time) error {
	if r.Erasures == nil || patientID == "" {
		return nil
	}
	at, erased, err := r.Erasures.ErasedAt(ctx, patientID)
	if err != nil {
		r.log().Error("query: erasure status unknown; failing closed", "err", err)
		return fmt.Errorf("query: erasure status: %w", err)
	}
	if !erased {
		return nil
	}
	e := r.event(c, patientID, "Patient", policy.Decision{}, nil, nil, nil, now)
	e.Rules = []string{"erasure.erased"}
	erasedErr := &ErasedError{At: at}
	e.Reason = erasedErr.Error()
	if err := r.appendDetached(ctx, []audit.Event{e}); err != nil {
		return err
	}
	return erasedErr
}

// governanceAPIError translates the errors of erasure, legal holds and the
// consent registry, then everything else as APIErrorOf does.
func governanceAPIError(err error) error {
	var erased *ErasedError
	switch {
	case errors.As(err, &erased):
		return &APIError{Code: "ERASED", Message: erased.Error()}
	case errors.Is(err, ErrErased):
		return &APIError{Code: "ERASED", Message: ErrErased.Error()}
	case errors.Is(err, ErrLegalHold):
		// The message names case references, which are not PHI.
		return &APIError{Code: "FORBIDDEN", Message: "erasure refused: " + err.Error()}
	}
	return APIErrorOf(err)
}

// LegalHold is one legal hold in force on a patient. Category and CaseRef
// are validated to carry no PHI (a category from a fixed list, a case
// reference of letters, digits and . _ : / -).
type LegalHold struct {
	Category string
	CaseRef  string
	PlacedAt time.Time
	PlacedBy string
}

// PatientStatus is a patient's governance state, folded from the audit log.
type PatientStatus struct {
	PatientID string
	Erased    bool
	ErasedAt  time.Time
	// ErasureIncomplete: an erasure was requested but did not finish (the
	// hub stopped midway); erasing again completes it.
	ErasureIncomplete bool
	Holds             []LegalHold
}

// PatientGovernance erases patients and manages legal holds
// (erasure.Service). Every method is decided by policy and audited.
type PatientGovernance interface {
	Erase(ctx context.Context, c Caller, patientID string) (PatientStatus, error)
	PlaceHold(ctx context.Context, c Caller, patientID, category, caseRef string) (PatientStatus, error)
	LiftHold(ctx context.Context, c Caller, patientID, caseRef string) (PatientStatus, error)
	Status(ctx context.Context, c Caller, patientID string) (PatientStatus, error)
}

var legalHoldType = obj("LegalHold", "A legal hold in force: it blocks erasure.", graphql.Fields{
	"category":      str("litigation, investigation, regulatory, audit or other."),
	"caseReference": str("The case (matter) reference."),
	"placedAt":      str("RFC 3339."),
	"placedBy":      str("Who placed it."),
})

var patientStatusType = obj("PatientStatus", "A patient's erasure and legal-hold state, folded from the audit log.", graphql.Fields{
	"patient":           {Type: graphql.NewNonNull(graphql.ID)},
	"erased":            {Type: graphql.NewNonNull(graphql.Boolean), Description: "The patient's data keys were destroyed (GDPR Art. 17)."},
	"erasedAt":          str("When (RFC 3339)."),
	"erasureIncomplete": {Type: graphql.NewNonNull(graphql.Boolean), Description: "An erasure was requested but did not finish: erase again."},
	"legalHolds":        {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(legalHoldType)))},
})

// ErasureExtension adds erasure and legal holds to the schema (privacy
// officers): mutations erasePatient, placeLegalHold, liftLegalHold and the
// query patientStatus.
func ErasureExtension(r *Reader, g PatientGovernance) Extension {
	target := graphql.FieldConfigArgument{
		"patient":    {Type: graphql.ID, Description: "Enterprise patient id."},
		"identifier": {Type: graphql.String, Description: "Or a business identifier as system|value."},
		"purpose":    {Type: graphql.String, Description: "Purpose of use (default the token's first)."},
	}
	held := graphql.FieldConfigArgument{
		"patient":       {Type: graphql.NewNonNull(graphql.ID)},
		"caseReference": {Type: graphql.NewNonNull(graphql.String), Description: "Case (matter) reference: letters, digits and . _ : / - (no PHI)."},
		"purpose":       {Type: graphql.String},
	}
	place := graphql.FieldConfigArgument{
		"category": {Type: graphql.NewNonNull(graphql.String), Description: "litigation, investigation, regulatory, audit or other."},
	}
	for k, v := range held {
		place[k] = v
	}
	run := func(fn func(ctx context.Context, c Caller, patient string, args map[string]any) (PatientStatus, error)) graphql.FieldResolveFn {
		return func(p graphql.ResolveParams) (any, error) {
			c, err := callerFor(p.Context, p.Args)
			if err != nil {
				return nil, err
			}
			patient, err := r.targetPatient(p.Context, c, p.Args)
			if err != nil {
				return nil, governanceAPIError(err)
			}
			st, err := fn(p.Context, c, patient, p.Args)
			if err != nil {
				return nil, governanceAPIError(err)
			}
			return statusMap(st), nil
		}
	}
	return Extension{
		Query: graphql.Fields{
			"patientStatus": {
				Type: graphql.NewNonNull(patientStatusType), Args: target,
				Description: "Whether a patient is erased or under legal hold (audited as an audit query).",
				Resolve: run(func(ctx context.Context, c Caller, patient string, _ map[string]any) (PatientStatus, error) {
					return g.Status(ctx, c, patient)
				}),
			},
		},
		Mutation: graphql.Fields{
			"erasePatient": {
				Type: graphql.NewNonNull(patientStatusType), Args: target,
				Description: "Erase a patient by destroying their data keys (crypto-shredding); refused under a legal hold. Audited.",
				Resolve: run(func(ctx context.Context, c Caller, patient string, _ map[string]any) (PatientStatus, error) {
					return g.Erase(ctx, c, patient)
				}),
			},
			"placeLegalHold": {
				Type: graphql.NewNonNull(patientStatusType), Args: place,
				Description: "Place a legal hold on a patient (blocks erasure). Audited; the hold is the audit event.",
				Resolve: run(func(ctx context.Context, c Caller, patient string, a map[string]any) (PatientStatus, error) {
					cat, _ := a["category"].(string)
					ref, _ := a["caseReference"].(string)
					return g.PlaceHold(ctx, c, patient, cat, ref)
				}),
			},
			"liftLegalHold": {
				Type: graphql.NewNonNull(patientStatusType), Args: held,
				Description: "Lift the legal hold of a case. Audited.",
				Resolve: run(func(ctx context.Context, c Caller, patient string, a map[string]any) (PatientStatus, error) {
					ref, _ := a["caseReference"].(string)
					return g.LiftHold(ctx, c, patient, ref)
				}),
			},
		},
	}
}

// targetPatient is the patient argument, or the patient of the identifier
// argument (a miss is audited and NOT_FOUND).
func (r *Reader) targetPatient(ctx context.Context, c Caller, args map[string]any) (string, error) {
	id, _ := args["patient"].(string)
	ident, _ := args["identifier"].(string)
	switch {
	case (id == "") == (ident == ""):
		return "", badRequest("give exactly one of patient or identifier")
	case id != "":
		return id, nil
	}
	return r.LookupIdentifier(ctx, c, ident)
}

func statusMap(st PatientStatus) map[string]any {
	holds := make([]map[string]any, 0, len(st.Holds))
	for _, h := range st.Holds {
		holds = append(holds, map[string]any{
			"category": h.Category, "caseReference": h.CaseRef,
			"placedAt": h.PlacedAt.UTC().Format(time.RFC3339Nano), "placedBy": h.PlacedBy,
		})
	}
	m := map[string]any{
		"patient": st.PatientID, "erased": st.Erased, "erasureIncomplete": st.ErasureIncomplete, "legalHolds": holds,
	}
	if !st.ErasedAt.IsZero() {
		m["erasedAt"] = st.ErasedAt.UTC().Format(time.RFC3339Nano)
	}
	return m
}
