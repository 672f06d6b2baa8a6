package rego_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	hubrego "github.com/carecrest/hub/rego"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
)

// TestRego runs every test_ rule of the *_test.rego modules in this folder
// against the policy and data of this folder, as `opa test .` would. It fails
// when a Rego test fails or errors, and when no Rego test ran at all.
func TestRego(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	modules, data := loadDir(t, os.DirFS("."))
	store := inmem.NewFromObject(data)

	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(modules).
		SetTimeout(30*time.Second).
		RunTests(ctx, nil)
	if err != nil {
		t.Fatalf("rego tests did not start: %v", err)
	}

	ran := 0
	for r := range ch {
		name := r.Package + "." + r.Name
		ran++
		t.Run(strings.TrimPrefix(name, "data."), func(t *testing.T) {
			switch {
			case r.Skip:
				t.Skip("todo_ test")
			case r.Error != nil:
				t.Errorf("%s: error: %v", name, r.Error)
			case r.Fail:
				msg := name + ": FAIL"
				if r.Location != nil {
					msg += " (" + r.Location.String() + ")"
				}
				if r.FailedAt != nil && r.FailedAt.Location != nil {
					msg += " at " + r.FailedAt.Location.String() + ": " + r.FailedAt.String()
				}
				t.Error(msg)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no Rego test ran: expected test_ rules in *_test.rego")
	}
	t.Logf("%d Rego tests ran", ran)
}

// TestPolicyCompilesStrict compiles the policy modules (tests excluded) in
// OPA's strict mode, as the policy engine does: unused variables, arguments
// and imports are errors.
func TestPolicyCompilesStrict(t *testing.T) {
	modules, _ := loadDir(t, os.DirFS("."))
	policy := map[string]*ast.Module{}
	for name, m := range modules {
		if hubrego.IsPolicyFile(name) {
			policy[name] = m
		}
	}
	if len(policy) == 0 {
		t.Fatal("no policy module")
	}
	c := ast.NewCompiler().WithStrict(true)
	if c.Compile(policy); c.Failed() {
		t.Fatal(c.Errors)
	}
	if len(c.GetRulesExact(ast.MustParseRef("data.carecrest.authz.decision"))) == 0 {
		t.Fatal("no rule data.carecrest.authz.decision")
	}
}

// TestEmbedHoldsEveryPolicyFile checks that FS embeds exactly the policy
// files of this folder (new modules must be added to the go:embed line), and
// no test module.
func TestEmbedHoldsEveryPolicyFile(t *testing.T) {
	onDisk := policyFiles(t, os.DirFS("."))
	embedded := policyFiles(t, hubrego.FS)
	if strings.Join(onDisk, ",") != strings.Join(embedded, ",") {
		t.Fatalf("embedded policy files %v, folder has %v: update the go:embed line in embed.go", embedded, onDisk)
	}
	for _, name := range onDisk {
		a, _ := fs.ReadFile(os.DirFS("."), name)
		b, _ := fs.ReadFile(hubrego.FS, name)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: embedded copy differs from the folder", name)
		}
	}
	entries, err := fs.ReadDir(hubrego.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if hubrego.IsTestFile(e.Name()) {
			t.Errorf("test module %s is embedded", e.Name())
		}
	}
}

func TestIsPolicyFile(t *testing.T) {
	for name, want := range map[string]bool{
		"authz.rego":      true,
		"dir/authz.rego":  true,
		"data.json":       true,
		"authz_test.rego": false,
		"other.json":      false,
		"embed.go":        false,
		"authz.rego.bak":  false,
	} {
		if got := hubrego.IsPolicyFile(name); got != want {
			t.Errorf("IsPolicyFile(%q) = %v, want %v", name, got, want)
		}
	}
}

func policyFiles(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && hubrego.IsPolicyFile(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// loadDir parses every Rego module (tests included) and the data document of
// fsys's top level.
func loadDir(t *testing.T, fsys fs.FS) (map[string]*ast.Module, map[string]any) {
	t.Helper()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	data := map[string]any{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (path.Ext(name) != ".rego" && name != hubrego.DataFile) {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if name == hubrego.DataFile {
			if err := util.UnmarshalJSON(src, &data); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		modules[name] = m
	}
	return modules, data
}
