package merkle

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
)

// Range is the run of leaves [Start, End) whose Merkle tree hash (RFC 6962
// MTH of that list of leaves) a proof needs.
type Range struct{ Start, End uint64 }

// split is the k of RFC 6962: the largest power of two smaller than n
// (n > 1).
func split(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// InclusionRanges lists, in proof order, the subtrees whose hashes make
// the audit path PATH(index, D[0:size]) of RFC 6962 §2.1.1. They are
// disjoint and leave out only the leaf itself.
func InclusionRanges(index, size uint64) ([]Range, error) {
	if index >= size {
		return nil, fmt.Errorf("merkle: leaf %d is not in a tree of %d leaves", index, size)
	}
	var out []Range
	var path func(lo, hi uint64)
	path = func(lo, hi uint64) {
		n := hi - lo
		if n == 1 {
			return
		}
		k := split(n)
		if index < lo+k {
			path(lo, lo+k)
			out = append(out, Range{lo + k, hi})
		} else {
			path(lo+k, hi)
			out = append(out, Range{lo, lo + k})
		}
	}
	path(0, size)
	return out, nil
}

// ConsistencyRanges lists, in proof order, the subtrees whose hashes make
// the consistency proof PROOF(size1, D[0:size2]) of RFC 6962 §2.1.2. The
// proof is empty when size1 is 0 or equals size2.
func ConsistencyRanges(size1, size2 uint64) ([]Range, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("merkle: no consistency proof from %d leaves back to %d", size1, size2)
	}
	if size1 == 0 || size1 == size2 {
		return nil, nil
	}
	var out []Range
	var subproof func(m, lo, hi uint64, b bool)
	subproof = func(m, lo, hi uint64, b bool) {
		n := hi - lo
		if m == n {
			if !b {
				out = append(out, Range{lo, hi})
			}
			return
		}
		k := split(n)
		if m <= k {
			subproof(m, lo, lo+k, b)
			out = append(out, Range{lo + k, hi})
		} else {
			subproof(m-k, lo+k, hi, false)
			out = append(out, Range{lo, lo + k})
		}
	}
	subproof(size1, 0, size2, true)
	return out, nil
}

// compact is the compact range of the leaves [0, n) of a run: the roots of
// its perfect subtrees, left to right, largest first (one per set bit of
// n). It holds at most 64 hashes whatever n is.
type compact struct {
	hashes []Hash
	n      uint64
}

func (c *compact) push(h Hash) {
	for i := c.n; i&1 == 1; i >>= 1 {
		last := len(c.hashes) - 1
		h = NodeHash(c.hashes[last], h)
		c.hashes = c.hashes[:last]
	}
	c.hashes = append(c.hashes, h)
	c.n++
}

// root is the RFC 6962 Merkle tree hash of the leaves pushed so far.
func (c *compact) root() Hash {
	if c.n == 0 {
		return EmptyRoot
	}
	h := c.hashes[len(c.hashes)-1]
	for i := len(c.hashes) - 2; i >= 0; i-- {
		h = NodeHash(c.hashes[i], h)
	}
	return h
}

// Collector computes, in one ordered pass over the leaf hashes of a tree,
// the hashes of the ranges and the tree heads (roots of prefixes) asked of
// it, and the hashes of single leaves. It keeps O(log n) hashes per range
// in progress, never the leaves: memory does not grow with the tree.
type Collector struct {
	n      uint64 // leaves added
	ranges []Range
	order  []int // indices into ranges by Start
	next   int   // next of order to open
	active []activeRange
	hashes []Hash
	done   []bool

	sizes []uint64
	roots []Hash
	head  bool    // track the head of every leaf added (TrackHead)
	prefx compact // leaves [0, n) when sizes or the head are asked

	leaves  map[uint64]int
	leafOut []Hash
}

type activeRange struct {
	i int
	c compact
}

