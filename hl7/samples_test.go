package hl7

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
	// types counts records by resource type (when set).
	types map[string]int
	// check checks key fields of the records (when set).
	check func(t *testing.T, recs []record.Record)
}

var decodableSamples = map[string]sampleWant{
	"01_ms_ADT-A01_v2.8.hl7": {records: 2, subject: record.Identifier{System: "test1", Value: "PATID1234"}, family: "EVERYMAN",
		types: map[string]int{"Patient": 1, "Coverage": 1}},
	"02_ms_ADT-A04_v2.3_bom.hl7": {records: 3, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "123456789"}, family: "BROS",
		types: map[string]int{"Patient": 1, "Coverage": 2}},
	"03_ms_ADT-A08_v2.8.hl7": {records: 2, subject: record.Identifier{System: "test1", Value: "PATID1234"}, family: "EVERYMAN",
		types: map[string]int{"Patient": 1, "Coverage": 1}},
	"04_ms_ADT-A03_v2.8.hl7": {records: 2, subject: record.Identifier{System: "test1", Value: "PATID1234"}, family: "EVERYMAN",
		types: map[string]int{"Patient": 1, "Coverage": 1}},
	"14_v2fhir_ADT-A01_v2.8-base-standard.hl7": {records: 1, subject: record.Identifier{System: "ADT1", Value: "PATID1234"}, family: "EVERYMAN"},
	"15_v2fhir_ADT-A04_v2.1.hl7":               {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "19050114293307.1082"}, family: "BUNNY"},
	"16_v2fhir_ADT-A08_v2.3_cr-only.hl7":       {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "151"}, family: "Bond"},
	"19_v2fhir_ADT-A28_empty-PV1-GT1_v2.3.hl7": {records: 2, subject: record.Identifier{System: "MR", Value: "0000000001"}, family: "Bixby",
		types: map[string]int{"Patient": 1, "Coverage": 1},
		check: func(t *testing.T, recs []record.Record) {
			c := recs[1].Resource
			want := []any{map[string]any{"system": "urn:carecrest:source:ehr:policy", "value": "9140860055", "type": concept(systemIdentifierType, "MB", "Member Number")}}
			if !reflect.DeepEqual(c["identifier"], want) || c["payor"].([]any)[0].(map[string]any)["display"] != "aetna (60054 0131)" {
				t.Errorf("Coverage = %v", c)
			}
			if _, ok := c["subscriberId"]; ok {
				t.Error("policy number in clear-text subscriberId")
			}
		}},
	"07_ms_ORU-R01_ELR_v2.5.1.hl7": {records: 6, reports: 1,
		subject: record.Identifier{System: "urn:oid:2.16.840.1.114222.4.3.3.5.1.2", Value: "14"}, loinc: "8867-4", value: 27},
	"08_ms_ORU-R01_LRI-CBC_v2.5.1_bom.hl7": {records: 29, reports: 1,
		subject: record.Identifier{System: "NIST MPI", Value: "PATID1234"}, loinc: "718-7", value: 12.5, unit: "g/mL"},
	"23_v2fhir_ORU-R01_lab-panel_v2.3.1.hl7": {records: 33, reports: 1,
		subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "PhilipsMRN1"}, loinc: "76485-2", value: 110, unit: "nmol/L"},
	"10_ms_SIU-S12_v2.8.hl7": {records: 1, subject: record.Identifier{System: "test1", Value: "PATID1234"},
		types: map[string]int{"Appointment": 1},
		check: func(t *testing.T, recs []record.Record) {
			a := recs[0].Resource
			wantKeys(t, a, map[string]any{
				"status": "booked", "start": "2021-09-24T09:30:00+02:15", "end": "2021-09-24T10:20:00+02:15",
				"appointmentType": map[string]any{"coding": []any{codingJSON("urn:carecrest:local:ehr", "Normal", "")}},
			})
			parts := a["participant"].([]any)
			if len(parts) != 3 || parts[2].(map[string]any)["actor"].(map[string]any)["display"] != "Robert C GE" {
				t.Errorf("participant = %v", parts)
			}
		}},
	"24_v2fhir_SIU-S12_v2.3_cr-only.hl7": {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "150"},
		types: map[string]int{"Appointment": 1},
		check: func(t *testing.T, recs []record.Record) {
			wantKeys(t, recs[0].Resource, map[string]any{
				"status": "booked", "minutesDuration": 15.0,
				"requestedPeriod": []any{map[string]any{"start": "2019-04-23T14:00:00", "end": "2019-04-23T14:15:00"}},
			})
			if len(recs[0].Resource["participant"].([]any)) != 3 {
				t.Errorf("participant = %v", recs[0].Resource["participant"])
			}
		}},
	"06_ms_ORM-O01_v2.6_bom.hl7": {records: 1, subject: record.Identifier{System: "test1", Value: "PATID1234"},
		types: map[string]int{"ServiceRequest": 1},
		check: func(t *testing.T, recs []record.Record) {
			wantKeys(t, recs[0].Resource, map[string]any{
				"status": "active", "intent": "order", "authoredOn": "2021-10-20T11:26:00+02:15",
				"code":      map[string]any{"coding": []any{codingJSON(systemLOINC, "24725-4", "CT Head")}},
				"requester": map[string]any{"type": "Practitioner", "display": "JONES A ORDPROVIDER"},
			})
		}},
	"22_v2fhir_ORM-O01_IHE-RAD-4_ZDS_v2.3.1.hl7": {records: 1, subject: record.Identifier{System: "VHIS", Value: "MRNISCVEP1"},
		types: map[string]int{"ServiceRequest": 1},
		check: func(t *testing.T, recs []record.Record) {
			r := recs[0].Resource
			wantKeys(t, r, map[string]any{"priority": "stat", "status": "active"})
			ids := r["identifier"].([]any)
			if len(ids) != 3 || !reflect.DeepEqual(ids[2], map[string]any{"system": "urn:dicom:uid", "value": "urn:oid:1.2.567.26724.09515.3478.822.0123673"}) {
				t.Errorf("identifier = %v", ids)
			}
		}},
	"09_ms_RDE-O11_v2.8.hl7": {records: 2, subject: record.Identifier{System: "test1", Value: "PATID1234"},
		types: map[string]int{"MedicationRequest": 1, "Coverage": 1},
		check: func(t *testing.T, recs []record.Record) {
			r := recs[0].Resource
			if recs[0].Codes[0].System != "http://hl7.org/fhir/sid/ndc" || recs[0].Codes[0].Code != "0143963401" {
				t.Errorf("Codes = %v", recs[0].Codes)
			}
			dosage := r["dosageInstruction"].([]any)[0].(map[string]any)
			if dosage["route"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "IV" {
				t.Errorf("dosage = %v", dosage)
			}
			wantKeys(t, r, map[string]any{"status": "active", "intent": "order", "priority": "routine"})
		}},
	"11_ms_DFT-P03_v2.8.hl7": {records: 3, subject: record.Identifier{System: "test1", Value: "PATID1234"},
		types: map[string]int{"ChargeItem": 2, "Coverage": 1},
		check: func(t *testing.T, recs []record.Record) {
			wantKeys(t, recs[0].Resource, map[string]any{
				"status": "billable", "quantity": map[string]any{"value": 2.0}, "occurrenceDateTime": "2019-11-22",
				"code": map[string]any{"coding": []any{codingJSON("http://www.ama-assn.org/go/cpt", "71045", "Xray exam chest 1 view")}},
			})
			c := recs[2].Resource
			if c["identifier"].([]any)[0].(map[string]any)["value"] != "548851236L" || c["class"].([]any)[1].(map[string]any)["value"] != "Grp-12345" {
				t.Errorf("Coverage = %v", c)
			}
		}},
	"20_v2fhir_DFT-P03_v2.3_cr-only.hl7": {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "640"},
		types: map[string]int{"ChargeItem": 1},
		check: func(t *testing.T, recs []record.Record) {
			wantKeys(t, recs[0].Resource, map[string]any{
				"quantity": map[string]any{"value": 1.0}, "occurrenceDateTime": "2019-04-16T11:00:00",
				"code": map[string]any{"coding": []any{codingJSON("urn:carecrest:local:ehr", "99214", "OFFICE OUTPATIENT VISIT 25 MINUTES")}},
			})
		}},
	"12_ms_MDM-T02_v2.8.hl7": {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "987654321"},
		types: map[string]int{"DocumentReference": 1},
		check: func(t *testing.T, recs []record.Record) {
			// EVN-1 says T10, MSH-9 T02: MSH-9 wins. The ED OBX has no data.
			wantKeys(t, recs[0].Resource, map[string]any{"docStatus": "final", "status": "current", "date": "2008-01-31T16:00:00+02:15"})
			if _, ok := recs[0].Resource["content"]; ok {
				t.Errorf("content = %v", recs[0].Resource["content"])
			}
		}},
	"21_v2fhir_MDM-T02_text-linebreaks_v2.3.1.hl7": {records: 1, subject: record.Identifier{System: "West", Value: "117513"},
		types: map[string]int{"DocumentReference": 1},
		check: func(t *testing.T, recs []record.Record) {
			txt := attachmentText(t, recs[0].Resource, 0)
			if !strings.HasPrefix(txt, "Family History\n\n Problem Relation Age of Onset\n") {
				t.Errorf("text = %q", txt)
			}
		}},
	"05_ms_ADT-A40_two-merges_v2.8.hl7": {records: 2, subject: record.Identifier{System: "BCBS", Value: "12345"}, family: "Test",
		types: map[string]int{"Patient": 2},
		check: func(t *testing.T, recs []record.Record) {
			if recs[1].Subject[0] != (record.Identifier{System: "BCBS", Value: "145"}) {
				t.Errorf("second Patient subject %v", recs[1].Subject)
			}
		}},
	"17_v2fhir_ADT-A40_v2.3.hl7": {records: 1, subject: record.Identifier{System: "MR", Value: "0000000001"}, family: "Bixby",
		types: map[string]int{"Patient": 1}},
	"18_v2fhir_ADT-A34_merge-id_v2.3_cr-only.hl7": {records: 1, subject: record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "5027440"}, family: "Tester",
		types: map[string]int{"Patient": 1}},
}

// wantKeys checks elements of a resource.
func wantKeys(t *testing.T, res map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if !reflect.DeepEqual(res[k], v) {
			t.Errorf("%s = %#v\nwant %#v", k, res[k], v)
		}
	}
}

// attachmentText decodes the i-th attachment of a DocumentReference.
func attachmentText(t *testing.T, res map[string]any, i int) string {
	t.Helper()
	content, _ := res["content"].([]any)
	if len(content) <= i {
		t.Fatalf("content = %v", res["content"])
	}
	data, _ := content[i].(map[string]any)["attachment"].(map[string]any)["data"].(string)
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
	types := map[string]int{}
	for i, r := range recs {
		checkRecord(t, r, i)
		types[r.Type]++
		if r.Subject[0] != want.subject && !(r.Type == "Patient" && types["Patient"] > 1) { // merges: one Patient per PID
			t.Errorf("record %d subject %+v, want %+v", i, r.Subject[0], want.subject)
		}
		if r.Type == "Patient" && types["Patient"] > 1 {
			continue
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
	if want.types != nil && !reflect.DeepEqual(types, want.types) {
		t.Errorf("record types %v, want %v", types, want.types)
	}
	if want.check != nil {
		want.check(t, recs)
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
