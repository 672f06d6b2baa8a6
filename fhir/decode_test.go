package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/record"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

const src = "ehr"

var received = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func scoped(name, value string) record.Identifier {
	return record.Identifier{System: "urn:carecrest:source:" + src + ":" + name, Value: value}
}

func mrn(v string) record.Identifier {
	return record.Identifier{System: "urn:oid:1.2.3.4.5", Value: v}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden decodes every fixture under testdata and compares the result
// (or error) with testdata/golden/<name>. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res, err := Decode(src, readFile(t, f), received)
			var out any
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				out = map[string]any{"error": de}
			} else {
				out = res
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
			want := readFile(t, golden)
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s (run go test -update to accept):\n%s", golden, got)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		file        string
		wantErr     string // DecodeError reason
		wantEntry   int
		types       []string
		subject     []record.Identifier // of every record
		skipped     []Skip
		codes       []string // code of the first record's Codes
		messageID   string
		gone, kept  []string // top-level elements removed from / kept in the first record
		hasSourceID string
	}{
		{file: "patient.json", types: []string{"Patient"},
			subject:   []record.Identifier{mrn("MRN-0001"), scoped("id-system-unknown", "LOCAL-77"), scoped("Patient", "pt-1")},
			messageID: "Patient/pt-1/_history/7", gone: []string{"id"}, kept: []string{"identifier", "name", "meta"}, hasSourceID: "pt-1"},
		{file: "patient-noid.json", wantErr: ReasonNoPatientID},
		{file: "observation.json", types: []string{"Observation"},
			subject: []record.Identifier{scoped("Patient", "pt-1")}, codes: []string{"2345-7", "GLU"},
			messageID: "Observation/obs-1/_history/3", gone: []string{"id", "subject"}, kept: []string{"encounter", "code", "valueQuantity"}, hasSourceID: "obs-1"},
		{file: "observation-absolute.json", types: []string{"Observation"},
			subject: []record.Identifier{scoped("Patient", "pt-1")}, codes: []string{"8867-4"}, gone: []string{"subject"}},
		{file: "observation-identifier.json", types: []string{"Observation"},
			subject: []record.Identifier{mrn("MRN-0001")}, gone: []string{"subject"}},
		{file: "observation-contained.json", types: []string{"Observation"},
			subject: []record.Identifier{mrn("MRN-0002")}, gone: []string{"subject"}, kept: []string{"contained"}},
		{file: "observation-group.json", skipped: []Skip{{0, "Observation", SkipNoPatient}}},
		{file: "observation-untyped.json", wantErr: ReasonUnresolvedPatient},
		{file: "organization.json", skipped: []Skip{{0, "Organization", SkipNoPatient}}},
		{file: "medicationrequest.json", types: []string{"MedicationRequest"},
			subject: []record.Identifier{scoped("Patient", "pt-1")}, codes: []string{"1049621"}, kept: []string{"requester", "medicationReference"}},
		{file: "coverage.json", types: []string{"Coverage"},
			subject: []record.Identifier{scoped("Patient", "pt-1")}, gone: []string{"beneficiary"}, kept: []string{"subscriber", "payor"}},
		{file: "appointment-two-patients.json", wantErr: ReasonConflictingPatient},
		{file: "bundle-transaction.json",
			types: []string{"Patient", "Encounter", "Observation", "Patient", "Condition", "AllergyIntolerance"},
			skipped: []Skip{
				{1, "Organization", SkipNoPatient},
				{7, "", SkipDelete},
				{8, "", SkipRead},
				{9, "", SkipNoResource},
			}},
		{file: "bundle-unresolved.json", wantErr: ReasonUnresolvedPatient, wantEntry: 1},
		{file: "bundle-duplicate.json", wantErr: ReasonDuplicateFullURL, wantEntry: 1},
		{file: "bundle-history.json", wantErr: ReasonBundleType, wantEntry: -1},
		{file: "bundle-searchset.json", types: []string{"Observation", "Patient"},
			subject:   []record.Identifier{mrn("MRN-0005"), scoped("Patient", "pt-5")},
			skipped:   []Skip{{2, "OperationOutcome", SkipNoPatient}},
			messageID: "Bundle/search-1"},
		{file: "truncated.json", wantErr: ReasonInvalidJSON, wantEntry: -1},
		{file: "unknown-type.json", wantErr: ReasonUnknownType},
		{file: "array.json", wantErr: ReasonNotAnObject, wantEntry: -1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readFile(t, filepath.Join("testdata", tt.file))
			res, err := Decode(src, data, received)
			if tt.wantErr != "" {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v, want *DecodeError %s", err, tt.wantErr)
				}
				if de.Reason != tt.wantErr || de.Entry != tt.wantEntry {
					t.Fatalf("err = %+v, want reason %s entry %d", de, tt.wantErr, tt.wantEntry)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Error("DecodeError does not match ErrInvalid")
				}
				if len(res.Records) != 0 || len(res.Skipped) != 0 {
					t.Error("result not empty on error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for i, r := range res.Records {
				types = append(types, r.Type)
				checkRecord(t, r)
				if tt.subject != nil && !reflect.DeepEqual(r.Subject, tt.subject) {
					t.Errorf("record %d subject = %v, want %v", i, r.Subject, tt.subject)
				}
			}
			if !slices.Equal(types, tt.types) {
				t.Errorf("types = %v, want %v", types, tt.types)
			}
			if !reflect.DeepEqual(res.Skipped, tt.skipped) {
				t.Errorf("skipped = %v, want %v", res.Skipped, tt.skipped)
			}
			if len(res.Records) == 0 {
				return
			}
			r := res.Records[0]
			if tt.codes != nil {
				var codes []string
				for _, c := range r.Codes {
					codes = append(codes, c.Code)
				}
				if !slices.Equal(codes, tt.codes) {
					t.Errorf("codes = %v, want %v", codes, tt.codes)
				}
			}
			if tt.messageID != "" && r.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", r.MessageID, tt.messageID)
			}
			if tt.hasSourceID != "" && r.SourceID != tt.hasSourceID {
				t.Errorf("SourceID = %q, want %q", r.SourceID, tt.hasSourceID)
			}
			for _, e := range tt.gone {
				if _, ok := r.Resource[e]; ok {
					t.Errorf("element %s still in record", e)
				}
			}
			for _, e := range tt.kept {
				if _, ok := r.Resource[e]; !ok {
					t.Errorf("element %s dropped", e)
				}
			}
		})
	}
}

