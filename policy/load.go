package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	hubrego "github.com/carecrest/hub/rego"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// source is where the policy files come from: a directory, or the policy
// embedded from rego/.
type source struct {
	name string // for logs: a path or "embedded"
	fsys fs.FS
}

func newSource(cfg Config) source {
	if cfg.Dir == "" {
		return source{name: "embedded", fsys: hubrego.FS}
	}
	return source{name: cfg.Dir, fsys: os.DirFS(cfg.Dir)}
}

// file is one policy file.
type file struct {
	name string
	data []byte
}

// read returns the policy files of the source, sorted by name, and their
// revision.
func (s source) read() ([]file, string, error) {
	entries, err := fs.ReadDir(s.fsys, ".")
	if err != nil {
		return nil, "", fmt.Errorf("policy: read %s: %w", s.name, err)
	}
	var files []file
	modules := 0
	for _, e := range entries { // ReadDir sorts by name
		// Symlinks are followed (Kubernetes mounts ConfigMap files as links).
		if e.IsDir() || !hubrego.IsPolicyFile(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(s.fsys, e.Name())
		if err != nil {
			return nil, "", fmt.Errorf("policy: read %s: %w", s.name, err)
		}
		if e.Name() != hubrego.DataFile {
			modules++
		}
		files = append(files, file{name: e.Name(), data: data})
	}
	if modules == 0 {
		return nil, "", fmt.Errorf("%w: %s holds no Rego module", ErrInvalidPolicy, s.name)
	}
	return files, revision(files), nil
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

var decisionRef = ast.MustParseRef(Query)

// prepare parses, compiles and prepares files for Query.
func prepare(ctx context.Context, files []file, rev string) (*prepared, error) {
	data := map[string]any{}
	opts := []func(*rego.Rego){
		rego.Query(Query),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Capabilities(capabilities()),
		rego.Strict(true),
		// Results stay AST: decisionFromTerm reads them without the generic
		// conversion to map[string]any.
		rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }),
	}
	defined := false
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
			if r.Ref().Equal(decisionRef) {
				defined = true
			}
		}
		opts = append(opts, rego.ParsedModule(m))
	}
	if !defined {
		return nil, fmt.Errorf("%w %s: no module defines %s", ErrInvalidPolicy, rev, Query)
	}
	// Data is converted to AST once here instead of on every read.
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	opts = append(opts, rego.Store(store))

	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("policy %s: prepare: %w", rev, err)
		}
		return nil, fmt.Errorf("%w %s: compile: %w", ErrInvalidPolicy, rev, err)
	}
	return &prepared{revision: rev, query: pq}, nil
}
