package hl7

import (
	"os"
	"reflect"
	"testing"

	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/record"
)

// TestCarePractitioners pins the practitioner keys the decoders give for
// the care relationships of the shared samples.
func TestCarePractitioners(t *testing.T) {
	for _, c := range []struct {
		sample, typ string
		want        []string
	}{
		// PV1-7, -8, -9 and -17, each qualified by its XCN.9 authority.
		{"01_ms_ADT-A01_v2.8.hl7", "Patient", []string{"PERSONNELt|1122334", "TEST|C006", "urn:oid:1.3.6.1.4.1.44750.1.2.2|C008", "AccMgr|37"}},
		// No authority: the hospital's practitioner id.
		{"14_v2fhir_ADT-A01_v2.8-base-standard.hl7", "Patient", []string{"Practitioner/004777"}},
		// PV1 doctors and AIP-3.
		{"10_ms_SIU-S12_v2.8.hl7", "Appointment", []string{"Practitioner/0210", "Practitioner/0310", "Practitioner/03410", "Practitioner/1210"}},
		{"24_v2fhir_SIU-S12_v2.3_cr-only.hl7", "Appointment", []string{"MR1127|MRYAN", "W22630|WEEDER", "F12456|JPULLEN1"}},
		// ORC-12 and OBR-16.
		{"06_ms_ORM-O01_v2.6_bom.hl7", "ServiceRequest", []string{"Practitioner/3850", "Practitioner/005454"}},
	} {
		t.Run(c.sample, func(t *testing.T) {
			recs := decodeSample(t, c.sample)
			if recs[0].Type != c.typ || !reflect.DeepEqual(recs[0].Practitioners, c.want) {
				t.Errorf("%s Practitioners = %q, want %s %q", recs[0].Type, recs[0].Practitioners, c.typ, c.want)
			}
		})
	}
}

// TestMergeReplaces: the surviving Patient of each PID/MRG pair lists the
// retired identifiers, as MergesOf gives them.
func TestMergeReplaces(t *testing.T) {
	for _, c := range []struct {
		sample string
		want   [][]record.Identifier
	}{
		{"05_ms_ADT-A40_two-merges_v2.8.hl7", [][]record.Identifier{{{System: "BCBS", Value: "56789"}}, {{System: "BCBS", Value: "569"}}}},
		{"17_v2fhir_ADT-A40_v2.3.hl7", [][]record.Identifier{{{System: "MR", Value: "53700"}}}},
		{"18_v2fhir_ADT-A34_merge-id_v2.3_cr-only.hl7", [][]record.Identifier{{{System: "urn:carecrest:source:ehr:mrn", Value: "5027450"}}}},
	} {
		t.Run(c.sample, func(t *testing.T) {
			recs := decodeSample(t, c.sample)
			var got [][]record.Identifier
			for _, r := range recs {
				if r.Type == "Patient" {
					got = append(got, r.Replaces)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Replaces = %v, want %v", got, c.want)
			}
		})
	}
	// Other messages replace nothing.
	for _, r := range decodeSample(t, "01_ms_ADT-A01_v2.8.hl7") {
		if r.Replaces != nil {
			t.Errorf("ADT A01 %s Replaces = %v", r.Type, r.Replaces)
		}
	}
}

func TestPractitionerKeyXCN(t *testing.T) {
	msg := "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01|K1|P|2.5.1\r" +
		"PID|1||MRN1^^^H&1.2.3&ISO^MR||Doe^Pat\r" +
		"PV1|1|I|||||1234567893^Osei^Kwame^^^^^^^^^^NPI~dr-osei^Osei^Kwame|5^Ref^^^^^^^&2.16.840.1.113883.19&ISO||||||||||dr-osei^Osei\r"
	recs, err := Decode("ehr", []byte(msg), received)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{record.SystemNPI + "|1234567893", "Practitioner/dr-osei", "urn:oid:2.16.840.1.113883.19|5"}
	if !reflect.DeepEqual(recs[0].Practitioners, want) {
		t.Errorf("Practitioners = %q, want %q", recs[0].Practitioners, want)
	}
}

func decodeSample(t *testing.T, name string) []record.Record {
	t.Helper()
	data, err := os.ReadFile(samples.Path(t, "hl7v2/"+name))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Decode("ehr", data, received)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
