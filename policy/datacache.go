package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// dataCache is the base-document cache every evaluation of one revision
// shares: the policy's data converted to AST once, when the revision is
// prepared. OPA otherwise starts each evaluation with an empty cache and
// reads every table it touches through a store transaction again (a path,
// a lookup and a cache entry per reference, on every decision). The data
// of a revision never changes (a reload prepares a new revision with its
// own store and cache), and AST values are immutable, so sharing it is
// safe and gives what a fresh read would.
type dataCache struct {
	root ast.Object // the document under data
}

var _ topdown.BaseCache = dataCache{}

func newDataCache(data map[string]any) (dataCache, error) {
	v, err := ast.InterfaceToValue(data)
	if err != nil {
		return dataCache{}, err
	}
	obj, _ := v.(ast.Object)
	if obj == nil {
		obj = ast.NewObject()
	}
	return dataCache{root: obj}, nil
}

// Get returns the value at ref (data.a.b...), or nil to let OPA read the
// store: for data itself and its system document (which a store read
// treats specially), for references with non-scalar parts and for paths
// the data does not have.
func (c dataCache) Get(ref ast.Ref) ast.Value {
	if len(ref) < 2 || !ref[0].Equal(ast.DefaultRootDocument) || ref[1].Value.Compare(ast.SystemDocumentKey) == 0 {
		return nil
	}
	var v ast.Value = c.root
	for _, t := range ref[1:] {
		if !ast.IsScalar(t.Value) {
			return nil
		}
		var next *ast.Term
		switch x := v.(type) {
		case ast.Object:
			next = x.Get(t)
		case *ast.Array:
			next = x.Get(t)
		}
		if next == nil {
			return nil
		}
		v = next.Value
	}
	return v
}

// Put does nothing: the cache holds all of data already, and what OPA
// would add is a value read from the same data.
func (dataCache) Put(ast.Ref, ast.Value) {}
