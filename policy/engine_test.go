package policy

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/consent"
	hubrego "github.com/carecrest/hub/rego"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// policyDir copies the embedded policy into a fresh directory and applies
// the given file overrides (name -> content; "" removes the file).
func policyDir(t *testing.T, overrides map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(hubrego.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(hubrego.FS, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, overrides)
	return dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if content == "" {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func reader(purpose string, roles ...string) Subject {
	return Subject{ID: "u-1", Kind: "user", Roles: roles, Purpose: purpose}
}

// readInput is a read with a care relationship (clinicians need one for
// TREAT; "relationship required" has its own case).
func readInput(s Subject, recordType string, consents ...consent.Directive) Input {
	return Input{
		Action: ActionRead, Subject: s, PatientID: "p-1", RecordType: recordType,
		Consents: consents, Relationship: true, Now: now,
	}
}

func writeInput(source, recordType string) Input {
	return Input{
		Action:     ActionWrite,
		Subject:    Subject{ID: source, Kind: "system", Roles: []string{"source-system"}},
		PatientID:  "p-1",
		RecordType: recordType,
		Now:        now,
	}
}

func optOut(id string) consent.Directive {
	return consent.Directive{
		ID: id, PatientID: "p-1", Status: "active", Decision: consent.Deny,
		Start: now.AddDate(0, -2, 0), Recorded: now.AddDate(0, -2, 0), Source: "ehr",
	}
}

func TestDecide(t *testing.T) {
	e := newEngine(t, Config{})

	expired := optOut("c-old")
	expired.End = now.AddDate(0, -1, 0)
	otherPurpose := optOut("c-research")
	otherPurpose.Purposes = []string{"HRESCH"}
	breakGlass := reader("ETREAT", "physician")
	breakGlass.BreakGlassReason = "unconscious patient in ED"
	route := readInput(reader("TREAT", "nurse"), "Observation")
	route.Action = ActionRoute
	writeWithOptOut := writeInput("ehr", "Observation")
	writeWithOptOut.Consents = []consent.Directive{optOut("c-1")}
	zeroNow := readInput(reader("TREAT", "physician"), "Observation", expired)
	zeroNow.Now = time.Time{}

	tests := []struct {
		name         string
		in           Input
		allow        bool
		fields       []string // nil: not checked (on a deny: must be empty)
		rules        []string // must all be present
		consents     []string // exact
		reason       string   // must be present when set
		allowField   string   // AllowsField must be true
		withheldFrom string   // AllowsField must be false
	}{
		{
			name: "physician TREAT Observation all fields", in: readInput(reader("TREAT", "physician"), "Observation"),
			allow: true, fields: []string{"*"}, rules: []string{"read.role-purpose"}, allowField: "valueQuantity",
		},
		{
			name: "billing clerk HPAYMT Patient masked", in: readInput(reader("HPAYMT", "billing_clerk"), "Patient"),
			allow: true, fields: []string{"address", "birthDate", "identifier", "name"},
			allowField: "name", withheldFrom: "telecom",
		},
		{
			name: "billing clerk HPAYMT Coverage all fields", in: readInput(reader("HPAYMT", "billing_clerk"), "Coverage"),
			allow: true, fields: []string{"*"},
		},
		{
			name: "billing clerk HPAYMT Observation denied", in: readInput(reader("HPAYMT", "billing_clerk"), "Observation"),
			rules: []string{"read.type-not-permitted"}, reason: "record type not permitted for role and purpose",
			withheldFrom: "valueQuantity",
		},
		{
			name: "lab technician TREAT Patient masked", in: readInput(reader("TREAT", "lab_technician"), "Patient"),
			allow: true, fields: []string{"birthDate", "gender", "identifier", "name"}, withheldFrom: "address",
		},
		{
			name: "registration clerk HOPERAT Observation denied", in: readInput(reader("HOPERAT", "registration_clerk"), "Observation"),
			rules: []string{"read.type-not-permitted"},
		},
		{
			name: "privacy officer denied clinical read", in: readInput(reader("TREAT", "privacy_officer"), "Observation"),
			rules: []string{"read.purpose-not-permitted"},
		},
		{
			name: "opt-out blocks read", in: readInput(reader("TREAT", "physician"), "Observation", optOut("c-1")),
			rules: []string{"consent.opt-out", "read.role-purpose"}, consents: []string{"c-1"},
			reason: "patient opted out for this purpose",
		},
		{
			name: "opt-out blocks route", in: func() Input { r := route; r.Consents = []consent.Directive{optOut("c-1")}; return r }(),
			rules: []string{"consent.opt-out"}, consents: []string{"c-1"},
		},
		{
			name: "break-glass overrides opt-out", in: readInput(breakGlass, "Observation", optOut("c-1")),
			allow: true, fields: []string{"*"}, rules: []string{"break-glass", "consent.opt-out", "read.role-purpose"},
			consents: []string{"c-1"},
		},
		{
			name: "break-glass without reason denied", in: readInput(reader("ETREAT", "physician"), "Observation", optOut("c-1")),
			rules: []string{"break-glass.reason-required", "consent.opt-out"}, consents: []string{"c-1"},
		},
		{
			name: "expired opt-out does not apply", in: readInput(reader("TREAT", "physician"), "Observation", expired),
			allow: true, fields: []string{"*"}, rules: []string{"read.role-purpose"},
		},
		{
			name: "opt-out for another purpose does not apply", in: readInput(reader("TREAT", "physician"), "Observation", otherPurpose),
			allow: true, fields: []string{"*"},
		},
		{
			name: "zero Now is the evaluation clock", in: zeroNow,
			allow: true, fields: []string{"*"},
		},
		{
			name: "physician without care relationship denied",
			in: func() Input {
				i := readInput(reader("TREAT", "physician"), "Observation")
				i.Relationship = false
				return i
			}(),
			rules: []string{"read.relationship-required"}, reason: "care relationship required",
		},
		{
			name: "unknown role denied", in: readInput(reader("TREAT", "janitor"), "Observation"),
			rules: []string{"read.role-unknown"}, reason: "subject holds no known role",
		},
		{
			name: "unknown purpose denied", in: readInput(reader("MARKETING", "physician"), "Observation"),
			rules: []string{"read.purpose-unknown"},
		},
		{
			name: "route follows read rules", in: route,
			allow: true, fields: []string{"*"}, rules: []string{"read.role-purpose"},
		},
		{
			name: "write lis Observation allowed", in: writeInput("lis", "Observation"),
			allow: true, fields: []string{"*"}, rules: []string{"write.source-allowed"},
		},
		{
			name: "write lis Patient denied", in: writeInput("lis", "Patient"),
			rules: []string{"write.type-not-permitted"},
		},
		{
			name: "write unknown source denied", in: writeInput("fax-gateway", "Observation"),
			rules: []string{"write.source-unknown"},
		},
		{
			name: "write not blocked by consent", in: writeWithOptOut,
			allow: true, fields: []string{"*"}, rules: []string{"write.source-allowed"},
		},
		{
			name: "unknown action denied", in: func() Input { i := writeInput("lis", "Observation"); i.Action = "delete"; return i }(),
			rules: []string{"action.unknown"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tc.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Revision != e.Revision() {
				t.Errorf("Revision = %q, want %q", d.Revision, e.Revision())
			}
			if d.Allow != tc.allow {
				t.Fatalf("Allow = %v, want %v (rules %v, reasons %v)", d.Allow, tc.allow, d.Rules, d.Reasons)
			}
			if !tc.allow && len(d.Fields) != 0 {
				t.Errorf("deny carries fields %v", d.Fields)
			}
			if tc.fields != nil && !slices.Equal(d.Fields, tc.fields) {
				t.Errorf("Fields = %v, want %v", d.Fields, tc.fields)
			}
			for _, r := range tc.rules {
				if !slices.Contains(d.Rules, r) {
					t.Errorf("Rules = %v, missing %q", d.Rules, r)
				}
			}
			if !slices.Equal(d.Consents, tc.consents) {
				t.Errorf("Consents = %v, want %v", d.Consents, tc.consents)
			}
			if tc.reason != "" && !slices.Contains(d.Reasons, tc.reason) {
				t.Errorf("Reasons = %v, missing %q", d.Reasons, tc.reason)
			}
			if len(d.Reasons) == 0 {
				t.Errorf("no reasons")
			}
			if tc.allowField != "" && !d.AllowsField(tc.allowField) {
				t.Errorf("AllowsField(%q) = false", tc.allowField)
			}
			if tc.withheldFrom != "" && d.AllowsField(tc.withheldFrom) {
				t.Errorf("AllowsField(%q) = true", tc.withheldFrom)
			}
		})
	}
}

// TestInputMatchesJSON pins the hand-built AST input to the shape
// json.Marshal gives the same Input, so the policy can be run by hand on a
// JSON-encoded input (opa eval -i) and see what the engine sees.
func TestInputMatchesJSON(t *testing.T) {
	full := Input{
		Action: ActionRead,
		Subject: Subject{
			ID: "u-1", Kind: "user", Roles: []string{"physician", "nurse"}, Org: "org-1",
			Purpose: "ETREAT", BreakGlassReason: "code blue",
		},
		PatientID:  "p-1",
		RecordType: "Observation",
		Labels:     []string{"PSY", "HIV"},
		Consents: []consent.Directive{
			{ID: "c-1", PatientID: "p-1", Status: "active", Decision: "deny", Purposes: []string{"TREAT"},
				Start: now.Add(-time.Hour), End: now.Add(time.Hour), Recorded: now.Add(-2 * time.Hour), Source: "ehr"},
			{ID: "c-2", PatientID: "p-1", Status: "inactive", Decision: "permit", Recorded: now, Source: "hie"},
		},
		Relationship: true,
		Now:          time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600)),
	}
	full.Subject.Refs = []string{"Practitioner/dr-a"}
	full.BreakGlass = &BreakGlass{Reason: "code blue", Started: now.Add(-time.Hour)}
	full.Profile = "gdpr"
	full.Codes = []string{"http://loinc.org|1-8"}
	full.DataRefs = []string{"Task/example3"}
	full.DataTime = now.Add(-48 * time.Hour)
	full.Consents[0].Rules = []consent.Rule{
		{Path: "policyRule", Decision: "permit"},
		{Path: "provision", Depth: 1, Decision: "deny", Actors: [][]consent.Actor{{{Role: "PRCP", Reference: "Organization/f001"}, {Role: "IRCP"}}},
			Actions: []string{"access"}, SecurityLabels: []string{"ETH"}, Purposes: []string{"TREAT"}, Classes: []string{"Observation"},
			Codes: []string{"s|c"}, Data: []string{"Task/1"}, Start: now, End: now.Add(time.Hour), DataStart: now.Add(-time.Hour), DataEnd: now},
	}
	known := Input{Codes: []string{}, DataRefs: []string{}, BreakGlass: &BreakGlass{}}
	for name, in := range map[string]Input{"full": full, "zero": {}, "empty roles": {Subject: Subject{Roles: []string{}}}, "known empty": known} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := util.UnmarshalJSON(b, &doc); err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := inputValue(&in); got.Compare(want) != 0 {
				t.Errorf("input\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestRevision(t *testing.T) {
	e := newEngine(t, Config{})
	if !regexp.MustCompile(`^sha256:[0-9a-f]{12}$`).MatchString(e.Revision()) {
		t.Fatalf("Revision = %q", e.Revision())
	}
	// The same files in a directory are the same revision; test modules and
	// other files do not count.
	dir := policyDir(t, map[string]string{
		"authz_test.rego": "package carecrest.authz_test\n\ntest_x if true\n",
		"README.md":       "notes",
	})
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := newEngine(t, Config{Dir: dir}).Revision(); got != e.Revision() {
		t.Errorf("dir revision %q, embedded %q", got, e.Revision())
	}
	writeFiles(t, dir, map[string]string{"extra.rego": "package carecrest.extra\n\nx := 1\n"})
	if got := newEngine(t, Config{Dir: dir}).Revision(); got == e.Revision() {
		t.Errorf("revision unchanged after adding a module")
	}
}

// TestUndefinedDecisionDenies: a policy that defines no decision for an
// input denies, without an error.
func TestUndefinedDecisionDenies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"authz.rego": `package carecrest.authz

decision := {"allow": true, "fields": ["*"]} if input.action == "never"
`})
	e := newEngine(t, Config{Dir: dir})
	d, err := e.Decide(context.Background(), readInput(reader("TREAT", "physician"), "Observation"))
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if d.Allow || len(d.Fields) != 0 {
		t.Errorf("undefined decision allowed: %+v", d)
	}
	if !slices.Equal(d.Reasons, []string{ReasonUndefined}) || d.Revision != e.Revision() {
		t.Errorf("decision %+v", d)
	}
}

