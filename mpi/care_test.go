package mpi

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRelationships(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A", "B", "C")
	err := x.PutFacts(ctx, Facts{Care: []Relationship{
		{Practitioner: "Practitioner/dr-osei", PatientID: p[0]},
		{Practitioner: "urn:oid:2.16.840.1.113883.19|1122334", PatientID: p[1]},
		{Practitioner: "Patient/not-a-practitioner", PatientID: p[2]},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who, epi string
		want     bool
	}{
		{"Practitioner/dr-osei", p[0], true},
		{"https://ehr.example/fhir/Practitioner/dr-osei/_history/3", p[0], true}, // a fhirUser URL
		{"Practitioner/dr-osei", p[1], false},
		{"Practitioner/dr-other", p[0], false},
		{"urn:oid:2.16.840.1.113883.19|1122334", p[1], true},
		{"Practitioner?identifier=urn:oid:2.16.840.1.113883.19|1122334", p[1], true},
		{"Patient/not-a-practitioner", p[2], false},
		{"", p[0], false},
		{"Practitioner/dr-osei", "", false},
	} {
		got, err := x.HasRelationship(ctx, c.who, c.epi)
		if err != nil || got != c.want {
			t.Errorf("HasRelationship(%q, %q) = %v, %v; want %v", c.who, c.epi, got, err, c.want)
		}
	}
	// Positive answers are cached.
	before := links.lookups
	x.HasRelationship(ctx, "Practitioner/dr-osei", p[0])
	if links.lookups != before {
		t.Error("a known relationship was looked up again")
	}
	// Hashes only: no practitioner id in the store.
	for h := range links.m {
		if strings.Contains(h, "osei") || strings.Contains(h, "1122334") {
			t.Fatal("practitioner key stored in clear")
		}
	}
	// Redelivery writes nothing new.
	n := len(links.m)
	x.PutFacts(ctx, Facts{Care: []Relationship{{Practitioner: "Practitioner/dr-osei", PatientID: p[0]}}})
	if len(links.m) != n {
		t.Error("a repeated relationship was stored again")
	}
}

// TestRelationshipAcrossMerge: a relationship with a retired id counts for
// the survivor, and one with the survivor for a retired id.
func TestRelationshipAcrossMerge(t *testing.T) {
	ctx := context.Background()
	x := New(testKey, newMem())
	p, _ := patients(t, x, "A", "B")
	x.PutFacts(ctx, Facts{Care: []Relationship{
		{Practitioner: "Practitioner/before", PatientID: p[0]},
		{Practitioner: "Practitioner/after", PatientID: p[1]},
	}})
	if ok, _ := x.HasRelationship(ctx, "Practitioner/before", p[1]); ok {
		t.Fatal("relationship before the merge crossed patients")
	}
	mustMerge(t, x, p[0], p[1])
	for _, who := range []string{"Practitioner/before", "Practitioner/after"} {
		for _, epi := range p {
			if ok, err := x.HasRelationship(ctx, who, epi); !ok || err != nil {
				t.Errorf("HasRelationship(%s, %s) = %v, %v after the merge", who, epi, ok, err)
			}
		}
	}
}

func TestRelationshipStoreErrorDenies(t *testing.T) {
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A")
	links.fail = errors.New("down")
	if ok, err := x.HasRelationship(context.Background(), "Practitioner/x", p[0]); ok || err == nil {
		t.Fatalf("HasRelationship with the store down = %v, %v; want false and an error", ok, err)
	}
	if err := x.PutFacts(context.Background(), Facts{Care: []Relationship{{"Practitioner/x", p[0]}}}); err == nil {
		t.Fatal("PutFacts swallowed a store error")
	}
}

func TestDemographicMatches(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A", "B")
	err := x.PutFacts(ctx, Facts{
		Surnames:  []Surname{{PatientID: p[0], Family: "  Van  der Berg "}, {PatientID: p[0], Family: "Müller"}},
		Addresses: []Address{{PatientID: p[0], Line: "1000 Hospital  Lane", PostalCode: "SW1A 1AA"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, epi string
		want      bool
	}{
		{"van der berg", p[0], true},
		{"VAN DER BERG", p[0], true},
		{"ＶＡＮ ＤＥＲ ＢＥＲＧ", p[0], true}, // full-width forms (NFKC)
		{"MÜLLER", p[0], true},
		{"Muller", p[0], false}, // accents are kept
		{"van der berg", p[1], false},
		{"", p[0], false},
	} {
		if got, err := x.SharesSurname(ctx, c.epi, c.name); err != nil || got != c.want {
			t.Errorf("SharesSurname(%q) = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	for _, c := range []struct {
		line, postal, epi string
		want              bool
	}{
		{"1000 hospital lane", "sw1a1aa", p[0], true},
		{" 1000 HOSPITAL LANE", "SW1A  1AA", p[0], true},
		{"1000 Hospital Lane", "SW1A 1AB", p[0], false},
		{"1001 Hospital Lane", "SW1A 1AA", p[0], false},
		{"1000 Hospital Lane", "SW1A 1AA", p[1], false},
	} {
		if got, err := x.SharesAddress(ctx, c.epi, c.line, c.postal); err != nil || got != c.want {
			t.Errorf("SharesAddress(%q, %q) = %v, %v; want %v", c.line, c.postal, got, err, c.want)
		}
	}
	for h := range links.m {
		if strings.Contains(strings.ToLower(h), "berg") {
			t.Fatal("surname stored in clear")
		}
	}
	// A merged patient shares the names of the ids merged into it.
	mustMerge(t, x, p[0], p[1])
	if ok, _ := x.SharesSurname(ctx, p[1], "Müller"); !ok {
		t.Error("survivor does not share the retired patient's surname")
	}
}
