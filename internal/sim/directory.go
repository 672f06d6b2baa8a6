package sim

import (
	"context"
	"slices"
)

// Directory answers demographic and relationship questions about a month
// from its plaintext roster and patients: a test double for the keyed-hash
// implementations the hub uses (it satisfies alert.Demographics and
// alert.Relationships).
type Directory struct {
	byMRN    map[string]string
	patients map[string]Patient
	rel      map[string][]string
}

// Directory returns the month's directory.
func (m *Month) Directory() *Directory {
	d := &Directory{byMRN: map[string]string{}, patients: map[string]Patient{}, rel: map[string][]string{}}
	for _, p := range m.Patients {
		d.byMRN[p.MRN] = p.ID
		d.patients[p.ID] = p
	}
	for _, s := range m.Roster {
		d.rel[s.ID] = s.Relationships
	}
	return d
}

// PatientOf resolves an identifier (system|value).
func (d *Directory) PatientOf(_ context.Context, identifier string) (string, bool, error) {
	p, ok := d.byMRN[identifier]
	return p, ok, nil
}

// SharesSurname reports whether the patient's surname is surname.
func (d *Directory) SharesSurname(_ context.Context, patientID, surname string) (bool, error) {
	return d.patients[patientID].Surname == surname, nil
}

// SharesAddress reports whether the patient's address is line (the
// month's addresses carry no postal code).
func (d *Directory) SharesAddress(_ context.Context, patientID, line, _ string) (bool, error) {
	return d.patients[patientID].Address == line, nil
}

// HasRelationship reports whether actor is on the patient's care team.
func (d *Directory) HasRelationship(_ context.Context, actorID, patientID string) (bool, error) {
	_, ok := slices.BinarySearch(d.rel[actorID], patientID)
	return ok, nil
}
