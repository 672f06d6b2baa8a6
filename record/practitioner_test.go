package record

import "testing"

func TestPractitionerKey(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"Practitioner/dr-osei", "Practitioner/dr-osei", true},
		{" Practitioner/dr-osei/_history/2 ", "Practitioner/dr-osei", true},
		{"https://ehr.example/fhir/Practitioner/dr-osei", "Practitioner/dr-osei", true},
		{"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999941899", "http://hl7.org/fhir/sid/us-npi|9999941899", true},
		{"urn:oid:2.16.840.1.113883.19|1122334", "urn:oid:2.16.840.1.113883.19|1122334", true},
		{"NPI|1234567893", SystemNPI + "|1234567893", true},
		{"Practitioner?identifier=|123", "", false},
		{"Practitioner?name=osei", "", false},
		{"Patient/123", "", false},
		{"PractitionerRole/7", "", false},
		{"urn:uuid:5c1c2c3e-0000-4000-8000-000000000001", "", false},
		{"#contained", "", false},
		{"some/path/Practitioner/x", "", false},
		{"Practitioner/bad id", "", false},
		{"|x", "", false},
		{"", "", false},
	} {
		got, ok := PractitionerKey(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("PractitionerKey(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if got := PractitionerIdentifier("", "004777"); got != "Practitioner/004777" {
		t.Errorf("unqualified id = %q", got)
	}
}
