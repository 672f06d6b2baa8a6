package policy_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/policy/policytest"
	hubrego "github.com/carecrest/hub/rego"
)

// TestPrefilterKeepsDecisions: the consent pre-filter changes no decision.
// Every shared case, and a matrix of subjects, record types, labels,
// actions and directives exercising each condition the filter checks (and
// times it must leave alone), decides the same with and without it.
func TestPrefilterKeepsDecisions(t *testing.T) {
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !policy.Prefilters(e) {
		t.Fatal("the embedded policy does not use the pre-filter")
	}
	same := func(t *testing.T, name string, in policy.Input) {
		t.Helper()
		want, werr := policy.DecideUnfiltered(ctx, e, in)
		got, gerr := e.Decide(ctx, in)
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n filtered   %+v (%v)\n unfiltered %+v (%v)", name, got, gerr, want, werr)
		}
	}
	for _, c := range policytest.Cases {
		in, err := c.Input()
		if err != nil {
			t.Fatal(err)
		}
		same(t, c.Name, in)
	}

	now := policytest.Now
	subjects := []policy.Subject{
		{ID: "u-1", Kind: "user", Roles: []string{"physician"}, Org: "f002", Purpose: "TREAT", Refs: []string{"Practitioner/7"}},
		{ID: "u-2", Kind: "user", Roles: []string{"nurse"}, Org: "Organization/f001", Purpose: "TREAT"},
		{ID: "u-3", Kind: "user", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT"},
		{ID: "u-4", Kind: "user", Roles: []string{"researcher"}, Purpose: "HRESCH"},
		{ID: "u-5", Kind: "user", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: "code blue"},
		{ID: "app", Kind: "application", Roles: []string{"application"}, Purpose: "PATRQT"},
	}
	dir := func(id, decision string, rules ...consent.Rule) consent.Directive {
		return consent.Directive{ID: id, PatientID: policytest.Patient, Status: "active", Decision: decision,
			Recorded: now.AddDate(0, -1, 0), Rules: rules}
	}
	permit := func(r consent.Rule) consent.Rule { r.Decision = consent.Permit; return r }
	deny := func(r consent.Rule) consent.Rule { r.Decision = consent.Deny; return r }
	conditions := []consent.Rule{
		{},
		{Purposes: []string{"TREAT"}}, {Purposes: []string{"HRESCH"}},
		{Actions: []string{"access"}}, {Actions: []string{"collect"}},
		{SecurityLabels: []string{"ETH"}}, {SecurityLabels: []string{"HIV"}},
		{Classes: []string{"Observation"}}, {Classes: []string{"Patient"}},
		{Actors: [][]consent.Actor{{{Reference: "Organization/f002"}}}},
		{Actors: [][]consent.Actor{{{Reference: "Practitioner/7"}}, {{Role: "PRCP"}}}},
		{Actors: [][]consent.Actor{{{Role: "nurse"}}}}, {Actors: [][]consent.Actor{{{Role: "AUT"}}}},
		{Actors: [][]consent.Actor{{}}},
		{Codes: []string{"http://loinc.org|1234-5"}}, {Data: []string{"Observation/1"}},
		{Start: now.Add(-time.Hour)}, {Start: now.Add(time.Hour)}, {End: now}, {End: now.Add(time.Nanosecond)},
		{End: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}, {Start: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{DataStart: now.AddDate(-1, 0, 0)}, {DataEnd: now.AddDate(-1, 0, 0)},
	}
	var sets [][]consent.Directive
	for i, c := range conditions {
		for _, d := range []func(consent.Rule) consent.Rule{permit, deny} {
			r := d(c)
			r.Path = consent.PathRoot
			sets = append(sets,
				[]consent.Directive{dir(fmt.Sprint("c-", i), r.Decision, r)},
				// An exception to a base of the opposite decision, and a
				// directive of it that does not apply.
				[]consent.Directive{
					dir(fmt.Sprint("c-base-", i), consent.Permit, permit(consent.Rule{Path: consent.PathBase}),
						func() consent.Rule { x := r; x.Depth = 1; return x }()),
					dir("c-other", consent.Deny, deny(consent.Rule{Path: consent.PathRoot, Purposes: []string{"HOPERAT"}})),
				})
		}
	}
	legacy := func(mut func(*consent.Directive)) []consent.Directive {
		d := dir("c-legacy", consent.Deny)
		mut(&d)
		return []consent.Directive{d}
	}
	sets = append(sets,
		legacy(func(*consent.Directive) {}),
		legacy(func(d *consent.Directive) { d.Purposes = []string{"HRESCH"} }),
		legacy(func(d *consent.Directive) { d.Purposes = []string{"TREAT", "HPAYMT"} }),
		legacy(func(d *consent.Directive) { d.Status = "inactive" }),
		legacy(func(d *consent.Directive) { d.End = now }),
		legacy(func(d *consent.Directive) { d.Start = now.Add(time.Second) }),
		legacy(func(d *consent.Directive) { d.End = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }),
		legacy(func(d *consent.Directive) { d.Decision = consent.Permit; d.Purposes = []string{"HRESCH"} }),
	)
	n := 0
	for _, s := range subjects {
		for _, typ := range []string{"Observation", "Patient"} {
			for _, labels := range [][]string{nil, {"ETH"}, {"HIV"}} {
				for _, action := range []string{policy.ActionRead, policy.ActionRoute, policy.ActionWrite} {
					for _, cs := range sets {
						in := policy.Input{Action: action, Subject: s, PatientID: policytest.Patient, RecordType: typ,
							Labels: labels, Consents: cs, Relationship: true, Now: now}
						if n%3 == 1 {
							in.Codes, in.DataRefs = []string{"http://loinc.org|9999-9"}, []string{"Observation/2"}
							in.DataTime = now.AddDate(-2, 0, 0)
						}
						if n%5 == 2 {
							in.Now = time.Time{} // the policy's clock
						}
						same(t, fmt.Sprintf("%s/%s/%v/%s/%d", s.ID, typ, labels, action, n), in)
						n++
					}
				}
			}
		}
	}
	t.Logf("%d inputs", n+len(policytest.Cases))
}

// TestPrefilterOnlyForEmbeddedModules: a policy directory with the
// embedded modules keeps the pre-filter; one whose Rego differs does not.
func TestPrefilterOnlyForEmbeddedModules(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  bool
	}{
		{"same modules", nil, true},
		{"another module", map[string]string{"extra.rego": "package carecrest.authz\n\nextra := true\n"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := policy.New(ctx, policy.Config{Dir: embeddedDir(t, tc.extra)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := policy.Prefilters(e); got != tc.want {
				t.Fatalf("pre-filter %v, want %v", got, tc.want)
			}
		})
	}
}

// embeddedDir writes the embedded policy and extra files to a fresh
// directory.
func embeddedDir(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	names, err := fs.Glob(hubrego.FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(hubrego.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
