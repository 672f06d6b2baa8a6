package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	hubrego "github.com/carecrest/hub/rego"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
)

// source is where the policy files come from: a directory, an OPA bundle
// file, or the policy embedded from rego/.
type source struct {
	name   string // for logs: a path or "embedded"
	fsys   fs.FS  // a directory or the embedded policy; nil for a bundle
	bundle string // path of an OPA bundle (.tar.gz)
}

func newSource(cfg Config) source {
	switch {
	case cfg.Bundle != "":
		return source{name: cfg.Bundle, bundle: cfg.Bundle}
	case cfg.Dir != "":
		return source{name: cfg.Dir, fsys: os.DirFS(cfg.Dir)}
	}
	return source{name: "embedded", fsys: hubrego.FS}
}

// file is one policy file.
type file struct {
	name string
	data []byte
}

// maxBundleBytes bounds the bundle file a source reads.
const maxBundleBytes = 64 << 20

// read returns the policy files of the source sorted by name, its Rego
// unit-test modules (*_test.rego), and the revision of the policy files
// (tests do not change it).
func (s source) read() (files, tests []file, rev string, err error) {
	if s.bundle != "" {
		files, tests, err = s.readBundle()
	} else {
		files, tests, err = s.readDir()
	}
	if err != nil {
		return nil, nil, "", err
	}
	modules := 0
	for _, f := range files {
		if f.name != hubrego.DataFile {
			modules++
		}
	}
	if modules == 0 {
		return nil, nil, "", fmt.Errorf("%w: %s holds no Rego module", ErrInvalidPolicy, s.name)
	}
	return files, tests, revision(files), nil
}

func (s source) readDir() (files, tests []file, err error) {
	entries, err := fs.ReadDir(s.fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("policy: read %s: %w", s.name, err)
	}
	for _, e := range entries { // ReadDir sorts by name
		// Symlinks are followed (Kubernetes mounts ConfigMap files as links).
		isTest := hubrego.IsTestFile(e.Name())
		if e.IsDir() || (!hubrego.IsPolicyFile(e.Name()) && !isTest) {
			continue
		}
		data, err := fs.ReadFile(s.fsys, e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing: not part of the policy
		}
		if err != nil {
			return nil, nil, fmt.Errorf("policy: read %s: %w", s.name, err)
		}
		if isTest {
			tests = append(tests, file{name: e.Name(), data: data})
		} else {
			files = append(files, file{name: e.Name(), data: data})
		}
	}
	return files, tests, nil
}

// readBundle reads an OPA bundle with OPA's bundle reader: its modules
// (tests apart) and its data, which becomes the policy's data.json.
// Signatures are not verified: the bundle is a local file the operator
// placed.
func (s source) readBundle() (files, tests []file, err error) {
	f, err := os.Open(s.bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: read %s: %w", s.name, err)
	}
	defer f.Close()
	b, err := bundle.NewReader(io.LimitReader(f, maxBundleBytes)).
		WithRegoVersion(ast.RegoV1).
		WithSkipBundleVerification(true).
		Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bundle %s: %w", ErrInvalidPolicy, s.name, err)
	}
	for _, m := range b.Modules {
		name := strings.TrimPrefix(m.Path, "/")
		if hubrego.IsTestFile(name) {
			tests = append(tests, file{name: name, data: m.Raw})
		} else {
			files = append(files, file{name: name, data: m.Raw})
		}
	}
	if len(b.Data) > 0 {
		raw, err := json.Marshal(b.Data) // keys sorted: a stable revision
		if err != nil {
			return nil, nil, fmt.Errorf("%w: bundle %s: data: %w", ErrInvalidPolicy, s.name, err)
		}
		files = append(files, file{name: hubrego.DataFile, data: raw})
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	return files, tests, nil
}

// revision is "sha256:" and the first 12 hex digits of a SHA-256 over the
// files' names and contents, in name order, each length-prefixed so that no
// two file sets share an encoding.
func revision(files []file) string {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b file) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	h := sha256.New()
	for _, f := range sorted {
		h.Write([]byte(strconv.Itoa(len(f.name)) + ":" + f.name + ":" + strconv.Itoa(len(f.data)) + ":"))
		h.Write(f.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:12]
}

// deniedBuiltins are left out of the capabilities policies compile with: a
// decision must depend only on its input and the policy's data, never on the
// network or the environment of the process.
var deniedBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
	"opa.runtime":        true,
}

func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool { return deniedBuiltins[b.Name] })
	c.AllowNet = []string{} // no remote schema fetches either
	return c
}

