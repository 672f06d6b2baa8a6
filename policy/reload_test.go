package policy

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hubrego "github.com/carecrest/hub/rego"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"
)

const passingTest = `package carecrest.authz_test

import data.carecrest.authz

test_physician_treat if {
	d := authz.decision with input as {"action": "read", "record_type": "Observation", "relationship": true,
		"subject": {"id": "u", "kind": "user", "roles": ["physician"], "purpose": "TREAT"}}
	d.allow
}
`

// failingTest asserts what the shipped policy denies.
const failingTest = `package carecrest.authz_test

import data.carecrest.authz

test_billing_clerk_reads_notes if {
	d := authz.decision with input as {"action": "read", "record_type": "DocumentReference",
		"subject": {"id": "u", "kind": "user", "roles": ["billing_clerk"], "purpose": "HPAYMT"}}
	d.allow
}
`

func TestDirTestsRunOnLoad(t *testing.T) {
	ctx := context.Background()
	dir := policyDir(t, map[string]string{"ok_test.rego": passingTest})
	e := newEngine(t, Config{Dir: dir})
	rev := e.Revision()
	if rev != newEngine(t, Config{}).Revision() {
		t.Errorf("tests changed the revision: %s", rev)
	}

	// A changed policy whose tests fail never replaces the running one.
	writeFiles(t, dir, map[string]string{"bad_test.rego": failingTest, "extra.rego": "package carecrest.extra\n\nx := 1\n"})
	err := e.Reload(ctx)
	if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "test_billing_clerk_reads_notes") {
		t.Fatalf("Reload = %v, want the failing test named", err)
	}
	if e.Revision() != rev {
		t.Fatalf("revision %s replaced by a policy whose tests fail", e.Revision())
	}
	// And New refuses it.
	if _, err := New(ctx, Config{Dir: dir}, nil); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("New = %v", err)
	}
}

func TestUnknownProfileRejected(t *testing.T) {
	_, err := New(context.Background(), Config{Profile: "mars"}, nil)
	if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "gdpr, hipaa") {
		t.Fatalf("New = %v", err)
	}
	e := newEngine(t, Config{Profile: "gdpr"})
	if e.Profile() != "gdpr" {
		t.Fatalf("Profile = %q", e.Profile())
	}
	// The engine's profile applies when the input names none.
	in := readInput(reader("TREAT", "physician"), "Observation")
	in.Labels = []string{"GDIS"}
	d, err := e.Decide(context.Background(), in)
	if err != nil || d.Allow {
		t.Fatalf("gdpr genetic read without consent: %+v %v", d, err)
	}
	in.Profile = "hipaa"
	if d, _ := e.Decide(context.Background(), in); !d.Allow {
		t.Fatalf("input profile hipaa: %+v", d)
	}
}

