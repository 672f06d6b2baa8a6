package consent

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/internal/samples"
)

var fallback = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func loadSample(t *testing.T, rel string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(samples.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFromFHIRSamples uses the Consent examples of the FHIR R4 specification.
func TestFromFHIRSamples(t *testing.T) {
	tests := []struct {
		file string
		want Directive
	}{
		{"fhir-r4/consent-example-Out.json", Directive{ // OPTOUT policy, no type
			ID: "consent-example-Out", Decision: Deny, Recorded: day(2015, 11, 18)}},
		{"fhir-r4/consent-example.json", Directive{ // OPTIN policy, period
			ID: "consent-example-basic", Decision: Permit, Recorded: day(2016, 5, 11),
			Start: day(1964, 1, 1), End: day(2016, 1, 2)}},
		{"fhir-r4/consent-example-notOrg.json", Directive{ // type deny beats OPTIN
			ID: "consent-example-notOrg", Decision: Deny, Recorded: day(2015, 11, 18)}},
		{"fhir-r4/consent-example-notThis.json", Directive{ // OPTIN, no type
			ID: "consent-example-notThis", Decision: Permit, Recorded: day(2015, 11, 18)}},
		{"fhir-r4/consent-example-Emergency.json", Directive{
			ID: "consent-example-Emergency", Decision: Deny, Recorded: day(2015, 11, 18), Purposes: []string{"ETREAT"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := FromFHIR(loadSample(t, tt.file), "P-1", "ehr", fallback)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.PatientID, tt.want.Source, tt.want.Status = "P-1", "ehr", "active"
			got.Rules = nil // the flattened rules have their own test (TestRulesFromFHIRSamples)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFromFHIRInForce(t *testing.T) {
	d, err := FromFHIR(loadSample(t, "fhir-r4/consent-example.json"), "P-1", "ehr", fallback)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{time.Now(), false},
		{day(1963, 12, 31), false},
		{day(1964, 1, 1), true},
		{time.Date(2016, 1, 1, 23, 59, 59, 0, time.UTC), true}, // the end day is inside
		{day(2016, 1, 2), false},
	} {
		if got := d.InForce(tt.at); got != tt.want {
			t.Errorf("InForce(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestProvisionFromFHIR(t *testing.T) {
	p, err := ProvisionFromFHIR(loadSample(t, "fhir-r4/consent-example-Emergency.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Provision{
		Decision: Deny,
		Actors:   []Actor{{Role: "CST", Reference: "Organization/f001"}},
		Purposes: []string{"ETREAT"},
		Provisions: []Provision{{
			Decision: Deny,
			Actors:   []Actor{{Role: "CST", Reference: "Organization/f001"}},
		}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
	p, err = ProvisionFromFHIR(loadSample(t, "fhir-r4/consent-example-notOrg.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Actions, []string{"access", "correct"}) || p.Actors[0].Role != "PRCP" {
		t.Errorf("notOrg provision = %+v", p)
	}
	p, err = ProvisionFromFHIR(loadSample(t, "fhir-r4/consent-example-notThis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Data, []DataRef{{Meaning: "related", Reference: "Task/example3"}}) || p.Decision != Permit {
		t.Errorf("notThis provision = %+v", p)
	}
}

func consentJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFromFHIRTable(t *testing.T) {
	const head = `"resourceType":"Consent","status":"active"`
	tests := []struct {
		name    string
		json    string
		want    Directive // only the fields below are compared
		wantErr bool
	}{
		{"no provision no policy: deny", `{` + head + `}`, Directive{Decision: Deny, Recorded: fallback}, false},
		{"unknown policy code: deny", `{` + head + `,"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentpolicycodes","code":"hipaa-auth"}]}}`,
			Directive{Decision: Deny, Recorded: fallback}, false},
		{"OPTIN without system: deny", `{` + head + `,"policyRule":{"coding":[{"code":"OPTIN"}]}}`, Directive{Decision: Deny, Recorded: fallback}, false},
		{"OPTINR: permit", `{` + head + `,"policyRule":{"coding":[{"system":"urn:oid:2.16.840.1.113883.5.4","code":"OPTINR"}]}}`, Directive{Decision: Permit, Recorded: fallback}, false},
		{"OPTOUTE: deny", `{` + head + `,"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUTE"}]}}`, Directive{Decision: Deny, Recorded: fallback}, false},
		{"contradictory codings: deny", `{` + head + `,"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"},{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]}}`,
			Directive{Decision: Deny, Recorded: fallback}, false},
		{"type permit", `{` + head + `,"provision":{"type":"permit","purpose":[{"code":"TREAT"},{"code":"HPAYMT"}]}}`,
			Directive{Decision: Permit, Recorded: fallback, Purposes: []string{"TREAT", "HPAYMT"}}, false},
		{"partial dates", `{` + head + `,"dateTime":"2020-05","provision":{"type":"deny","period":{"start":"2019","end":"2021-02"}}}`,
			Directive{Decision: Deny, Recorded: day(2020, 5, 1), Start: day(2019, 1, 1), End: day(2021, 3, 1)}, false},
		{"dateTimes", `{` + head + `,"dateTime":"2020-05-01T10:00:00+02:00","provision":{"type":"deny","period":{"start":"2020-05-01T08:00:00Z","end":"2020-06-01T08:00:00.5Z"}}}`,
			Directive{Decision: Deny, Recorded: time.Date(2020, 5, 1, 8, 0, 0, 0, time.UTC),
				Start: time.Date(2020, 5, 1, 8, 0, 0, 0, time.UTC), End: time.Date(2020, 6, 1, 8, 0, 0, 600_000_000, time.UTC)}, false},
		{"not a consent", `{"resourceType":"Patient","status":"active"}`, Directive{}, true},
		{"bad status", `{"resourceType":"Consent","status":"maybe"}`, Directive{}, true},
		{"no status", `{"resourceType":"Consent"}`, Directive{}, true},
		{"bad type", `{` + head + `,"provision":{"type":"maybe"}}`, Directive{}, true},
		{"bad date", `{` + head + `,"provision":{"period":{"start":"01/02/2020"}}}`, Directive{}, true},
		{"dateTime without zone", `{` + head + `,"dateTime":"2020-05-01T10:00:00"}`, Directive{}, true},
		{"end before start", `{` + head + `,"provision":{"period":{"start":"2021","end":"2020"}}}`, Directive{}, true},
		{"provision not an object", `{` + head + `,"provision":[]}`, Directive{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromFHIR(consentJSON(t, tt.json), "P-1", "ehr", fallback)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidFHIR) {
					t.Fatalf("err = %v, want ErrInvalidFHIR", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.ID, got.PatientID, got.Status, got.Source = "", "", "", ""
			if len(got.Rules) != 1 || got.Rules[0].Decision != got.Decision {
				t.Errorf("rules = %+v, want the root provision alone", got.Rules)
			}
			got.Rules = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestProvisionNesting(t *testing.T) {
	deep := `{"type":"permit"}`
	for range maxProvisionDepth + 2 {
		deep = `{"provision":[` + deep + `]}`
	}
	if _, err := ProvisionFromFHIR(consentJSON(t, `{"resourceType":"Consent","status":"active","provision":`+deep+`}`)); !errors.Is(err, ErrInvalidFHIR) {
		t.Errorf("deep nesting: err = %v", err)
	}
	p, err := ProvisionFromFHIR(consentJSON(t, `{"resourceType":"Consent","status":"active","provision":{"type":"permit","provision":[{"class":[{"code":"Observation"}],"code":[{"coding":[{"system":"http://loinc.org","code":"8302-2"}]}],"dataPeriod":{"end":"2020"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	n := p.Provisions[0]
	if n.Decision != Deny || n.Classes[0] != "Observation" || n.Codes[0] != "http://loinc.org|8302-2" || !n.DataEnd.Equal(day(2021, 1, 1)) {
		t.Errorf("nested = %+v", n)
	}
}

// TestFromFHIRErrorsHidePHI checks that errors name elements, not values.
func TestFromFHIRErrorsHidePHI(t *testing.T) {
	const name = "Zebulon Quixmarch"
	for _, s := range []string{
		`{"resourceType":"` + name + `"}`,
		`{"resourceType":"Consent","status":"` + name + `"}`,
		`{"resourceType":"Consent","status":"active","dateTime":"` + name + `"}`,
		`{"resourceType":"Consent","status":"active","provision":{"type":"` + name + `"}}`,
		`{"resourceType":"Consent","status":"active","provision":{"period":{"end":"` + name + `"}}}`,
	} {
		_, err := FromFHIR(consentJSON(t, s), "P-1", "ehr", fallback)
		if err == nil || strings.Contains(err.Error(), "Zebulon") {
			t.Errorf("err = %v", err)
		}
	}
}

// FuzzFromFHIR checks that FromFHIR and ProvisionFromFHIR never panic and
// fail only with ErrInvalidFHIR.
func FuzzFromFHIR(f *testing.F) {
	f.Add(`{"resourceType":"Consent","status":"active","provision":{"type":"deny","period":{"start":"2019","end":"2021-02"},"provision":[{"purpose":[{"code":"X"}]}]}}`)
	f.Add(`{"resourceType":"Consent","status":"active","dateTime":"2020-05-01T10:00:00.123+02:00","policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		if _, err := FromFHIR(m, "P-1", "ehr", fallback); err != nil && !errors.Is(err, ErrInvalidFHIR) {
			t.Fatal(err)
		}
		if _, err := ProvisionFromFHIR(m); err != nil && !errors.Is(err, ErrInvalidFHIR) {
			t.Fatal(err)
		}
	})
}
