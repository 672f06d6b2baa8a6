package codemap_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/codemap"
	"github.com/carecrest/hub/fhir"
	"github.com/carecrest/hub/hl7"
	"github.com/carecrest/hub/labels"
	"github.com/carecrest/hub/record"
)

var received = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func testSet(t *testing.T) *codemap.Set {
	t.Helper()
	s, err := codemap.Load(codemap.Config{Files: []codemap.File{
		{Source: "lis", Path: "testdata/lis.csv"},
		{Source: "pharmacy", Path: "testdata/pharmacy.yaml"},
		{Source: "ehr", Path: "testdata/ehr.json"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// codings returns the system|code pairs of a CodeableConcept.
func codings(t *testing.T, cc any) []string {
	t.Helper()
	b, _ := json.Marshal(cc)
	var v struct {
		Coding []struct{ System, Code string } `json:"coding"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range v.Coding {
		out = append(out, c.System+"|"+c.Code)
	}
	return out
}

func codes(r record.Record) []string {
	var out []string
	for _, c := range r.Codes {
		out = append(out, c.System+"|"+c.Code)
	}
	return out
}

// TestHL7LocalCodesGainStandardCodes: an LIS result coded only in the
// LIS's local system keeps that coding and gains the LOINC (and SNOMED CT)
// codes of the map; the labeller, run after, sees the standard code.
func TestHL7LocalCodesGainStandardCodes(t *testing.T) {
	msg := "MSH|^~\\&|LIS|H|HUB|H|20261125||ORU^R01|M1|P|2.5.1\r" +
		"PID|1||MRN1^^^H&1.2.3&ISO^MR||Doe^Jane\r" +
		"OBR|1|P1|F1|PANEL^Panel^L\r" +
		"OBX|1|NM|GLU^Glucose^L||105|mg/dL|||||F\r" +
		"OBX|2|CE|HIVCOMBO^HIV Ag/Ab^L||NEG^Negative^L||||||F\r" +
		"OBX|3|NM|K^Potassium||4.1|mmol/L|||||F\r"
	recs, err := hl7.Decode("lis", []byte(msg), received)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := labels.New(labels.Default())
	if err != nil {
		t.Fatal(err)
	}
	lab.Apply(recs)
	for _, r := range recs {
		if len(r.Labels) != 0 {
			t.Fatalf("local codes labelled before mapping: %v", r.Labels)
		}
	}

	testSet(t).Apply(recs)
	lab.Apply(recs)

	var obs []record.Record
	for _, r := range recs {
		if r.Type == "Observation" {
			obs = append(obs, r)
		}
	}
	if len(obs) != 3 {
		t.Fatalf("%d observations", len(obs))
	}
	want := [][]string{
		{"urn:carecrest:local:lis:L|GLU", codemap.SystemLOINC + "|2345-7"},
		{"urn:carecrest:local:lis:L|HIVCOMBO", codemap.SystemLOINC + "|75622-1", codemap.SystemSNOMED + "|31676001"},
		{"urn:carecrest:local:lis|K", codemap.SystemLOINC + "|2823-3"},
	}
	for i, o := range obs {
		if got := codings(t, o.Resource["code"]); !slices.Equal(got, want[i]) {
			t.Errorf("Observation %d code %v, want %v", i, got, want[i])
		}
		if got := codes(o); !slices.Equal(got, want[i]) {
			t.Errorf("Observation %d Codes %v, want %v", i, got, want[i])
		}
	}
	if !slices.Contains(obs[1].Labels, labels.HIV) {
		t.Errorf("HIV test labels %v: the labeller did not see the mapped LOINC code", obs[1].Labels)
	}
	if len(obs[0].Labels) != 0 {
		t.Errorf("glucose labelled %v", obs[0].Labels)
	}
	// The added coding says where it came from.
	b, _ := json.Marshal(obs[0].Resource["code"])
	if !strings.Contains(string(b), codemap.ExtensionMapped) || !strings.Contains(string(b), "codemap:lis") {
		t.Errorf("mapped coding lacks its provenance: %s", b)
	}
	// The local value code NEG is unknown to the map and left alone.
	if got := codings(t, obs[1].Resource["valueCodeableConcept"]); !slices.Equal(got, []string{"urn:carecrest:local:lis:L|NEG"}) {
		t.Errorf("value %v", got)
	}

	// Applying again adds nothing.
	before, _ := json.Marshal(recs)
	testSet(t).Apply(recs)
	after, _ := json.Marshal(recs)
	if string(before) != string(after) {
		t.Error("a second Apply changed the records")
	}
}

// TestFHIRLocalSystemsAndOtherSources: FHIR local system URIs are mapped
// wherever a CodeableConcept is (code, category, contained resources), and
// a map applies only to its own source's records.
func TestFHIRLocalSystemsAndOtherSources(t *testing.T) {
	cond := `{"resourceType":"Condition","subject":{"reference":"Patient/p1"},
	  "code":{"coding":[{"system":"http://north-hospital.example/fhir/CodeSystem/problems","code":"DM2","display":"Diabetes"}]},
	  "contained":[{"resourceType":"Observation","id":"o","code":{"coding":[{"system":"http://north-hospital.example/fhir/CodeSystem/problems","code":"DM2"}]}}]}`
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[
	  {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"MRN1"}]}},
	  {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002","resource":` + strings.Replace(cond, `"Patient/p1"`, `"urn:uuid:00000000-0000-4000-8000-000000000001"`, 1) + `}]}`
	s := testSet(t)
	for _, source := range []string{"ehr", "telemedicine"} {
		res, err := fhir.Decode(source, []byte(bundle), received)
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(res.Records)
		c := res.Records[1]
		got := codings(t, c.Resource["code"])
		inner := codings(t, c.Resource["contained"].([]any)[0].(map[string]any)["code"])
		local := "http://north-hospital.example/fhir/CodeSystem/problems|DM2"
		want := []string{local, codemap.SystemSNOMED + "|44054006", codemap.SystemICD10 + "|E11"}
		if source != "ehr" {
			want = []string{local} // the EHR's map is not the telemedicine platform's
		}
		if !slices.Equal(got, want) || !slices.Equal(inner, want) || !slices.Equal(codes(c), want) {
			t.Errorf("%s: code %v contained %v Codes %v, want %v", source, got, inner, codes(c), want)
		}
	}
}

// TestPharmacyYAML: an RDE's local drug code gains its RxNorm code.
func TestPharmacyYAML(t *testing.T) {
	msg := "MSH|^~\\&|PHARM|H|HUB|H|20261125||RDE^O11|M2|P|2.5.1\r" +
		"PID|1||MRN2^^^H&1.2.3&ISO^MR||Roe^Ann\r" +
		"ORC|NW|RX-1\rRXE|^^^^^R|AML5^Amlodipine 5^99RX|5||mg\rRXR|PO^Oral^HL70162\r"
	recs, err := hl7.Decode("pharmacy", []byte(msg), received)
	if err != nil {
		t.Fatal(err)
	}
	testSet(t).Apply(recs)
	for _, r := range recs {
		if r.Type != "MedicationRequest" {
			continue
		}
		got := codings(t, r.Resource["medicationCodeableConcept"])
		if want := []string{"urn:carecrest:local:pharmacy:99RX|AML5", codemap.SystemRxNorm + "|197361"}; !slices.Equal(got, want) {
			t.Errorf("medication %v, want %v", got, want)
		}
		return
	}
	t.Fatal("no MedicationRequest")
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, format, data, want string
	}{
		{"csv header", "csv", "a,b,c,d\nL,X,LOINC,1\n", "header row"},
		{"csv fields", "csv", "local_system,local_code,system,code\nL,X,LOINC\n", "line 2: 3 fields"},
		{"csv empty", "csv", "", "no header"},
		{"not standard", "csv", "local_system,local_code,system,code\nL,X,urn:other:local,1\n", `system "urn:other:local" is not a standard`},
		{"no code", "csv", "local_system,local_code,system,code\nL,X,LOINC, \n", "line 2: code is empty"},
		{"no local code", "yaml", "mappings:\n  - {system: LOINC, code: '1'}\n", "mappings[0]: local_code is empty"},
		{"unknown yaml field", "yaml", "mappings:\n  - {local_code: X, system: LOINC, code: '1', target: y}\n", "invalid YAML"},
		{"unknown json field", "json", `{"mappings":[{"local_code":"X","system":"LOINC","code":"1"}],"x":1}`, "invalid JSON"},
		{"nothing", "json", `{"mappings":[]}`, "no mappings"},
		{"format", "xml", "<x/>", `format "xml" unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codemap.Parse("lis", tt.format, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := codemap.Parse("LIS!", "csv", []byte("local_system,local_code,system,code\nL,X,LOINC,1\n")); err == nil {
		t.Error("invalid source accepted")
	}
}

func TestConfigValidateAndLoad(t *testing.T) {
	err := codemap.Config{Files: []codemap.File{{Source: "Lab", Path: "x.csv"}, {Source: "lis"}, {Source: "lis", Path: "map.txt"}}}.Validate()
	for _, want := range []string{`source "Lab"`, "path is required", "unknown format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if _, err := codemap.Load(codemap.Config{Files: []codemap.File{{Source: "lis", Path: "testdata/absent.csv"}}}); err == nil {
		t.Error("missing file loaded")
	}
	// Two files of one source are merged.
	dir := t.TempDir()
	extra := filepath.Join(dir, "more.csv")
	if err := os.WriteFile(extra, []byte("local_system,local_code,system,code\nL,GLU,SNOMED,33747003\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := codemap.Load(codemap.Config{Files: []codemap.File{{Source: "lis", Path: "testdata/lis.csv"}, {Source: "lis", Path: extra}}})
	if err != nil {
		t.Fatal(err)
	}
	got := s.For("lis").Lookup("urn:carecrest:local:lis:L", "GLU")
	if len(got) != 2 || got[0].Code != "2345-7" || got[1].Code != "33747003" {
		t.Errorf("merged lookup %v", got)
	}
	var nilSet *codemap.Set
	nilSet.Apply([]record.Record{{Source: "lis"}}) // no map: no-op, no panic
}

func TestLocalSystem(t *testing.T) {
	for _, tt := range [][3]string{
		{"lis", "L", "urn:carecrest:local:lis:L"},
		{"lis", "", "urn:carecrest:local:lis"},
		{"lis", "99 LAB/X", "urn:carecrest:local:lis:99-LAB-X"},
		{"lis", "http://x.example/cs", "http://x.example/cs"},
	} {
		if got := codemap.LocalSystem(tt[0], tt[1]); got != tt[2] {
			t.Errorf("LocalSystem(%q, %q) = %q, want %q", tt[0], tt[1], got, tt[2])
		}
	}
}

func ExampleMap_Apply() {
	m, _ := codemap.Parse("lis", codemap.FormatCSV, []byte("local_system,local_code,system,code,display\nL,GLU,LOINC,2345-7,Glucose\n"))
	r := record.Record{Source: "lis", Type: "Observation",
		Codes:    []record.Coding{{System: "urn:carecrest:local:lis:L", Code: "GLU"}},
		Resource: map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": "urn:carecrest:local:lis:L", "code": "GLU"}}}}}
	fmt.Println(m.Apply(&r), r.Codes)
	// Output: 1 [{urn:carecrest:local:lis:L GLU } {http://loinc.org 2345-7 Glucose}]
}
