package hl7

import (
	"reflect"
	"testing"

	"github.com/carecrest/hub/record"
)

func TestDateTime(t *testing.T) {
	tests := []struct {
		in             string
		dateTime, date string // "" means invalid
		instant        string
	}{
		{"1962", "1962", "1962", ""},
		{"196208", "1962-08", "1962-08", ""},
		{"19620816", "1962-08-16", "1962-08-16", ""},
		{"2016120112", "2016-12-01T12:00:00", "2016-12-01", ""},
		{"201612011258", "2016-12-01T12:58:00", "2016-12-01", ""},
		{"20161201125830", "2016-12-01T12:58:30", "2016-12-01", ""},
		{"20110103143428-0800", "2011-01-03T14:34:28-08:00", "2011-01-03", "2011-01-03T14:34:28-08:00"},
		{"202110201200+0215", "2021-10-20T12:00:00+02:15", "2021-10-20", "2021-10-20T12:00:00+02:15"},
		{"20210817151943.4+0200", "2021-08-17T15:19:43.4+02:00", "2021-08-17", "2021-08-17T15:19:43.4+02:00"},
		{"20210817151943.1234", "2021-08-17T15:19:43.1234", "2021-08-17", ""},
		{"19800229", "1980-02-29", "1980-02-29", ""},
		{"20240101+0100", "2024-01-01", "2024-01-01", ""}, // a date has no offset
		{" 20240101 ", "2024-01-01", "2024-01-01", ""},
		{"19810229", "", "", ""}, // not a leap year
		{"20000229", "2000-02-29", "2000-02-29", ""},
		{"19000229", "", "", ""},
		{"20241301", "", "", ""},
		{"20240132", "", "", ""},
		{"2024010124", "", "", ""},
		{"202401011260", "", "", ""},
		{"20240101120060", "", "", ""},
		{"0000", "", "", ""},
		{"196", "", "", ""},
		{"1962081", "", "", ""},
		{"2024-01-01", "", "", ""},
		{"20240101120000-08", "", "", ""},
		{"20240101120000+1500", "", "", ""},
		{"20240101120000.", "", "", ""},
		{"20240101120000.12345", "", "", ""},
		{"202401011200.5", "", "", ""}, // a fraction needs seconds
		{"", "", "", ""},
		{"abcd", "", "", ""},
	}
	for _, tt := range tests {
		got, ok := dateTime(tt.in)
		if (tt.dateTime != "") != ok || got != tt.dateTime {
			t.Errorf("dateTime(%q) = %q, %v; want %q", tt.in, got, ok, tt.dateTime)
		}
		got, ok = date(tt.in)
		if (tt.date != "") != ok || got != tt.date {
			t.Errorf("date(%q) = %q, %v; want %q", tt.in, got, ok, tt.date)
		}
		got, ok = instant(tt.in)
		if (tt.instant != "") != ok || got != tt.instant {
			t.Errorf("instant(%q) = %q, %v; want %q", tt.in, got, ok, tt.instant)
		}
	}
}

