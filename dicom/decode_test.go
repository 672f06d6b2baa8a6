package dicom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/record"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

const src = "pacs"

var received = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden decodes every fixture under testdata and compares the records
// (or error) with testdata/golden/<name>. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			recs, err := Decode(src, readFile(t, f), received)
			var out any = recs
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				out = map[string]any{"error": de}
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", filepath.Base(f))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := readFile(t, golden); !bytes.Equal(got, want) {
				t.Errorf("result differs from %s (run go test -update to accept):\n%s", golden, got)
			}
		})
	}
}

// TestInstances checks the instance-level fixture element by element.
func TestInstances(t *testing.T) {
	recs, err := Decode(src, readFile(t, "testdata/ct-instances.json"), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	r := recs[0]
	const uid = "1.2.826.0.1.3680043.8.498.1001"
	key := record.NewKey(src, r.MessageID, 0)
	if r.Type != "ImagingStudy" || r.Source != src || r.SourceID != uid || !versionOf(r.MessageID, uid) ||
		r.Key != key || r.ID != record.IDFromKey(key) || !r.Received.Equal(received) {
		t.Errorf("record header %+v", r)
	}
	wantSubject := []record.Identifier{
		{System: "urn:carecrest:dicom-issuer:HOSP-A", Value: "MRN-SYNTH-0042"},
		{System: "urn:carecrest:dicom-issuer:NHS", Value: "NHS-SYNTH-9"},
		{System: "urn:carecrest:source:pacs:dicom-patient-id", Value: "LOCAL-SYNTH-1"},
	}
	if !reflect.DeepEqual(r.Subject, wantSubject) {
		t.Errorf("Subject = %+v, want %+v", r.Subject, wantSubject)
	}
	wantCodes := []record.Coding{
		{System: SystemDCM, Code: "CT"},
		{System: SystemDCM, Code: "SR"},
		{System: "http://loinc.org", Code: "24627-2", Display: "CT Chest"},
	}
	if !reflect.DeepEqual(r.Codes, wantCodes) {
		t.Errorf("Codes = %+v, want %+v", r.Codes, wantCodes)
	}
	res := r.Resource
	for k, want := range map[string]any{
		"resourceType":      "ImagingStudy",
		"status":            "available",
		"started":           "2024-03-01T09:30:15+01:00",
		"numberOfSeries":    2,
		"numberOfInstances": 3, // the duplicate instance counts once
		"description":       "CT CHEST SYNTHETIC FOLLOW-UP",
	} {
		if res[k] != want {
			t.Errorf("%s = %v, want %v", k, res[k], want)
		}
	}
	if got := res["referrer"]; !reflect.DeepEqual(got, map[string]any{"display": "Dr Rita M Referrer"}) {
		t.Errorf("referrer = %v", got)
	}
	if got := res["identifier"]; !reflect.DeepEqual(got, []any{map[string]any{"system": "urn:dicom:uid", "value": "urn:oid:" + uid}}) {
		t.Errorf("identifier = %v", got)
	}
	for _, k := range []string{"subject", "patient", "id"} {
		if _, ok := res[k]; ok {
			t.Errorf("resource sets %q", k)
		}
	}
	series := res["series"].([]any)
	s0 := series[0].(map[string]any)
	if s0["uid"] != uid+".1" || s0["number"] != 1 || s0["numberOfInstances"] != 2 ||
		!reflect.DeepEqual(s0["bodySite"], map[string]any{"display": "CHEST"}) ||
		!reflect.DeepEqual(s0["modality"], map[string]any{"system": SystemDCM, "code": "CT"}) {
		t.Errorf("series[0] = %v", s0)
	}
	in := s0["instance"].([]any)[1].(map[string]any)
	want := map[string]any{"uid": uid + ".1.2", "number": 2, "sopClass": map[string]any{"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("instance = %v, want %v", in, want)
	}
}

// TestNoPHIInResource checks that patient demographics, accession numbers
// and bulk data never reach the resource: ImagingStudy has no element for
// them, and pixel data is never read.
func TestNoPHIInResource(t *testing.T) {
	for _, f := range []string{"testdata/ct-instances.json", "testdata/qido-studies.json", "testdata/series-object.json"} {
		recs, err := Decode(src, readFile(t, f), received)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			b, err := json.Marshal(r.Resource)
			if err != nil {
				t.Fatal(err)
			}
			codes, _ := json.Marshal(r.Codes)
			for _, secret := range []string{
				"Syntheticus", "Patricia", "Doe", "Jane", // PatientName
				"19700402", "1970-04-02", "19800101", "1980-01-01", // PatientBirthDate
				"MRN-SYNTH", "NHS-SYNTH", "LOCAL-SYNTH", "PID-SYNTH", // patient ids: Subject only
				"ACC-SYNTH", // AccessionNumber
				"BulkDataURI", "SECRET-BULK-PATH", "InlineBinary", "SU5MSU5FQklOQVJZ", "7FE00010",
			} {
				if bytes.Contains(b, []byte(secret)) || bytes.Contains(codes, []byte(secret)) {
					t.Errorf("%s: %q in resource or codes: %s", f, secret, b)
				}
			}
		}
	}
}

func TestQIDOStudies(t *testing.T) {
	recs, err := Decode(src, readFile(t, "testdata/qido-studies.json"), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	r0, r1 := recs[0].Resource, recs[1].Resource
	if r0["numberOfSeries"] != 3 || r0["numberOfInstances"] != 120 || r0["started"] != "2023-11-05" {
		t.Errorf("study 0 = %v", r0)
	}
	if r1["numberOfSeries"] != 1 || r1["numberOfInstances"] != 4 {
		t.Errorf("study 1 = %v", r1)
	}
	if _, ok := r1["started"]; ok {
		t.Errorf("invalid StudyDate gave started %v", r1["started"])
	}
	// The free-text value in ModalitiesInStudy is not a Code String: dropped.
	if want := []record.Coding{{System: SystemDCM, Code: "US"}}; !reflect.DeepEqual(recs[1].Codes, want) {
		t.Errorf("codes = %v, want %v", recs[1].Codes, want)
	}
	if want := []record.Identifier{{System: "urn:carecrest:source:pacs:dicom-patient-id", Value: "PID-SYNTH-1"}}; !reflect.DeepEqual(recs[0].Subject, want) {
		t.Errorf("subject = %v", recs[0].Subject)
	}
	if recs[0].SourceID != "1.2.3.4.5.6.1" { // lower-case tag 0020000d accepted
		t.Errorf("SourceID = %q", recs[0].SourceID)
	}
}

func TestLocation(t *testing.T) {
	data := readFile(t, "testdata/series-object.json")
	recs, err := Decode(src, data, received)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].Resource["started"]; got != "2024-01-02" {
		t.Errorf("started without zone = %v", got)
	}
	recs, err = Options{Location: time.UTC}.Decode(src, data, received)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].Resource["started"]; got != "2024-01-02T08:00:00+00:00" {
		t.Errorf("started with Location = %v", got)
	}
}