// NewCollector returns a Collector for the given ranges (any order, may
// overlap), tree heads at sizes, and single leaves.
func NewCollector(ranges []Range, sizes []uint64, leaves []uint64) (*Collector, error) {
	c := &Collector{ranges: ranges, hashes: make([]Hash, len(ranges)), done: make([]bool, len(ranges)),
		sizes: sizes, roots: make([]Hash, len(sizes)), leaves: map[uint64]int{}, leafOut: make([]Hash, len(leaves))}
	for i, r := range ranges {
		if r.Start >= r.End {
			return nil, fmt.Errorf("merkle: empty range [%d, %d)", r.Start, r.End)
		}
		c.order = append(c.order, i)
	}
	sort.SliceStable(c.order, func(a, b int) bool { return ranges[c.order[a]].Start < ranges[c.order[b]].Start })
	for i, s := range sizes {
		if s == 0 {
			c.roots[i] = EmptyRoot
		}
	}
	for i, l := range leaves {
		c.leaves[l] = i
	}
	return c, nil
}

// Need is how many leaves the pass must read: the end of the last range,
// the largest size, the last single leaf.
func (c *Collector) Need() uint64 {
	var n uint64
	for _, r := range c.ranges {
		n = max(n, r.End)
	}
	for _, s := range c.sizes {
		n = max(n, s)
	}
	for l := range c.leaves {
		n = max(n, l+1)
	}
	return n
}

// Add feeds the hash of the next leaf (leaf index c.Added()).
func (c *Collector) Add(leaf Hash) {
	i := c.n
	if j, ok := c.leaves[i]; ok {
		c.leafOut[j] = leaf
	}
	for c.next < len(c.order) && c.ranges[c.order[c.next]].Start == i {
		c.active = append(c.active, activeRange{i: c.order[c.next]})
		c.next++
	}
	// Ranges that start before i without being opened were skipped: they
	// cannot happen, since leaves come in order from 0.
	kept := c.active[:0]
	for _, a := range c.active {
		a.c.push(leaf)
		if c.ranges[a.i].End == i+1 {
			c.hashes[a.i], c.done[a.i] = a.c.root(), true
			continue
		}
		kept = append(kept, a)
	}
	c.active = kept
	if len(c.sizes) > 0 || c.head {
		c.prefx.push(leaf)
		for j, s := range c.sizes {
			if s == i+1 {
				c.roots[j] = c.prefx.root()
			}
		}
	}
	c.n++
}

// TrackHead makes the collector keep the tree head of every leaf it is
// fed (Head), for a pass whose length is not known in advance. Call it
// before the first Add.
func (c *Collector) TrackHead() { c.head = true }

// Head is the tree head of the leaves fed so far (with TrackHead).
func (c *Collector) Head() Hash { return c.prefx.root() }

// Added is how many leaves were fed.
func (c *Collector) Added() uint64 { return c.n }

// ErrShort reports a pass that ended before every range, size and leaf
// asked for was complete: the tree has fewer leaves than asked.
var ErrShort = errors.New("merkle: the tree has fewer leaves than asked for")

// Result returns the range hashes (in the order the ranges were given), the
// tree heads (in the order of sizes) and the single leaves.
func (c *Collector) Result() (ranges, roots, leaves []Hash, err error) {
	if c.n < c.Need() {
		return nil, nil, nil, fmt.Errorf("%w (%d read, %d needed)", ErrShort, c.n, c.Need())
	}
	return c.hashes, c.roots, c.leafOut, nil
}

// Root returns the RFC 6962 tree head of leaves (MTH), the reference
// computation over leaves held in memory.
func Root(leaves []Hash) Hash {
	var c compact
	for _, l := range leaves {
		c.push(l)
	}
	return c.root()
}

// Proof computes the hashes of ranges over leaves held in memory.
func Proof(leaves []Hash, ranges []Range) ([]Hash, error) {
	c, err := NewCollector(ranges, nil, nil)
	if err != nil {
		return nil, err
	}
	for _, l := range leaves[:min(uint64(len(leaves)), c.Need())] {
		c.Add(l)
	}
	h, _, _, err := c.Result()
	return h, err
}