func TestTimeOfDay(t *testing.T) {
	tests := []struct{ in, want string }{
		{"08", "08:00:00"},
		{"0830", "08:30:00"},
		{"083015", "08:30:15"},
		{"083015.25", "08:30:15.25"},
		{"0830-0500", "08:30:00"},
		{"2400", ""},
		{"0860", ""},
		{"083", ""},
		{"0830.5", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := timeOfDay(tt.in)
		if (tt.want != "") != ok || got != tt.want {
			t.Errorf("timeOfDay(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"105.5", 105.5, true},
		{"-3", -3, true},
		{"+0.25", 0.25, true},
		{".5", 0.5, true},
		{"7.", 7, true},
		{" 42 ", 42, true},
		{"1e5", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"0x10", 0, false},
		{"1_000", 0, false},
		{"1.2.3", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{".", 0, false},
		{"<5", 0, false},
	}
	for _, tt := range tests {
		got, ok := number(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("number(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCodeSystem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"LN", "http://loinc.org"},
		{"SCT", "http://snomed.info/sct"},
		{"SNM", "http://snomed.info/sct"},
		{"I10", "http://hl7.org/fhir/sid/icd-10"},
		{"ICD10", "http://hl7.org/fhir/sid/icd-10"},
		{"I9C", "http://hl7.org/fhir/sid/icd-9-cm"},
		{"UCUM", "http://unitsofmeasure.org"},
		{"HL70078", "http://terminology.hl7.org/CodeSystem/v2-0078"},
		{"L", "urn:carecrest:local:lis:L"},
		{"99LAB", "urn:carecrest:local:lis:99LAB"},
		{"My System/x", "urn:carecrest:local:lis:My-System-x"},
		{"", "urn:carecrest:local:lis"},
	}
	for _, tt := range tests {
		if got := codeSystem(tt.in, "lis"); got != tt.want {
			t.Errorf("codeSystem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIdentifier(t *testing.T) {
	tests := []struct {
		cx   string
		want record.Identifier
		ok   bool
	}{
		{"M1^^^Clinic&1.2.3.4&ISO^MR", record.Identifier{System: "urn:oid:1.2.3.4", Value: "M1"}, true},
		{"M1^^^Clinic&1.2.3.4&DNS^MR", record.Identifier{System: "Clinic", Value: "M1"}, true},
		{"M1^^^&1.2.3.4&L^MR", record.Identifier{System: "1.2.3.4", Value: "M1"}, true},
		{"M1^^^Clinic&1.2.x&ISO", record.Identifier{System: "Clinic", Value: "M1"}, true}, // not an OID
		{"M1^^^&9B2F0C4E-0000-4000-8000-000000000001&UUID", record.Identifier{System: "urn:uuid:9b2f0c4e-0000-4000-8000-000000000001", Value: "M1"}, true},
		{"M1^^^&https://id.example/mrn&URI", record.Identifier{System: "https://id.example/mrn", Value: "M1"}, true},
		{"M1^^^Clinic", record.Identifier{System: "Clinic", Value: "M1"}, true},
		{"M1^^^^MR", record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "M1"}, true},
		{"M1", record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "M1"}, true},
		{"123-45^^^^SS", record.Identifier{System: "urn:carecrest:source:ehr:ss", Value: "123-45"}, true},
		{"M1^^^^bad type!", record.Identifier{System: "urn:carecrest:source:ehr:mrn", Value: "M1"}, true},
		{" M\\T\\1 ^^^A", record.Identifier{System: "A", Value: "M&1"}, true},
		{"^^^Clinic^MR", record.Identifier{}, false},
		{`""^^^Clinic`, record.Identifier{}, false},
	}
	d := Delimiters{'|', '^', '~', '\\', '&', 0}
	for _, tt := range tests {
		got, res, ok := identifier(Rep{s: tt.cx, d: d}, "ehr", "mrn")
		if ok != tt.ok || got != tt.want {
			t.Errorf("identifier(%q) = %+v, %v; want %+v", tt.cx, got, ok, tt.want)
		}
		if ok && (res["system"] != got.System || res["value"] != got.Value) {
			t.Errorf("identifier(%q) resource %v", tt.cx, res)
		}
	}
}

func TestCodeableConcept(t *testing.T) {
	d := Delimiters{'|', '^', '~', '\\', '&', 0}
	tests := []struct {
		in    string
		want  map[string]any
		codes []record.Coding
	}{
		{"2345-7^Glucose^LN^GLU^Glucose^99LAB", map[string]any{"coding": []any{
			map[string]any{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"},
			map[string]any{"system": "urn:carecrest:local:lis:99LAB", "code": "GLU", "display": "Glucose"},
		}}, []record.Coding{{System: "http://loinc.org", Code: "2345-7", Display: "Glucose"}, {System: "urn:carecrest:local:lis:99LAB", Code: "GLU", Display: "Glucose"}}},
		{"C1^^SCT^^^^^^Original", map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "C1"}}, "text": "Original"},
			[]record.Coding{{System: "http://snomed.info/sct", Code: "C1"}}},
		{"^Married", map[string]any{"text": "Married"}, nil},
		{"", nil, nil},
		{"^^LN", nil, nil},
	}
	for _, tt := range tests {
		got, codes := codeableConcept(Rep{s: tt.in, d: d}, "lis")
		if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(codes, tt.codes) {
			t.Errorf("codeableConcept(%q) = %v %v, want %v %v", tt.in, got, codes, tt.want, tt.codes)
		}
	}
}

func TestLabels(t *testing.T) {
	tests := []struct{ code, trigger, want string }{
		{"ADT", "A01", "ADT^A01"},
		{"SIU", "S12", "SIU^S12"},
		{"ORU", "", "ORU"},
		{"ADT", "JON", "ADT"},
		{"JON", "A01", "(unrecognised type)"},
		{"SMITH", "A01", "(unrecognised type)"},
		{"adt", "A01", "(unrecognised type)"},
	}
	for _, tt := range tests {
		if got := typeLabel(tt.code, tt.trigger); got != tt.want {
			t.Errorf("typeLabel(%q, %q) = %q, want %q", tt.code, tt.trigger, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		"2.5.1": "2.5.1", "2.9": "2.9", "3.0": "3.0", "19610615": "(unrecognised)", "2..5": "(unrecognised)",
		"2.": "(unrecognised)", "": "(unrecognised)", "2.5.1.2": "(unrecognised)", "v2.5": "(unrecognised)", "22.333.44": "(unrecognised)",
	} {
		if got := versionLabel(in); got != want {
			t.Errorf("versionLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{
		"2.1": true, "2.3.1": true, "2.5.1": true, "2.8": true, "2.8.2": true, "2.10": false,
		"2.9": false, "2.0": false, "3.0": false, "2": false, "2.5.": false, "2.5.1a": false, "": false,
	} {
		if got := supportedVersion(in); got != want {
			t.Errorf("supportedVersion(%q) = %v", in, got)
		}
	}
}
