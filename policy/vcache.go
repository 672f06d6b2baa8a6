package policy

import (
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// virtualCache is topdown.VirtualCache (the values of rules and function
// calls computed during one evaluation) as flat hash maps that are cleared
// and reused by later evaluations, instead of a trie of maps allocated anew
// for every decision. It is used by one evaluation at a time.
type virtualCache struct {
	frames []map[int][]vcEntry
	depth  int
}

type vcEntry struct {
	ref   ast.Ref
	value *ast.Term // nil: undefined
}

var _ topdown.VirtualCache = (*virtualCache)(nil)

var virtualCaches = sync.Pool{New: func() any { c := &virtualCache{}; c.Push(); return c }}

func getVirtualCache() *virtualCache { return virtualCaches.Get().(*virtualCache) }

// putVirtualCache clears c and returns it to the pool. Cached terms are
// dropped: they may be part of a decision the caller still holds.
func putVirtualCache(c *virtualCache) {
	for c.depth > 1 {
		c.Pop()
	}
	clear(c.frames[0])
	virtualCaches.Put(c)
}

func (c *virtualCache) Push() {
	if c.depth == len(c.frames) {
		c.frames = append(c.frames, map[int][]vcEntry{})
	}
	c.depth++
}

func (c *virtualCache) Pop() {
	c.depth--
	clear(c.frames[c.depth])
}

func (c *virtualCache) top() map[int][]vcEntry { return c.frames[c.depth-1] }

func (c *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) {
	for _, e := range c.top()[ref.Hash()] {
		if e.ref.Equal(ref) {
			return e.value, e.value == nil
		}
	}
	return nil, false
}

func (c *virtualCache) Put(ref ast.Ref, value *ast.Term) {
	m := c.top()
	h := ref.Hash()
	es := m[h]
	for i := range es {
		if es[i].ref.Equal(ref) {
			es[i].value = value
			return
		}
	}
	// OPA reuses the slice behind ref for later keys.
	m[h] = append(es, vcEntry{ref: slices.Clone(ref), value: value})
}

func (c *virtualCache) Keys() []ast.Ref {
	var out []ast.Ref
	for _, es := range c.top() {
		for _, e := range es {
			out = append(out, e.ref)
		}
	}
	return out
}
