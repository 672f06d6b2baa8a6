package consent

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestRulesFromFHIRSamples checks the rules each FHIR R4 example flattens
// to, read as its narrative describes.
func TestRulesFromFHIRSamples(t *testing.T) {
	f001 := Actor{Role: "PRCP", Reference: "Organization/f001"}
	tests := []struct {
		file string
		want []Rule
	}{
		// "no data at the hospital available": a custodian only, so one deny.
		{"fhir-r4/consent-example-Out.json", []Rule{{Path: PathRoot, Decision: Deny}}},
		// Opt-in for a period (the Directive carries the period).
		{"fhir-r4/consent-example.json", []Rule{{Path: PathRoot, Decision: Permit}}},
		// Opt-in, except Organization/f001 may not access or correct.
		{"fhir-r4/consent-example-notOrg.json", []Rule{
			{Path: PathBase, Decision: Permit},
			{Path: PathRoot, Depth: 1, Decision: Deny, Actors: [][]Actor{{f001}}, Actions: []string{"access", "correct"}},
		}},
		// Opt-in, except one record and what relates to it.
		{"fhir-r4/consent-example-notThis.json", []Rule{
			{Path: PathBase, Decision: Permit},
			{Path: PathRoot, Depth: 1, Decision: Deny, Data: []string{"Task/example3"}},
		}},
		// Emergency only: deny, permit ETREAT.
		{"fhir-r4/consent-example-Emergency.json", []Rule{
			{Path: PathBase, Decision: Deny},
			{Path: PathRoot, Depth: 1, Decision: Permit, Purposes: []string{"ETREAT"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := FromFHIR(loadSample(t, tt.file), "P-1", "ehr", fallback)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Rules, tt.want) {
				t.Errorf("rules\ngot  %+v\nwant %+v", d.Rules, tt.want)
			}
		})
	}
}

func TestFlattenNested(t *testing.T) {
	const src = `{"resourceType":"Consent","status":"active",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
	  "provision":{"type":"permit","purpose":[{"code":"TREAT"},{"code":"HRESCH"}],
	    "actor":[{"role":{"coding":[{"code":"IRCP"}]},"reference":{"reference":"Organization/clinic"}}],
	    "provision":[
	      {"type":"deny","securityLabel":[{"code":"ETH"}],
	        "provision":[{"type":"permit","purpose":[{"code":"TREAT"}],"period":{"start":"2026-01-01","end":"2026-12-31"},
	          "actor":[{"reference":{"reference":"Practitioner/dr-a"}}]}]},
	      {"type":"deny","purpose":[{"code":"PUBHLTH"}]},
	      {"type":"deny","class":[{"code":"Observation"}],"data":[{"meaning":"instance","reference":{"reference":"Observation/o-1"}}]}
	    ]}}`
	var res map[string]any
	if err := json.Unmarshal([]byte(src), &res); err != nil {
		t.Fatal(err)
	}
	d, err := FromFHIR(res, "P-1", "ehr", fallback)
	if err != nil {
		t.Fatal(err)
	}
	clinic := []Actor{{Role: "IRCP", Reference: "Organization/clinic"}}
	want := []Rule{
		{Path: PathBase, Decision: Deny},
		{Path: PathRoot, Depth: 1, Decision: Permit, Purposes: []string{"TREAT", "HRESCH"}, Actors: [][]Actor{clinic}},
		{Path: "provision.provision[0]", Depth: 2, Decision: Deny, Purposes: []string{"TREAT", "HRESCH"},
			Actors: [][]Actor{clinic}, SecurityLabels: []string{"ETH"}},
		{Path: "provision.provision[0].provision[0]", Depth: 3, Decision: Permit, Purposes: []string{"TREAT"},
			Actors: [][]Actor{clinic, {{Reference: "Practitioner/dr-a"}}}, SecurityLabels: []string{"ETH"},
			Start: day(2026, 1, 1), End: day(2027, 1, 1)},
		// provision[1] (PUBHLTH under TREAT/HRESCH) can never hold: no rule.
		{Path: "provision.provision[2]", Depth: 2, Decision: Deny, Purposes: []string{"TREAT", "HRESCH"},
			Actors: [][]Actor{clinic}, Classes: []string{"Observation"}, Data: []string{"Observation/o-1"}},
	}
	if !reflect.DeepEqual(d.Rules, want) {
		t.Errorf("rules\ngot  %+v\nwant %+v", d.Rules, want)
	}
}

func TestEffectiveRulesOfLegacyDirective(t *testing.T) {
	d := Directive{ID: "c-1", Status: "active", Decision: Deny, Purposes: []string{"HRESCH"}}
	want := []Rule{{Path: PathRoot, Decision: Deny, Purposes: []string{"HRESCH"}}}
	if got := d.EffectiveRules(); !reflect.DeepEqual(got, want) {
		t.Errorf("EffectiveRules = %+v, want %+v", got, want)
	}
	// A stored directive (JSON without rules) still decodes.
	var old Directive
	if err := json.Unmarshal([]byte(`{"id":"c-1","patient":"P1","status":"active","decision":"deny","recorded":"2020-01-01T00:00:00Z","source":"ehr"}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Rules != nil || len(old.EffectiveRules()) != 1 {
		t.Errorf("old directive = %+v", old)
	}
}

func TestIntersectAndWithin(t *testing.T) {
	if got, ok := intersect([]string{"A", "B"}, []string{"B", "C"}); !ok || !reflect.DeepEqual(got, []string{"B"}) {
		t.Errorf("intersect = %v %v", got, ok)
	}
	if _, ok := intersect([]string{"A"}, []string{"C"}); ok {
		t.Error("disjoint lists conjoined")
	}
	if _, _, ok := within(day(2020, 1, 1), day(2021, 1, 1), day(2021, 1, 1), day(2022, 1, 1)); ok {
		t.Error("touching half-open periods overlap")
	}
}