// TestMalformedDecisionDenies: a decision of the wrong shape is a deny with
// ErrEvaluation, even when it says allow.
func TestMalformedDecisionDenies(t *testing.T) {
	for name, rule := range map[string]string{
		"not an object":     `decision := true`,
		"allow missing":     `decision := {"fields": ["*"]}`,
		"allow not boolean": `decision := {"allow": "true"}`,
		"fields not array":  `decision := {"allow": true, "fields": "*"}`,
		"fields as set":     `decision := {"allow": true, "fields": {"*"}}`,
		"rule not string":   `decision := {"allow": true, "rules": [1]}`,
		"reasons not array": `decision := {"allow": true, "reasons": {"a": 1}}`,
		"consents null":     `decision := {"allow": true, "consents": null}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"authz.rego": "package carecrest.authz\n\n" + rule + "\n"})
			e := newEngine(t, Config{Dir: dir})
			d, err := e.Decide(context.Background(), writeInput("lis", "Observation"))
			if !errors.Is(err, ErrEvaluation) {
				t.Fatalf("err = %v, want ErrEvaluation", err)
			}
			if d.Allow || len(d.Fields) != 0 || d.Revision != e.Revision() {
				t.Errorf("decision %+v", d)
			}
			if !slices.Equal(d.Reasons, []string{ReasonMalformed}) {
				t.Errorf("Reasons = %v", d.Reasons)
			}
		})
	}
}

func TestEvaluationErrorDenies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"authz.rego": `package carecrest.authz

decision := {"allow": true} if input.action == "write"

decision := {"allow": false} if input.subject.kind == "system"
`})
	e := newEngine(t, Config{Dir: dir})
	d, err := e.Decide(context.Background(), writeInput("lis", "Observation")) // both rules: conflict
	if !errors.Is(err, ErrEvaluation) {
		t.Fatalf("err = %v, want ErrEvaluation", err)
	}
	if d.Allow || d.Revision != e.Revision() || !slices.Equal(d.Reasons, []string{ReasonEvalError}) {
		t.Errorf("decision %+v", d)
	}
}

func TestCancelledContextDenies(t *testing.T) {
	e := newEngine(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := e.Decide(ctx, readInput(reader("TREAT", "physician"), "Observation"))
	if !errors.Is(err, ErrEvaluation) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrEvaluation and context.Canceled", err)
	}
	if d.Allow || d.Revision == "" {
		t.Errorf("decision %+v", d)
	}
}

func TestNewRejects(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	writeFiles(t, filepath.Dir(file), map[string]string{"f": "x"})
	cases := map[string]Config{
		"missing dir":    {Dir: filepath.Join(t.TempDir(), "nope")},
		"dir is a file":  {Dir: file},
		"no module":      {Dir: t.TempDir()},
		"only tests":     {Dir: dirWith(t, map[string]string{"a_test.rego": "package x\n\ntest_a if true\n"})},
		"no decision":    {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.other\n\ndecision := {\"allow\": true}\n"})},
		"parse error":    {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision := {\n"})},
		"compile error":  {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision := {\"allow\": undefined_fn(1)}\n"})},
		"bad data.json":  {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision := {\"allow\": false}\n", "data.json": "{"})},
		"http.send":      {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision := {\"allow\": http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1\"}).status_code == 200}\n"})},
		"opa.runtime":    {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision := {\"allow\": opa.runtime().env.ALLOW == \"1\"}\n"})},
		"strict: unused": {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\nimport data.unused\n\ndecision := {\"allow\": false}\n"})},
		"rego v0 syntax": {Dir: dirWith(t, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision = {\"allow\": true} { input.x }\n"})},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := New(context.Background(), cfg, nil)
			if err == nil {
				t.Fatalf("New succeeded, revision %s", e.Revision())
			}
			t.Log(err)
			if invalid := !strings.HasPrefix(name, "missing") && !strings.HasPrefix(name, "dir is"); invalid != errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("errors.Is(err, ErrInvalidPolicy) = %v, want %v", !invalid, invalid)
			}
		})
	}
}

func dirWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

// TestReloadKeepsRunningPolicyOnError: a policy that fails to compile never
// replaces the running one.
func TestReloadKeepsRunningPolicyOnError(t *testing.T) {
	dir := policyDir(t, nil)
	e := newEngine(t, Config{Dir: dir})
	rev := e.Revision()
	good, err := os.ReadFile(filepath.Join(dir, "authz.rego"))
	if err != nil {
		t.Fatal(err)
	}
	broken := map[string]map[string]string{
		"parse error":      {"authz.rego": "package carecrest.authz\n\ndecision := {\n"},
		"compile error":    {"authz.rego": string(good) + "\nx := undefined_fn(1)\n"},
		"strict error":     {"authz.rego": string(good) + "\nf(a) := 1\n"},
		"no decision rule": {"authz.rego": "package carecrest.authz\n\nallow := true\n"},
		"bad data.json":    {"data.json": `{"carecrest": `},
		"no module left":   {"authz.rego": ""},
	}
	for name, files := range broken {
		t.Run(name, func(t *testing.T) {
			restore := map[string]string{}
			for f := range files {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				restore[f] = string(b)
			}
			defer writeFiles(t, dir, restore)
			writeFiles(t, dir, files)

			if err := e.Reload(context.Background()); !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Reload: %v, want ErrInvalidPolicy", err)
			}
			if e.Revision() != rev {
				t.Fatalf("Revision = %s after failed reload, want %s", e.Revision(), rev)
			}
			d, err := e.Decide(context.Background(), writeInput("lis", "Observation"))
			if err != nil || !d.Allow || d.Revision != rev {
				t.Fatalf("running policy lost: %+v, %v", d, err)
			}
		})
	}
}

// TestReloadSwapsPolicy: a changed, valid policy is in force after Reload,
// with a new revision; an unchanged one keeps its revision.
func TestReloadSwapsPolicy(t *testing.T) {
	dir := policyDir(t, nil)
	e := newEngine(t, Config{Dir: dir})
	rev := e.Revision()
	if err := e.Reload(context.Background()); err != nil || e.Revision() != rev {
		t.Fatalf("unchanged reload: %v, %s", err, e.Revision())
	}

	data, err := os.ReadFile(filepath.Join(dir, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	// lis may no longer write Observations.
	changed := withoutLISObservation(t, data)
	writeFiles(t, dir, map[string]string{"data.json": changed})
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Revision() == rev {
		t.Fatal("revision unchanged after data change")
	}
	d, err := e.Decide(context.Background(), writeInput("lis", "Observation"))
	if err != nil || d.Allow || d.Revision != e.Revision() {
		t.Fatalf("after reload: %+v, %v", d, err)
	}
}

// TestConcurrentDecideAndReload runs decisions from many goroutines while
// the policy flips between two revisions; every decision must match the
// revision it names. Run with -race.
func TestConcurrentDecideAndReload(t *testing.T) {
	dir := policyDir(t, nil)
	e := newEngine(t, Config{Dir: dir})
	allowRev := e.Revision()

	orig, err := os.ReadFile(filepath.Join(dir, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	denied := withoutLISObservation(t, orig)

	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	denyRev := ""
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			content := denied
			if i%2 == 1 {
				content = string(orig)
			}
			if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(content), 0o600); err != nil {
				t.Error(err)
				break
			}
			if err := e.Reload(ctx); err != nil {
				t.Error(err)
				break
			}
			if i == 0 {
				mu.Lock()
				denyRev = e.Revision()
				mu.Unlock()
			}
		}
		close(stop)
	}()

	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n > 0 {
						return
					}
				default:
				}
				d, err := e.Decide(ctx, writeInput("lis", "Observation"))
				if err != nil {
					t.Error(err)
					return
				}
				switch d.Revision {
				case allowRev:
					if !d.Allow {
						t.Errorf("revision %s denied", d.Revision)
						return
					}
				default:
					if d.Allow {
						t.Errorf("revision %s allowed", d.Revision)
						return
					}
				}
				r, err := e.Decide(ctx, readInput(reader("TREAT", "physician"), "Observation", optOut("c-1")))
				if err != nil || r.Allow {
					t.Errorf("read: %+v, %v", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if denyRev == "" || denyRev == allowRev {
		t.Errorf("deny revision %q, allow revision %q", denyRev, allowRev)
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	c.Defaults()
	if c.Dir != "" || c.Validate() != nil {
		t.Fatalf("zero config: %+v, %v", c, c.Validate())
	}
	if (Config{Dir: t.TempDir()}).Validate() != nil {
		t.Fatal("existing dir rejected")
	}
	if (Config{Dir: filepath.Join(t.TempDir(), "x")}).Validate() == nil {
		t.Fatal("missing dir accepted")
	}
}

// BenchmarkDecideRead measures one read decision in process, on the
// embedded policy, for the common shapes of a read, and reports the 50th and
// 99th percentile latency (p50-ns, p99-ns) of a sample of the calls.
func BenchmarkDecideRead(b *testing.B) {
	e := newEngine(b, Config{})
	expired := optOut("c-old")
	expired.End = now.AddDate(0, -1, 0)
	permit := optOut("c-permit")
	permit.Decision = consent.Permit
	physician := Subject{ID: "u-1", Kind: "user", Roles: []string{"physician"}, Org: "org-1", Purpose: "TREAT"}
	breakGlass := physician
	breakGlass.Purpose, breakGlass.BreakGlassReason = "ETREAT", "code blue"

	cases := []struct {
		name  string
		in    Input
		allow bool
	}{
		{"physician-observation", readInput(physician, "Observation"), true},
		{"physician-observation-2-consents", readInput(physician, "Observation", expired, permit), true},
		{"billing-patient-masked", readInput(reader("HPAYMT", "billing_clerk"), "Patient"), true},
		{"opt-out-deny", readInput(physician, "Observation", optOut("c-1")), false},
		{"break-glass-over-opt-out", readInput(breakGlass, "Observation", optOut("c-1")), true},
		{"billing-observation-deny", readInput(reader("HPAYMT", "billing_clerk"), "Observation"), false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if d, err := e.Decide(context.Background(), tc.in); err != nil || d.Allow != tc.allow {
				b.Fatalf("decision %+v, %v; want allow=%v", d, err, tc.allow)
			}
			benchDecide(b, e, tc.in)
		})
	}
}

// BenchmarkDecideWrite measures one write decision (a source system writing
// one record type).
func BenchmarkDecideWrite(b *testing.B) {
	e := newEngine(b, Config{})
	benchDecide(b, e, writeInput("lis", "Observation"))
}

// BenchmarkDecideReadParallel measures read decisions from GOMAXPROCS
// goroutines at once (throughput; no percentiles).
func BenchmarkDecideReadParallel(b *testing.B) {
	e := newEngine(b, Config{})
	in := readInput(reader("TREAT", "physician"), "Observation")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := e.Decide(context.Background(), in); err != nil || !d.Allow {
				b.Error("denied")
				return
			}
		}
	})
}

// benchDecide runs Decide b.N times and reports the 50th and 99th
// percentile latency of a sample of the calls.
func benchDecide(b *testing.B, e *Engine, in Input) {
	ctx := context.Background()
	const maxSamples = 1 << 16
	samples := make([]time.Duration, 0, min(b.N, maxSamples))
	every := max(1, b.N/maxSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var start time.Time
		sample := i%every == 0 && len(samples) < maxSamples
		if sample {
			start = time.Now()
		}
		_, err := e.Decide(ctx, in)
		if sample {
			samples = append(samples, time.Since(start))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
}

// withoutLISObservation returns data.json with Observation removed from the
// types the lis source may write.
func withoutLISObservation(t *testing.T, data []byte) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	lis := doc["carecrest"].(map[string]any)["access"].(map[string]any)["sources"].(map[string]any)["lis"].(map[string]any)
	var kept []any
	for _, ty := range lis["types"].([]any) {
		if ty != "Observation" {
			kept = append(kept, ty)
		}
	}
	if len(kept) == len(lis["types"].([]any)) {
		t.Fatal("lis does not write Observation in data.json; update the test")
	}
	lis["types"] = kept
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
