package hl7

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/record"
)

// sampleWant is what a decodable shared sample must yield.
type sampleWant struct {
	records int               // all records
	reports int               // of which DiagnosticReports
	subject record.Identifier // first subject identifier
	family  string            // Patient: first family name
	// Observation: one result that must be present.
	loinc string
	value float64
	unit  string
}

var decodableSamples = map[string]sampleWant{
	"01_ms_ADT-A01_v2.8.hl7":                   {records: 1, subject: record.Identifier{System: "test1", Value: "PATID1234"}, family: "EVERYMAN"},
	"02_ms_ADT-A04_v2.3_bom.hl7":               {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "123456789"}, family: "BROS"},
	"03_ms_ADT-A08_v2.8.hl7":                   {records: 1, subject: record.Identifier{System: "test1", Value: "PATID1234"}, family: "EVERYMAN"},
	"04_ms_ADT-A03_v2.8.hl7":                   {records: 1, subject: record.Identifier{System: "test1", Value: "PATID1234"}, family: "EVERYMAN"},
	"14_v2fhir_ADT-A01_v2.8-base-standard.hl7": {records: 1, subject: record.Identifier{System: "ADT1", Value: "PATID1234"}, family: "EVERYMAN"},
	"15_v2fhir_ADT-A04_v2.1.hl7":               {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "19050114293307.1082"}, family: "BUNNY"},
	"16_v2fhir_ADT-A08_v2.3_cr-only.hl7":       {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "151"}, family: "Bond"},
	"19_v2fhir_ADT-A28_empty-PV1-GT1_v2.3.hl7": {records: 1, subject: record.Identifier{System: "MR", Value: "0000000001"}, family: "Bixby"},
	"07_ms_ORU-R01_ELR_v2.5.1.hl7": {records: 6, reports: 1,
		subject: record.Identifier{System: "urn:oid:2.16.840.1.114222.4.3.3.5.1.2", Value: "14"}, loinc: "8867-4", value: 27},
	"08_ms_ORU-R01_LRI-CBC_v2.5.1_bom.hl7": {records: 29, reports: 1,
		subject: record.Identifier{System: "NIST MPI", Value: "PATID1234"}, loinc: "718-7", value: 12.5, unit: "g/mL"},
	"23_v2fhir_ORU-R01_lab-panel_v2.3.1.hl7": {records: 33, reports: 1,
		subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "PhilipsMRN1"}, loinc: "76485-2", value: 110, unit: "nmol/L"},
}

func TestSamples(t *testing.T) {
	files := samples.Glob(t, "hl7v2/*.hl7")
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := ParseAll(data, Limits{})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("ParseAll = %d messages, %v", len(msgs), err)
			}
			recs, err := Decode("ehr", data, received)
			want, ok := decodableSamples[name]
			if !ok {
				var de *DecodeError
				if !errors.As(err, &de) || de.Reason != ReasonUnsupportedType || recs != nil {
					t.Fatalf("Decode = %d records, %v; want an unsupported-type DecodeError", len(recs), err)
				}
				return
			}
			seen++
			if err != nil {
				t.Fatal(err)
			}
			checkSample(t, recs, want)
		})
	}
	if seen != len(decodableSamples) {
		t.Errorf("decoded %d of the %d expected samples", seen, len(decodableSamples))
	}
}

func checkSample(t *testing.T, recs []record.Record, want sampleWant) {
	t.Helper()
	if len(recs) != want.records {
		t.Fatalf("%d records, want %d", len(recs), want.records)
	}
	reports, found := 0, want.loinc == ""
	for i, r := range recs {
		checkRecord(t, r, i)
		if r.Subject[0] != want.subject {
			t.Errorf("record %d subject %+v, want %+v", i, r.Subject[0], want.subject)
		}
		switch r.Type {
		case "Patient":
			names, _ := r.Resource["name"].([]any)
			if len(names) == 0 || names[0].(map[string]any)["family"] != want.family {
				t.Errorf("name = %v, want family %q", r.Resource["name"], want.family)
			}
		case "DiagnosticReport":
			reports++
		case "Observation":
			if len(r.Codes) == 0 || r.Codes[0].System != systemLOINC || r.Codes[0].Code != want.loinc {
				continue
			}
			q, _ := r.Resource["valueQuantity"].(map[string]any)
			wantQ := map[string]any{"value": want.value}
			if want.unit != "" {
				wantQ["unit"], wantQ["code"], wantQ["system"] = want.unit, want.unit, systemUCUM
			}
			if reflect.DeepEqual(q, wantQ) {
				found = true
			}
		}
	}
	if reports != want.reports {
		t.Errorf("%d DiagnosticReports, want %d", reports, want.reports)
	}
	if !found {
		t.Errorf("no Observation %s with value %v %s", want.loinc, want.value, want.unit)
	}
}

func TestSampleByPath(t *testing.T) {
	data, err := os.ReadFile(samples.Path(t, "hl7v2/01_ms_ADT-A01_v2.8.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// The sample's one \T\ escape is resolved on read.
	if got := m.Get("PV1-14"); got != "NHS Provider-General (inc.A&E-this Hosp)" {
		t.Errorf("PV1-14 = %q", got)
	}
	if got := m.Get("PID-3(2).4"); got != "USSSA" {
		t.Errorf("PID-3(2).4 = %q", got)
	}
}
