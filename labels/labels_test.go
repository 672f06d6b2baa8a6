package labels

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/carecrest/hub/record"
)

func mustNew(t testing.TB, cfg Config) *Labeler {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func c(system, code string) record.Coding { return record.Coding{System: system, Code: code} }

// TestDefault checks the starter rules per category and code system.
func TestDefault(t *testing.T) {
	l := mustNew(t, Default())
	for _, tc := range []struct {
		name string
		code record.Coding
		want []string
	}{
		// ICD-10-CM and ICD-10, with and without dots, any case.
		{"alcohol dependence CM", c(SystemICD10CM, "F10.20"), []string{SUD}},
		{"opioid dependence dotless", c(SystemICD10CM, "F1120"), []string{SUD}},
		{"lower case", c(SystemICD10, "f19.1"), []string{SUD}},
		{"nicotine is not SUD", c(SystemICD10CM, "F17.210"), nil},
		{"dementia not labelled", c(SystemICD10CM, "F03.90"), nil},
		{"alcohol counselling CM", c(SystemICD10CM, "Z71.41"), []string{SUD}},
		{"alcohol counselling ICD-10", c(SystemICD10, "Z71.4"), []string{SUD}},
		{"CM-only code in ICD-10", c(SystemICD10, "Z71.41"), nil},
		{"schizophrenia", c(SystemICD10CM, "F20.9"), []string{MH}},
		{"major depression", c(SystemICD10, "F32.1"), []string{MH}},
		{"F99", c(SystemICD10CM, "F99"), []string{MH}},
		{"suicidal ideation", c(SystemICD10CM, "R45.851"), []string{MH}},
		{"HIV disease", c(SystemICD10CM, "B20"), []string{HIV}},
		{"asymptomatic HIV", c(SystemICD10, "Z21"), []string{HIV}},
		{"HIV in pregnancy", c(SystemICD10CM, "O98.711"), []string{HIV}},
		{"syphilis", c(SystemICD10CM, "A51.0"), []string{STD}},
		{"chlamydia", c(SystemICD10, "A56.0"), []string{STD}},
		{"A65 is not STD", c(SystemICD10, "A65"), nil},
		{"ectopic pregnancy", c(SystemICD10CM, "O00.101"), []string{REPRO}},
		{"O09 is not abortive", c(SystemICD10CM, "O09.511"), nil},
		{"contraception", c(SystemICD10CM, "Z30.011"), []string{REPRO}},
		{"elective termination", c(SystemICD10CM, "Z33.2"), []string{REPRO}},
		{"genetic testing for procreation", c(SystemICD10CM, "Z31.430"), []string{GENETIC, REPRO}},
		{"Down syndrome", c(SystemICD10, "Q90.9"), []string{GENETIC}},
		{"BRCA susceptibility", c(SystemICD10CM, "Z15.01"), []string{GENETIC}},
		// SNOMED CT.
		{"SCT alcohol dependence", c(SystemSNOMED, "66590003"), []string{SUD}},
		{"SCT depression", c(SystemSNOMED, "35489007"), []string{MH}},
		{"SCT HIV", c(SystemSNOMED, "86406008"), []string{HIV}},
		{"SCT gonorrhoea", c(SystemSNOMED, "15628003"), []string{STD}},
		{"SCT termination", c(SystemSNOMED, "386639001"), []string{REPRO}},
		{"SCT cystic fibrosis", c(SystemSNOMED, "190905008"), []string{GENETIC}},
		{"SCT no prefix match", c(SystemSNOMED, "3548900"), nil},
		// LOINC.
		{"HIV Ab", c(SystemLOINC, "7917-8"), []string{HIV}},
		{"HIV panel", c(SystemLOINC, "75622-1"), []string{HIV}},
		{"RPR", c(SystemLOINC, "20507-0"), []string{STD}},
		{"cocaine screen", c(SystemLOINC, "3393-6"), []string{SUD}},
		{"BRCA1", c(SystemLOINC, "21636-6"), []string{GENETIC}},
		{"glucose", c(SystemLOINC, "2345-7"), nil},
		// RxNorm.
		{"buprenorphine", c(SystemRxNorm, "1819"), []string{SUD}},
		{"methadone", c(SystemRxNorm, "6813"), []string{SUD}},
		{"naltrexone", c(SystemRxNorm, "7243"), []string{SUD}},
		{"RxNorm exact only", c(SystemRxNorm, "18190"), nil},
		// Systems.
		{"unknown system", c("urn:carecrest:local:lis", "F10.20"), nil},
		{"no system", c("", "B20"), nil},
		{"code without system match", c(SystemLOINC, "F10.20"), nil},
		{"padded code", c(SystemLOINC, " 7917-8 "), []string{HIV}},
		{"empty code", c(SystemICD10CM, ""), nil},
		{"long code", c(SystemICD10CM, strings.Repeat("F", 200)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.Label([]record.Coding{tc.code}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Label(%v) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
}

func TestDefaultCoversEveryCategory(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{SUD, MH, HIV, STD, REPRO, GENETIC} {
		systems := map[string]bool{}
		for _, r := range cfg.Rules {
			if r.Label == label {
				systems[r.System] = true
			}
		}
		if len(systems) == 0 {
			t.Errorf("no rule for %s", label)
		}
		for _, sys := range []string{SystemICD10, SystemICD10CM, SystemSNOMED} {
			if !systems[sys] {
				t.Errorf("%s has no %s rule", label, sys)
			}
		}
	}
	if got := mustNew(t, cfg).Labels(); !reflect.DeepEqual(got, []string{"BH", "ETH", "GDIS", "HIV", "SEX", "STD"}) {
		t.Errorf("Labels() = %v", got)
	}
}

func TestPrefixVersusExact(t *testing.T) {
	l := mustNew(t, Config{Rules: []Rule{
		{Label: "A", System: "s", Codes: []string{"123"}},
		{Label: "B", System: "s", Prefixes: []string{"12"}},
		{Label: "C", System: "s", Prefixes: []string{"1234"}},
	}})
	for code, want := range map[string][]string{
		"123":   {"A", "B"},
		"1234":  {"B", "C"},
		"12345": {"B", "C"},
		"12":    {"B"},
		"1":     nil,
		"124":   {"B"},
		"0123":  nil,
	} {
		if got := l.Label([]record.Coding{c("s", code)}); !reflect.DeepEqual(got, want) {
			t.Errorf("Label(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestSortedAndDeduplicated(t *testing.T) {
	l := mustNew(t, Default())
	codes := []record.Coding{
		c(SystemSNOMED, "86406008"),  // HIV
		c(SystemICD10CM, "F10.20"),   // ETH
		c(SystemRxNorm, "1819"),      // ETH again
		c(SystemICD10CM, "A51.0"),    // STD
		c(SystemICD10CM, "F32.9"),    // BH
		c(SystemICD10CM, "B20"),      // HIV again
		c("urn:unknown", "whatever"), // nothing
		c(SystemICD10CM, "Z31.430"),  // GDIS, SEX
	}
	want := []string{"BH", "ETH", "GDIS", "HIV", "SEX", "STD"}
	for range 50 {
		slices.Reverse(codes)
		if got := l.Label(codes); !reflect.DeepEqual(got, want) {
			t.Fatalf("Label = %v, want %v", got, want)
		}
	}
	if got := l.Label(nil); got != nil {
		t.Errorf("Label(nil) = %v", got)
	}
}

func TestApply(t *testing.T) {
	l := mustNew(t, Default())
	recs := []record.Record{
		{Codes: []record.Coding{c(SystemICD10CM, "F10.20"), c(SystemLOINC, "7917-8")}},
		{Codes: []record.Coding{c(SystemLOINC, "2345-7")}},
		{Labels: []string{"R", "HIV"}, Codes: []record.Coding{c(SystemSNOMED, "86406008"), c(SystemICD10CM, "F20.9")}},
		{Labels: []string{"PSY"}},
	}
	l.Apply(recs)
	want := [][]string{{"ETH", "HIV"}, nil, {"BH", "HIV", "R"}, {"PSY"}}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Labels, want[i]) {
			t.Errorf("record %d: Labels = %v, want %v", i, r.Labels, want[i])
		}
	}
}

func TestApplyDoesNotAliasCallerLabels(t *testing.T) {
	l := mustNew(t, Default())
	orig := make([]string, 1, 8)
	orig[0] = "R"
	recs := []record.Record{{Labels: orig, Codes: []record.Coding{c(SystemRxNorm, "1819")}}}
	l.Apply(recs)
	if !reflect.DeepEqual(recs[0].Labels, []string{"ETH", "R"}) || orig[0] != "R" {
		t.Errorf("Labels = %v, caller's slice = %v", recs[0].Labels, orig[:1])
	}
}

func TestValidate(t *testing.T) {
	many := Config{}
	for i := range MaxLabels + 1 {
		many.Rules = append(many.Rules, Rule{Label: "L" + strings.Repeat("x", i%60) + string(rune('a'+i%26)), System: "s", Codes: []string{"1"}})
	}
	for name, cfg := range map[string]Config{
		"no rules":     {},
		"empty label":  {Rules: []Rule{{System: "s", Codes: []string{"1"}}}},
		"bad label":    {Rules: []Rule{{Label: "E T H", System: "s", Codes: []string{"1"}}}},
		"empty system": {Rules: []Rule{{Label: "ETH", System: " ", Codes: []string{"1"}}}},
		"no codes":     {Rules: []Rule{{Label: "ETH", System: "s"}}},
		"empty code":   {Rules: []Rule{{Label: "ETH", System: "s", Codes: []string{""}}}},
		"empty prefix": {Rules: []Rule{{Label: "ETH", System: SystemICD10, Prefixes: []string{"."}}}},
		"too many":     many,
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestLoad(t *testing.T) {
	y, err := Load("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := Load("testdata/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	// A hospital's file extends the defaults.
	cfg := Config{Rules: slices.Concat(Default().Rules, y.Rules, j.Rules)}
	l := mustNew(t, cfg)
	for _, tc := range []struct {
		code record.Coding
		want []string
	}{
		{c("urn:carecrest:local:lis", "TOX-PANEL-9"), []string{"ETH"}},
		{c("urn:carecrest:local:lis", "GC-CT-NAAT"), []string{"STD"}},
		{c(SystemLOINC, "11488-4"), []string{"PSY"}},
		{c(SystemLOINC, "PSY-NOTE-1"), []string{"PSY"}},
		{c(SystemICD10CM, "B20"), []string{"HIV"}}, // lower-case prefix b20 normalized
		{c(SystemSNOMED, "169826009"), []string{"SEX"}},
		{c(SystemLOINC, "7917-8"), []string{"HIV"}}, // defaults still apply
	} {
		if got := l.Label([]record.Coding{tc.code}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Label(%v) = %v, want %v", tc.code, got, tc.want)
		}
	}
	for _, bad := range []string{"testdata/unknown-field.yaml", "testdata/invalid-rule.json", "testdata/absent.yaml"} {
		if _, err := Load(bad); err == nil {
			t.Errorf("Load(%s) accepted", bad)
		}
	}
}

func TestLabelDoesNotAllocateWithoutMatch(t *testing.T) {
	l := mustNew(t, Default())
	codes := []record.Coding{c(SystemLOINC, "2345-7"), c(SystemICD10CM, "E11.9"), c("urn:x", "1")}
	if n := testing.AllocsPerRun(100, func() { _ = l.Label(codes) }); n != 0 {
		t.Errorf("Label allocates %v times without a match", n)
	}
	codes = append(codes, c(SystemICD10CM, "F10.20"), c(SystemLOINC, "7917-8"))
	if n := testing.AllocsPerRun(100, func() { _ = l.Label(codes) }); n != 1 {
		t.Errorf("Label allocates %v times with matches, want 1 (the result)", n)
	}
}