func TestStarted(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		date, tm, off string
		loc           *time.Location
		want          string
	}{
		{"20240301", "", "", nil, "2024-03-01"},
		{"20240301", "0930", "", nil, "2024-03-01"},
		{"20240301", "0930", "-0500", nil, "2024-03-01T09:30:00-05:00"},
		{"20240301", "093015.5", "", cet, "2024-03-01T09:30:15+01:00"},
		{"20240301", "2561", "", cet, "2024-03-01"},
		{"20240301", "+9", "", cet, "2024-03-01"},
		{"20240301", "0930", "bad", cet, "2024-03-01"},
		{"20240230", "0930", "", cet, ""},
		{"2024-03-01", "", "", nil, ""},
		{"", "0930", "", cet, ""},
	} {
		if got := started(tc.date, tc.tm, tc.off, tc.loc); got != tc.want {
			t.Errorf("started(%q, %q, %q) = %q, want %q", tc.date, tc.tm, tc.off, got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	const pid = `"00100020":{"vr":"LO","Value":["SECRET-PID"]}`
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	for _, tc := range []struct {
		name, data, reason string
	}{
		{"syntax", `[{"0020000D":`, ReasonInvalidJSON},
		{"trailing", `{} {}`, ReasonInvalidJSON},
		{"scalar", `"SECRET"`, ReasonNotDICOMJSON},
		{"empty array", `[]`, ReasonNotDICOMJSON},
		{"not a tag", `{"StudyInstanceUID":{"vr":"UI","Value":["1.2"]}}`, ReasonNotDICOMJSON},
		{"no vr", `{"0020000D":{"Value":["1.2"]}}`, ReasonNotDICOMJSON},
		{"attribute not an object", `{"0020000D":"1.2"}`, ReasonNotDICOMJSON},
		{"bad item", `{"0020000D":{"vr":"UI","Value":["1.2"]},"00101002":{"vr":"SQ","Value":[{"x":1}]}}`, ReasonNotDICOMJSON},
		{"array of scalars", `[1]`, ReasonNotDICOMJSON},
		{"deep", deep, ReasonTooDeep},
		{"no study uid", `{` + pid + `}`, ReasonNoStudyUID},
		{"bad study uid", `{` + pid + `,"0020000D":{"vr":"UI","Value":["SECRET.1"]}}`, ReasonInvalidUID},
		{"bad series uid", `{` + pid + `,"0020000D":{"vr":"UI","Value":["1.2"]},"0020000E":{"vr":"UI","Value":["1..2"]}}`, ReasonInvalidUID},
		{"bad instance uid", `{` + pid + `,"0020000D":{"vr":"UI","Value":["1.2"]},"0020000E":{"vr":"UI","Value":["1.2.3"]},"00080018":{"vr":"UI","Value":["x"]}}`, ReasonInvalidUID},
		{"no patient", `{"0020000D":{"vr":"UI","Value":["1.2"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"SECRET^NAME"}]}}`, ReasonNoPatientID},
		{"one study without patient", `[{` + pid + `,"0020000D":{"vr":"UI","Value":["1.2"]}},{"0020000D":{"vr":"UI","Value":["1.3"]}}]`, ReasonNoPatientID},
		{"two patients", `[{` + pid + `,"0020000D":{"vr":"UI","Value":["1.2"]}},{"00100020":{"vr":"LO","Value":["SECRET-OTHER"]},"0020000D":{"vr":"UI","Value":["1.2"]}}]`, ReasonConflictingPatID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := Decode(src, []byte(tc.data), received)
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if de.Reason != tc.reason {
				t.Errorf("reason = %s, want %s (%v)", de.Reason, tc.reason, err)
			}
			if recs != nil {
				t.Error("records on error")
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error echoes a value: %v", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	data := readFile(t, "testdata/qido-studies.json")
	if _, err := (Options{MaxBytes: 10}).Decode(src, data, received); !isReason(err, ReasonTooLarge) {
		t.Errorf("MaxBytes: %v", err)
	}
	if _, err := (Options{MaxDatasets: 1}).Decode(src, data, received); !isReason(err, ReasonTooManyDatasets) {
		t.Errorf("MaxDatasets: %v", err)
	}
	if _, err := (Options{MaxDepth: 3}).Decode(src, data, received); !isReason(err, ReasonTooDeep) {
		t.Errorf("MaxDepth: %v", err)
	}
	if _, err := (Options{MaxBytes: -1}).Decode(src, data, received); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}
	if _, err := Decode("", data, received); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("empty source: %v", err)
	}
}

func isReason(err error, reason string) bool {
	var de *DecodeError
	return errors.As(err, &de) && de.Reason == reason
}

func TestDeterministic(t *testing.T) {
	data := readFile(t, "testdata/ct-instances.json")
	a, err := Decode(src, data, received)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, _ := Decode(src, data, received)
		if !reflect.DeepEqual(a, b) {
			t.Fatal("decoding twice gives different records")
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		data string
		want bool
	}{
		{`{"0020000D":{"vr":"UI","Value":["1.2"]}}`, true},
		{"\xEF\xBB\xBF \n[ {\"00080061\": {\"vr\": \"CS\"}}]", true},
		{`{"resourceType":"Patient","vr":"x"}`, false},
		{`[{"0020000D":1}]`, false}, // no "vr"
		{`[1,{"0020000D":{"vr":"UI"}}]`, false},
		{`MSH|^~\&|`, false},
		{``, false},
		{`{"0020000Z":{"vr":"UI"}}`, false},
	} {
		if got := Sniff([]byte(tc.data)); got != tc.want {
			t.Errorf("Sniff(%q) = %v, want %v", tc.data, got, tc.want)
		}
	}
}

// withPatientID adds PatientID SAMPLE-PID to every dataset of a message.
func withPatientID(t testing.TB, data []byte) []byte {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	for _, ds := range list {
		ds["00100020"] = map[string]any{"vr": "LO", "Value": []any{"SAMPLE-PID"}}
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoBulkData fails when the resource holds a URL or bulk data key.
func assertNoBulkData(t testing.TB, res map[string]any) {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"BulkDataURI", "InlineBinary", "http://localhost", "/bulk/", "7FE00010", "SAMPLE-PID"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("resource holds %q: %s", s, b)
		}
	}
}

func TestPatientSystemOIDIssuer(t *testing.T) {
	for issuer, want := range map[string]string{
		"1.2.840.10008":     "urn:oid:1.2.840.10008",
		"2.16.840.1.113883": "urn:oid:2.16.840.1.113883",
		"HOSP-A":            "urn:carecrest:dicom-issuer:HOSP-A",
		"3.1":               "urn:carecrest:dicom-issuer:3.1", // first arc must be 0, 1 or 2
		"1.02":              "urn:carecrest:dicom-issuer:1.02",
		"":                  "urn:carecrest:source:ris:dicom-patient-id",
	} {
		if got := patientSystem("ris", issuer); got != want {
			t.Errorf("patientSystem(%q) = %s, want %s", issuer, got, want)
		}
	}
}
