package fhir

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/record"
)

// TestSamplesDecode decodes every shared FHIR R4 sample: each either decodes
// into records that keep the invariants or fails with a *DecodeError.
func TestSamplesDecode(t *testing.T) {
	for _, f := range samples.Glob(t, "fhir-r4/*.json") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res, err := Decode(src, readFile(t, f), received)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				return
			}
			for _, r := range res.Records {
				checkRecord(t, r)
				if _, err := json.Marshal(r.Resource); err != nil {
					t.Errorf("%s does not marshal: %v", r.Type, err)
				}
			}
		})
	}
}

func decodeSample(t *testing.T, rel string) Result {
	t.Helper()
	res, err := Decode(src, readFile(t, samples.Path(t, rel)), received)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSamplePatient(t *testing.T) {
	res := decodeSample(t, "fhir-r4/patient-example.json")
	if len(res.Records) != 1 || res.Records[0].Type != "Patient" {
		t.Fatalf("records = %v", res.Records)
	}
	r := res.Records[0]
	want := []record.Identifier{{System: "urn:oid:1.2.36.146.595.217.0.1", Value: "12345"}, scoped("Patient", "example")}
	if !reflect.DeepEqual(r.Subject, want) {
		t.Errorf("subject = %v, want %v", r.Subject, want)
	}
	if r.MessageID != "Patient/example" || r.SourceID != "example" {
		t.Errorf("MessageID %q SourceID %q", r.MessageID, r.SourceID)
	}
}

func TestSampleObservations(t *testing.T) {
	for file, want := range map[string]struct{ patient, loinc string }{
		"fhir-r4/observation-example-f001-glucose.json":  {"f001", "15074-8"},
		"fhir-r4/observation-example-bloodpressure.json": {"example", "85354-9"},
	} {
		res := decodeSample(t, file)
		if len(res.Records) != 1 {
			t.Fatalf("%s: %d records", file, len(res.Records))
		}
		r := res.Records[0]
		if !reflect.DeepEqual(r.Subject, []record.Identifier{scoped("Patient", want.patient)}) {
			t.Errorf("%s: subject = %v", file, r.Subject)
		}
		if len(r.Codes) == 0 || r.Codes[0].System != "http://loinc.org" || r.Codes[0].Code != want.loinc {
			t.Errorf("%s: codes = %v", file, r.Codes)
		}
		if _, ok := r.Resource["subject"]; ok {
			t.Errorf("%s: subject kept", file)
		}
	}
}

// TestSampleSynthea checks that every resource of a Synthea transaction
// links to its Patient through urn:uuid references.
func TestSampleSynthea(t *testing.T) {
	res := decodeSample(t, "fhir-r4/Abdul_Koepp_e925b0f3-8006-43f6-aa31-94bd215e55e7.json")
	if len(res.Records) != 178 {
		t.Errorf("%d records, want 178", len(res.Records))
	}
	wantSkipped := []Skip{{1, "Organization", SkipNoPatient}, {2, "Practitioner", SkipNoPatient}}
	if !reflect.DeepEqual(res.Skipped, wantSkipped) {
		t.Errorf("skipped = %v", res.Skipped)
	}
	var patient []record.Identifier
	for _, r := range res.Records {
		if r.Type == "Patient" {
			patient = r.Subject
		}
	}
	synthea := record.Identifier{System: "https://github.com/synthetichealth/synthea", Value: "e925b0f3-8006-43f6-aa31-94bd215e55e7"}
	if !slices.Contains(patient, synthea) || !slices.Contains(patient, scoped("Patient", "018f428e-34f6-4707-8009-5ad742f901e7")) {
		t.Fatalf("patient subject = %v", patient)
	}
	ids := map[string]bool{}
	for _, r := range res.Records {
		ids[r.ID] = true
		if !reflect.DeepEqual(r.Subject, patient) {
			t.Errorf("%s subject = %v", r.Type, r.Subject)
		}
		for _, e := range linkElements {
			if _, ok := r.Resource[e]; ok {
				t.Errorf("%s keeps %s", r.Type, e)
			}
		}
	}
	if len(ids) != len(res.Records) {
		t.Error("record ids repeat")
	}
}

// TestSampleBundleTransaction: the spec's transaction example starts with a
// Patient that has neither identifier nor id, which no index can link, so
// the message is rejected as a whole. Without that entry it decodes, and its
// DELETE, GET and Parameters entries are skipped.
func TestSampleBundleTransaction(t *testing.T) {
	data := readFile(t, samples.Path(t, "fhir-r4/bundle-transaction.json"))
	_, err := Decode(src, data, received)
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason != ReasonNoPatientID || de.Entry != 0 {
		t.Fatalf("err = %v, want no-patient-identifier at entry 0", err)
	}
	var b map[string]any
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	b["entry"] = b["entry"].([]any)[1:]
	data, _ = json.Marshal(b)
	res, err := Decode(src, data, received)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 4 {
		t.Errorf("%d records, want 4 Patients", len(res.Records))
	}
	want := []Skip{{4, "", SkipDelete}, {5, "", SkipDelete}, {6, "Parameters", SkipNoPatient}, {7, "", SkipRead}, {8, "", SkipRead}}
	if !reflect.DeepEqual(res.Skipped, want) {
		t.Errorf("skipped = %v, want %v", res.Skipped, want)
	}
}

func TestSampleCollectionBundle(t *testing.T) {
	res := decodeSample(t, "fhir-r4/diagnosticreport-example-f001-bloodexam.json")
	var types []string
	for _, r := range res.Records {
		types = append(types, r.Type)
		if r.MessageID != "Bundle/f001" {
			t.Errorf("MessageID = %q", r.MessageID)
		}
	}
	if !slices.Equal(types, []string{"DiagnosticReport", "ServiceRequest"}) {
		t.Errorf("types = %v", types)
	}
	if res.Records[0].Key == res.Records[1].Key {
		t.Error("entries share a key")
	}
}

func TestSampleOthers(t *testing.T) {
	tests := []struct {
		file, typ string
		skipped   bool
		kept      string // element kept
	}{
		{"fhir-r4/appointment-example.json", "Appointment", false, "participant"},
		{"fhir-r4/claim-example.json", "Claim", false, "insurer"},
		{"fhir-r4/consent-example-Out.json", "Consent", false, "policyRule"},
		{"fhir-r4/imagingstudy-example.json", "ImagingStudy", false, "series"},
		{"fhir-r4/medicationrequest0301.json", "MedicationRequest", false, "contained"},
		{"fhir-r4/auditevent-example.json", "AuditEvent", true, ""},
	}
	for _, tt := range tests {
		res := decodeSample(t, tt.file)
		if tt.skipped {
			if len(res.Records) != 0 || len(res.Skipped) != 1 || res.Skipped[0].ResourceType != tt.typ {
				t.Errorf("%s: %+v", tt.file, res)
			}
			continue
		}
		if len(res.Records) != 1 || res.Records[0].Type != tt.typ {
			t.Fatalf("%s: %+v", tt.file, res)
		}
		if _, ok := res.Records[0].Resource[tt.kept]; !ok {
			t.Errorf("%s: %s dropped", tt.file, tt.kept)
		}
	}
	// The contained Medication gives the prescription its code.
	res := decodeSample(t, "fhir-r4/medicationrequest0301.json")
	if c := res.Records[0].Codes; len(c) != 1 || c[0].Code != "430127000" {
		t.Errorf("codes = %v", c)
	}
	res = decodeSample(t, "fhir-r4/consent-example-Out.json")
	if c := res.Records[0].Codes; len(c) != 1 || c[0].Code != "59284-0" {
		t.Errorf("consent codes = %v", c)
	}
}