var (
	decisionRef = ast.MustParseRef(Query)
	explainRef  = ast.MustParseRef(ExplainQuery)
)

// prepare parses and compiles files, runs the tests against them, checks
// that profile is one the policy defines, and prepares Query (and
// ExplainQuery when the policy defines it).
func prepare(ctx context.Context, files, tests []file, rev, profile string) (*prepared, error) {
	data := map[string]any{}
	var modules []*ast.Module
	named := map[string]*ast.Module{}
	defined, explains := false, false
	for _, f := range files {
		if f.name == hubrego.DataFile {
			if err := util.UnmarshalJSON(f.data, &data); err != nil {
				return nil, fmt.Errorf("%w %s: %s: %w", ErrInvalidPolicy, rev, f.name, err)
			}
			continue
		}
		m, err := ast.ParseModuleWithOpts(f.name, string(f.data), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrInvalidPolicy, rev, err)
		}
		for _, r := range m.Rules {
			defined = defined || r.Ref().Equal(decisionRef)
			explains = explains || r.Ref().Equal(explainRef)
		}
		modules = append(modules, m)
		named[f.name] = m
	}
	if !defined {
		return nil, fmt.Errorf("%w %s: no module defines %s", ErrInvalidPolicy, rev, Query)
	}
	if err := checkProfile(data, profile); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidPolicy, rev, err)
	}
	if len(tests) > 0 {
		if err := runTests(ctx, named, tests, data); err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrInvalidPolicy, rev, err)
		}
	}
	// Data is converted to AST once here instead of on every read.
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	query := func(q string) (rego.PreparedEvalQuery, error) {
		opts := []func(*rego.Rego){
			rego.Query(q),
			rego.SetRegoVersion(ast.RegoV1),
			rego.Capabilities(capabilities()),
			rego.Strict(true),
			rego.Store(store),
			// Results stay AST: decisionFromTerm reads them without the
			// generic conversion to map[string]any.
			rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }),
		}
		for _, m := range modules {
			opts = append(opts, rego.ParsedModule(m))
		}
		pq, err := rego.New(opts...).PrepareForEval(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return pq, fmt.Errorf("policy %s: prepare: %w", rev, err)
			}
			return pq, fmt.Errorf("%w %s: compile: %w", ErrInvalidPolicy, rev, err)
		}
		return pq, nil
	}
	cache, err := newDataCache(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: data: %w", ErrInvalidPolicy, rev, err)
	}
	p := &prepared{revision: rev, data: cache, filter: newConsentFilter(files, cache)}
	if p.query, err = query(Query); err != nil {
		return nil, err
	}
	if explains {
		if p.explain, err = query(ExplainQuery); err != nil {
			return nil, err
		}
		p.explains = true
	}
	return p, nil
}

// checkProfile reports an error when the policy's data defines jurisdiction
// profiles (carecrest.access.profiles) and profile is not one of them.
func checkProfile(data map[string]any, profile string) error {
	cc, _ := data["carecrest"].(map[string]any)
	acc, _ := cc["access"].(map[string]any)
	profiles, ok := acc["profiles"].(map[string]any)
	if !ok || profile == "" {
		return nil
	}
	if _, ok := profiles[profile]; !ok {
		names := make([]string, 0, len(profiles))
		for n := range profiles {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("unknown profile %q (policy defines %s)", profile, strings.Join(names, ", "))
	}
	return nil
}

// runTests runs the Rego unit tests of a candidate policy against it, as
// `opa test` would; a failing, erroring or empty test run is an error.
func runTests(ctx context.Context, modules map[string]*ast.Module, tests []file, data map[string]any) error {
	all := make(map[string]*ast.Module, len(modules)+len(tests))
	for name, m := range modules {
		all[name] = m
	}
	for _, f := range tests {
		m, err := ast.ParseModuleWithOpts(f.name, string(f.data), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("test module: %w", err)
		}
		all[f.name] = m
	}
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(inmem.NewFromObject(data)).
		SetModules(all).
		SetTimeout(time.Minute).
		RunTests(ctx, nil)
	if err != nil {
		return fmt.Errorf("rego tests: %w", err)
	}
	var failed []string
	ran := 0
	for r := range ch {
		ran++
		if r.Fail || r.Error != nil {
			failed = append(failed, strings.TrimPrefix(r.Package, "data.")+"."+r.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("rego tests failed: %s", strings.Join(failed, ", "))
	}
	if ran == 0 {
		return errors.New("rego test modules hold no test")
	}
	return nil
}