// checkRecord checks the invariants every decoded record keeps.
func checkRecord(t testing.TB, r record.Record) {
	t.Helper()
	if r.Source != src || !r.Received.Equal(received) || r.Type == "" {
		t.Errorf("record header = %q %v %q", r.Source, r.Received, r.Type)
	}
	if r.ID != record.IDFromKey(r.Key) {
		t.Errorf("ID %q is not IDFromKey(%q)", r.ID, r.Key)
	}
	if len(r.Subject) == 0 {
		t.Error("record without subject")
	}
	if r.Resource["resourceType"] != r.Type {
		t.Errorf("resourceType %v != Type %s", r.Resource["resourceType"], r.Type)
	}
	if _, ok := r.Resource["id"]; ok {
		t.Error("record keeps the source id")
	}
}

func TestBundleTransactionLinks(t *testing.T) {
	res, err := Decode(src, readFile(t, "testdata/bundle-transaction.json"), received)
	if err != nil {
		t.Fatal(err)
	}
	a, b := []record.Identifier{mrn("MRN-0003")}, []record.Identifier{mrn("MRN-0009"), scoped("Patient", "pt-9")}
	want := [][]record.Identifier{a, a, a, b, b, a} // Patient, Encounter, Observation, Patient, Condition, AllergyIntolerance
	keys := map[string]bool{}
	if len(res.Records) != len(want) {
		t.Fatalf("%d records", len(res.Records))
	}
	for i, r := range res.Records {
		keys[r.Key] = true
		if !reflect.DeepEqual(r.Subject, want[i]) {
			t.Errorf("%s subject = %v, want %v", r.Type, r.Subject, want[i])
		}
		if r.MessageID != res.Records[0].MessageID {
			t.Error("records of one message have different MessageIDs")
		}
	}
	if len(keys) != len(res.Records) {
		t.Error("keys repeat within a message")
	}
	// Other references stay, urn:uuid included.
	enc := res.Records[1].Resource
	if sp, _ := enc["serviceProvider"].(map[string]any); sp["reference"] != "urn:uuid:0f6e1d6c-0000-4000-8000-000000000002" {
		t.Errorf("serviceProvider = %v", enc["serviceProvider"])
	}
	// Redelivery yields the same keys.
	again, err := Decode(src, readFile(t, "testdata/bundle-transaction.json"), received.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Records {
		if res.Records[i].Key != again.Records[i].Key {
			t.Fatal("keys differ on redelivery")
		}
	}
}

// TestRoundTrip checks that a record's Resource is the source JSON less the
// removed elements, numbers included (UseNumber keeps 5.50 and 1e1).
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"observation.json", "patient.json", "coverage.json", "medicationrequest.json"} {
		data := readFile(t, filepath.Join("testdata", f))
		res, err := Decode(src, data, received)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var orig map[string]any
		if err := dec.Decode(&orig); err != nil {
			t.Fatal(err)
		}
		got := res.Records[0].Resource
		for _, e := range append([]string{"id"}, linkElements...) {
			if _, ok := got[e]; !ok {
				delete(orig, e)
			}
		}
		a, _ := json.Marshal(orig)
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: round trip differs:\n%s\n%s", f, a, b)
		}
		if f == "observation.json" && (!bytes.Contains(b, []byte(`"value":5.50`)) || !bytes.Contains(b, []byte(`"value":1e1`))) {
			t.Errorf("numbers not kept verbatim: %s", b)
		}
	}
}