// writeBundle writes the embedded policy (with overrides: name -> module
// source) and a test module as an OPA bundle.
func writeBundle(t *testing.T, path string, overrides map[string]string) {
	t.Helper()
	var data map[string]any
	raw, err := fs.ReadFile(hubrego.FS, hubrego.DataFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := util.UnmarshalJSON(raw, &data); err != nil {
		t.Fatal(err)
	}
	b := bundle.Bundle{Data: data, Manifest: bundle.Manifest{Revision: "test"}}
	mods := map[string]string{"ok_test.rego": passingTest}
	entries, _ := fs.ReadDir(hubrego.FS, ".")
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".rego") {
			src, _ := fs.ReadFile(hubrego.FS, en.Name())
			mods[en.Name()] = string(src)
		}
	}
	for k, v := range overrides {
		mods[k] = v
	}
	for name, src := range mods {
		b.Modules = append(b.Modules, bundle.ModuleFile{Path: "/" + name, URL: "/" + name, Raw: []byte(src)})
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBundle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "policy.tar.gz")
	writeBundle(t, path, nil)
	e := newEngine(t, Config{Bundle: path})
	if e.Revision() != newEngine(t, Config{Bundle: path}).Revision() {
		t.Error("one bundle, two revisions")
	}
	d, err := e.Decide(ctx, readInput(reader("TREAT", "physician"), "Observation"))
	if err != nil || !d.Allow {
		t.Fatalf("Decide from bundle: %+v %v", d, err)
	}
	rev := e.Revision()

	// A bundle that does not compile is rejected; one whose tests fail too.
	writeBundle(t, path, map[string]string{"authz.rego": "package carecrest.authz\n\ndecision := {"})
	if err := e.Reload(ctx); !errors.Is(err, ErrInvalidPolicy) || e.Revision() != rev {
		t.Fatalf("broken bundle: %v, revision %s", err, e.Revision())
	}
	writeBundle(t, path, map[string]string{"bad_test.rego": failingTest, "extra.rego": "package carecrest.extra\n\nx := 2\n"})
	if err := e.Reload(ctx); !errors.Is(err, ErrInvalidPolicy) || e.Revision() != rev {
		t.Fatalf("bundle with failing tests: %v, revision %s", err, e.Revision())
	}
	// A valid change is taken.
	writeBundle(t, path, map[string]string{"extra.rego": "package carecrest.extra\n\nx := 1\n"})
	if err := e.Reload(ctx); err != nil || e.Revision() == rev {
		t.Fatalf("good bundle: %v, revision %s", err, e.Revision())
	}
	if err := os.WriteFile(path, []byte("not a bundle"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(ctx); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("garbage bundle: %v", err)
	}
	if (Config{Bundle: path, Dir: t.TempDir()}).Validate() == nil {
		t.Error("dir and bundle both accepted")
	}
	if (Config{Bundle: t.TempDir()}).Validate() == nil {
		t.Error("bundle that is a directory accepted")
	}
}

func TestWatchNotifies(t *testing.T) {
	dir := policyDir(t, nil)
	e := newEngine(t, Config{Dir: dir})
	first := e.Revision()
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan Change, 8)
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, 5*time.Millisecond, func(c Change) { changes <- c }) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v", err)
		}
	}()
	next := func() Change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(30 * time.Second):
			t.Fatal("no change notified")
		}
		return Change{}
	}

	writeFiles(t, dir, map[string]string{"broken.rego": "package carecrest.authz\n\nx := {"})
	c := next()
	if c.Err == nil || c.Previous != first || e.Revision() != first {
		t.Fatalf("rejected change = %+v, revision %s", c, e.Revision())
	}
	writeFiles(t, dir, map[string]string{"broken.rego": ""}) // removed
	writeFiles(t, dir, map[string]string{"extra.rego": "package carecrest.extra\n\nx := 1\n"})
	c = next()
	if c.Err != nil || c.Previous != first || c.Revision != e.Revision() || c.Revision == first {
		t.Fatalf("change = %+v, revision %s", c, e.Revision())
	}
}

func TestExplain(t *testing.T) {
	e := newEngine(t, Config{})
	expired := optOut("c-old")
	expired.End = now.Add(-time.Hour)
	in := readInput(reader("TREAT", "physician"), "Observation", expired, optOut("c-1"))
	x, err := e.Explain(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if x.Decision.Allow || x.Profile != "hipaa" || x.Revision != e.Revision() {
		t.Fatalf("explanation %+v", x)
	}
	want := []ConsentExplanation{
		{ID: "c-old", Status: "active", InForce: false, Effect: "none"},
		{ID: "c-1", Status: "active", InForce: true, Effect: "deny", Provision: "provision"},
	}
	if len(x.Consents) != 2 || x.Consents[0] != want[0] || x.Consents[1] != want[1] {
		t.Fatalf("consents %+v, want %+v", x.Consents, want)
	}
	kinds := map[string]string{}
	for _, r := range x.Rules {
		kinds[r.ID] = r.Kind + ": " + r.Reason
	}
	if kinds["read.role-purpose"] != "grant: role and purpose permit this record type" ||
		kinds["consent.opt-out"] != "block: patient opted out for this purpose" {
		t.Fatalf("rules %+v", x.Rules)
	}

	// A policy without an explain rule.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.rego": "package carecrest.authz\n\ndecision := {\"allow\": false}\n"})
	if _, err := newEngine(t, Config{Dir: dir}).Explain(context.Background(), in); !errors.Is(err, ErrNoExplain) {
		t.Fatalf("Explain without rule = %v", err)
	}
}
