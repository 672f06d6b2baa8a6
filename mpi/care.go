package mpi

import (
	"context"
	"strings"

	"github.com/carecrest/hub/record"
)

// Care relationships and demographic match keys are derived links, stored
// as keyed hashes in the Links store like identifiers (no table of their
// own), each pointing at the patient it was learnt for:
//
//	care(practitioner key, P)          → P
//	surname(normalised family name, P) → P
//	address(normalised line, postal, P) → P
//
// Practitioner keys are in record.PractitionerKey's normal form. They are
// not patient PHI, but they are hashed all the same: the store never holds
// who treats whom in clear. Writes are idempotent (first link wins), so a
// redelivered message writes nothing new.

// Relationship is a care relationship learnt at ingest: a practitioner
// (encounter participant, appointment personnel, order requester, care
// team member) and the patient's enterprise id.
type Relationship struct {
	Practitioner string // practitioner key (record.PractitionerKey)
	PatientID    string
}

// Surname is a family name of a patient, learnt from a Patient record.
type Surname struct {
	PatientID string
	Family    string
}

// Address is a postal address of a patient, learnt from a Patient record:
// its first line and postal code.
type Address struct {
	PatientID  string
	Line       string
	PostalCode string
}

// Facts are the derived links of an ingest batch.
type Facts struct {
	Care      []Relationship
	Surnames  []Surname
	Addresses []Address
}

func (x *Index) careHash(practitioner, epi string) string {
	return x.linkHash("care", practitioner, epi)
}

func (x *Index) surnameHash(family, epi string) string {
	return x.linkHash("surname", family, epi)
}

func (x *Index) addressHash(line, postal, epi string) string {
	return x.linkHash("address", line, postal, epi)
}

// PutFacts stores the batch's facts in one PutLinks; they are durable when
// it returns nil. Facts with an empty part are left out; practitioner keys
// are normalised (a key that is not one is left out).
func (x *Index) PutFacts(ctx context.Context, f Facts) error {
	links := map[string]string{}
	for _, r := range f.Care {
		if key, ok := record.PractitionerKey(r.Practitioner); ok && r.PatientID != "" {
			links[x.careHash(key, r.PatientID)] = r.PatientID
		}
	}
	for _, s := range f.Surnames {
		if fam := NormalizeName(s.Family); fam != "" && s.PatientID != "" {
			links[x.surnameHash(fam, s.PatientID)] = s.PatientID
		}
	}
	for _, a := range f.Addresses {
		if line := NormalizeName(a.Line); line != "" && a.PatientID != "" {
			links[x.addressHash(line, NormalizePostalCode(a.PostalCode), a.PatientID)] = a.PatientID
		}
	}
	// Facts this instance stored before need no second write (repeated
	// A08 updates, redelivery).
	x.mu.Lock()
	for h := range links {
		if has(x.known, h) {
			delete(links, h)
		}
	}
	x.mu.Unlock()
	if len(links) == 0 {
		return nil
	}
	if err := x.links.PutLinks(ctx, links); err != nil {
		return err
	}
	x.mu.Lock()
	if len(x.known)+len(links) > x.limit {
		clear(x.known)
	}
	for h := range links {
		x.known[h] = struct{}{}
	}
	x.mu.Unlock()
	return nil
}

func has(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// HasRelationship reports whether the practitioner (a key in any form
// record.PractitionerKey accepts, such as a SMART fhirUser claim) has a
// care relationship with the patient epi. A relationship with any id of
// the patient's merged group counts (see Group). Positive answers are
// cached (relationships are never removed); a negative answer always asks
// the store. On error the answer is false: callers deny.
func (x *Index) HasRelationship(ctx context.Context, practitioner, epi string) (bool, error) {
	key, ok := record.PractitionerKey(practitioner)
	if !ok || strings.TrimSpace(epi) == "" {
		return false, nil
	}
	asked := x.careHash(key, epi)
	x.mu.Lock()
	known := has(x.related, asked)
	x.mu.Unlock()
	if known {
		return true, nil
	}
	found, err := x.groupHas(ctx, epi, func(member string) string { return x.careHash(key, member) })
	if err != nil || !found {
		return false, err
	}
	x.mu.Lock()
	if len(x.related) > x.limit {
		clear(x.related)
	}
	x.related[asked] = struct{}{}
	x.mu.Unlock()
	return true, nil
}

// SharesSurname reports whether surname (normalised, see NormalizeName) is
// a family name of the patient epi or of any id merged with it.
func (x *Index) SharesSurname(ctx context.Context, epi, surname string) (bool, error) {
	fam := NormalizeName(surname)
	if fam == "" || strings.TrimSpace(epi) == "" {
		return false, nil
	}
	return x.groupHas(ctx, epi, func(member string) string { return x.surnameHash(fam, member) })
}

// SharesAddress reports whether the address (first line and postal code,
// normalised, see NormalizeName and NormalizePostalCode) is an address of
// the patient epi or of any id merged with it.
func (x *Index) SharesAddress(ctx context.Context, epi, line, postalCode string) (bool, error) {
	l := NormalizeName(line)
	if l == "" || strings.TrimSpace(epi) == "" {
		return false, nil
	}
	pc := NormalizePostalCode(postalCode)
	return x.groupHas(ctx, epi, func(member string) string { return x.addressHash(l, pc, member) })
}

// groupHas reports whether the store holds hash(member) for any member of
// epi's merged group, in one look-up after the group's.
func (x *Index) groupHas(ctx context.Context, epi string, hash func(string) string) (bool, error) {
	_, members, err := x.Group(ctx, epi)
	if err != nil {
		return false, err
	}
	hashes := make([]string, len(members))
	for i, m := range members {
		hashes[i] = hash(m)
	}
	found, err := x.links.LookupLinks(ctx, hashes)
	if err != nil {
		return false, err
	}
	return len(found) > 0, nil
}