func TestMessageIDDigest(t *testing.T) {
	data := readFile(t, "testdata/observation-absolute.json")
	res, err := Decode(src, data, received)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Records[0]
	if len(r.MessageID) != 32 || strings.Trim(r.MessageID, "0123456789abcdef") != "" {
		t.Errorf("MessageID = %q, want 32 hex digits", r.MessageID)
	}
	if r.Key != record.NewKey(src, r.MessageID, 0) {
		t.Error("Key is not NewKey(source, MessageID, 0)")
	}
	res2, _ := Decode(src, append(data, ' '), received)
	if res2.Records[0].MessageID == r.MessageID {
		t.Error("different bytes give the same digest")
	}
}

func TestLimits(t *testing.T) {
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[{},{},{}]}`
	deep := `{"resourceType":"Patient","id":"x","extension":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	tests := []struct {
		name   string
		limits Limits
		data   string
		reason string
	}{
		{"too large", Limits{MaxBytes: 10}, `{"resourceType":"Patient","id":"x"}`, ReasonTooLarge},
		{"too deep", Limits{}, deep, ReasonTooDeep},
		{"hostile depth", Limits{}, strings.Repeat("[", 1<<20), ReasonTooDeep},
		{"brackets in strings do not count", Limits{MaxDepth: 2}, `{"resourceType":"Patient","id":"x","a":"[[[[\"{{{"}`, ""},
		{"depth limit", Limits{MaxDepth: 2}, `{"resourceType":"Patient","id":"x","a":[[1]]}`, ReasonTooDeep},
		{"too many entries", Limits{MaxEntries: 2}, bundle, ReasonTooManyEntries},
		{"entries at limit", Limits{MaxEntries: 3}, bundle, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.limits.Decode(src, []byte(tt.data), received)
			var de *DecodeError
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.reason != "" && (!errors.As(err, &de) || de.Reason != tt.reason):
				t.Fatalf("err = %v, want %s", err, tt.reason)
			}
		})
	}
	if _, err := (Limits{MaxBytes: -1}).Decode(src, []byte(`{}`), received); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: err = %v", err)
	}
	if _, err := Decode("", []byte(`{}`), received); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("empty source: err = %v", err)
	}
}

// TestErrorsHidePHI plants a distinctive name wherever a malformed message
// can carry it and checks that no error or skip repeats it.
func TestErrorsHidePHI(t *testing.T) {
	const name = "Zebulon Quixmarch"
	inputs := []string{
		`{"resourceType":"Patient","name":[{"family":"` + name,
		`{"resourceType":"Patient","name":[{"family":"` + name + "\x01" + `"}]}`,
		`{"resourceType":"Patient","name":"x"} ` + name,
		`{"resourceType":"Patient","name":` + name + `}`,
		`{"resourceType":"` + name + `"}`,
		`{"resourceType":"ZebulonQuixmarch"}`,
		`{"resourceType":"Patient","name":[{"text":"` + name + `"}]}`,
		`{"resourceType":"Observation","subject":{"display":"` + name + `"}}`,
		`{"resourceType":"Observation","subject":{"reference":"` + name + `"}}`,
		`{"resourceType":"Observation","subject":{"reference":"Patient/` + name + `"}}`,
		`{"resourceType":"Observation","subject":{"reference":"urn:uuid:` + name + `"}}`,
		`{"resourceType":"Claim","patient":{"reference":"Group/` + name + `"}}`,
		`{"resourceType":"Bundle","type":"` + name + `"}`,
		`{"resourceType":"Bundle","type":"batch","entry":"` + name + `"}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"` + name + `"}}]}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"fullUrl":"` + name + `","resource":{"resourceType":"Organization"}},{"fullUrl":"` + name + `","resource":{"resourceType":"Organization"}}]}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"` + name + `"}}]}`,
		`"` + name + `"`,
	}
	for i, in := range inputs {
		res, err := Decode(src, []byte(in), received)
		if err == nil && len(res.Records) > 0 {
			continue // decoded: the name is data, not an error
		}
		for _, s := range []string{errString(err), fmtAll(err), fmtAll(res.Skipped)} {
			if strings.Contains(s, "Zebulon") || strings.Contains(s, "Quixmarch") {
				t.Errorf("input %d: output repeats the planted name: %s", i, s)
			}
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("input %d: %v is not a *DecodeError", i, err)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func fmtAll(v any) string {
	b, _ := json.Marshal(v)
	return string(b) + "|" + fmt.Sprintf("%+v %#v", v, v)
}

func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"resourceType":"Patient"}`, true},
		{"\xEF\xBB\xBF \n\t{\"resourceType\":\"Bundle\"}", true},
		{`{"id":"x"}`, false},
		{`MSH|^~\&|EHR|`, false},
		{`[{"resourceType":"Patient"}]`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("Sniff(%q) = %v", tt.in, got)
		}
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		err  *DecodeError
		want string
	}{
		{&DecodeError{Reason: ReasonTooLarge, Entry: -1, Msg: "m"}, "fhir: too-large: m"},
		{&DecodeError{Reason: ReasonUnresolvedPatient, Entry: 3}, "fhir: entry 3: unresolved-patient-reference"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
