package hl7

import (
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
)

// Care relationships. A message names the practitioners who treat its
// patient; the decoders list them in Record.Practitioners, as practitioner
// keys, so that the pipeline can store the relationship (the resources
// only carry display references):
//
//	ADT (Patient)              PV1-7 attending, PV1-8 referring,
//	                           PV1-9 consulting, PV1-17 admitting
//	SIU (Appointment)          AIP-3 personnel, and the PV1 doctors
//	ORM/OML/OMI, RDE/RDS       ORC-12 ordering provider, OBR-16
//	(ServiceRequest,           (ordering provider of the order group)
//	MedicationRequest)
//
// AIG resources are not included: AIG-3 names equipment and rooms as well
// as people, by a coded value rather than a person id.

// pv1Doctors are the PV1 fields that name the patient's doctors.
var pv1Doctors = []int{7, 8, 9, 17}

// practitionerKey maps an XCN (id .1, assigning authority .9, identifier
// type .13) to a practitioner key (record.PractitionerIdentifier): the id
// qualified by its assigning authority rendered as for CX.4
// ("<authority>|<id>"), or by the NPI system when the type is NPI, or else
// the hospital's own practitioner id ("Practitioner/<id>"). "" when XCN.1
// is empty.
func practitionerKey(r Rep) string {
	id := text(r.Comp(1))
	if id == "" {
		return ""
	}
	sys := assigningAuthority(r.Comp(9))
	if sys == "" && strings.EqualFold(text(r.Comp(13)), "NPI") {
		sys = "NPI"
	}
	return record.PractitionerIdentifier(sys, id)
}

// appendPractitioners appends the keys of every XCN repetition of the
// given fields of seg (nil is allowed), without duplicates.
func appendPractitioners(out []string, seg *Segment, fields ...int) []string {
	if seg == nil {
		return out
	}
	for _, n := range fields {
		f := seg.Field(n)
		for i := 1; i <= f.NumReps(); i++ {
			if k := practitionerKey(f.Rep(i)); k != "" && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// visitPractitioners returns the doctors of the message's PV1 segments.
func (d *decoder) visitPractitioners() []string {
	var out []string
	for _, pv1 := range d.msg.Segments("PV1") {
		out = appendPractitioners(out, pv1, pv1Doctors...)
	}
	return out
}
