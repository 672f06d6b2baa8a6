package alert

import (
	"context"
	"errors"
	"strings"

	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
)

// Index answers Demographics and Relationships from the master patient
// index's keyed hashes: identifiers, surnames, addresses and care
// relationships are compared as HMACs under the index key, so the engine
// never reads patient PHI. Practitioners maps roster ids to practitioner
// keys (Staff.Practitioner); ids not in it are used as keys themselves.
type Index struct {
	MPI           *mpi.Index
	Practitioners map[string]string
}

var (
	_ Demographics  = Index{}
	_ Relationships = Index{}
)

// NewIndex returns the index adapter for roster.
func NewIndex(x *mpi.Index, roster []Staff) Index {
	keys := map[string]string{}
	for _, s := range roster {
		if s.Practitioner != "" {
			keys[s.ID] = s.Practitioner
		}
	}
	return Index{MPI: x, Practitioners: keys}
}

// PatientOf resolves a system|value identifier without creating a patient.
func (i Index) PatientOf(ctx context.Context, identifier string) (string, bool, error) {
	sys, val, ok := strings.Cut(identifier, "|")
	if !ok || val == "" {
		return "", false, nil
	}
	return i.MPI.Lookup(ctx, record.Identifier{System: sys, Value: val})
}

// SharesSurname implements Demographics.
func (i Index) SharesSurname(ctx context.Context, patientID, surname string) (bool, error) {
	return i.MPI.SharesSurname(ctx, patientID, surname)
}

// SharesAddress implements Demographics.
func (i Index) SharesAddress(ctx context.Context, patientID, line, postalCode string) (bool, error) {
	return i.MPI.SharesAddress(ctx, patientID, line, postalCode)
}

// HasRelationship implements Relationships.
func (i Index) HasRelationship(ctx context.Context, actorID, patientID string) (bool, error) {
	key := actorID
	if k, ok := i.Practitioners[actorID]; ok {
		key = k
	}
	if _, ok := record.PractitionerKey(key); !ok {
		// Unknown is not "no relationship": the rule is skipped.
		return false, errNoPractitionerKey
	}
	return i.MPI.HasRelationship(ctx, key, patientID)
}

var errNoPractitionerKey = errors.New("alert: actor has no practitioner key (roster practitioner)")
