package mpi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/carecrest/hub/record"
)

// Merges (HL7 ADT A34/A40, FHIR Patient.link) are stored as links in the
// same Links store as identifiers, so they need no table of their own and
// work on every backend:
//
//	merge(R)          → S   R was retired into S (one per retired id: the
//	                        first link wins, so R is merged once)
//	merged-into(S, n) → R   the n-th id merged directly into S (n = 0, 1,
//	                        ...), so that S's aliases can be enumerated
//
// A survivor that is later merged itself chains: A→B then B→C makes C the
// survivor of A and B. Records keep the enterprise id they were linked to
// (their ciphertext is bound to it); readers ask Group for the survivor and
// every id merged into it.
//
// Merge writes the listing before the merge link: after a crash between
// the two, a retry finds R listed and writes the link; until then R is
// listed but not merged, and Aliases, which keeps only ids whose chain
// really ends at the survivor, does not show it. The merge link is the
// single source of truth.
//
// Concurrency. Within one instance merges are serialised by the store's
// first-link-wins. Two instances (ClickHouse, no compare-and-set) that
// merge the same retired id at the same instant both insert; every reader
// agrees on one winner (the store's least link), and the loser's Merge
// re-reads and reports ErrAlreadyMerged. Two instances that merge R into S
// and S into R at the same instant write a cycle: Canonical is cycle-safe
// and takes the least id of the cycle as the survivor, the same answer on
// every instance. Two instances listing different ids under one survivor
// at the same instant may claim the same slot; the loser, if its re-read
// sees the winner, takes the next slot, but on ClickHouse a re-read that
// runs before the winner's insert lands can miss it, and the loser's id is
// then not listed: its records are missing from the survivor's view (fail
// closed: less is shown, never another patient's data) until it is merged
// again. Such simultaneous merges into one survivor from two instances are
// not expected from one registration system.

// Bounds of the merge graph: a longer chain or a larger group is an error
// (fail closed) rather than an unbounded walk.
const (
	maxChain   = 64
	maxAliases = 1024
	slotPage   = 16
)

var (
	// ErrMergeCycle reports a merge of a survivor into a patient already
	// merged into it: it would make a cycle.
	ErrMergeCycle = errors.New("mpi: merge would make a cycle: the survivor was merged into the retired patient")
	// ErrAlreadyMerged reports a merge of a patient already merged into a
	// different survivor: a retired id is merged once.
	ErrAlreadyMerged = errors.New("mpi: the retired patient was already merged into another patient")
	// ErrMergeGraph reports a merge chain or group beyond the index's
	// bounds.
	ErrMergeGraph = errors.New("mpi: merge chain or group too large")
)

func (x *Index) mergeHash(epi string) string { return x.linkHash("merge", epi) }

func (x *Index) slotHash(survivor string, n int) string {
	return x.linkHash("merged-into", survivor, strconv.Itoa(n))
}

// Canonical returns the survivor of epi: epi itself unless it was merged,
// else the end of its merge chain. It reads the store for every id whose
// merge is not already known (merge links never change once written).
func (x *Index) Canonical(ctx context.Context, epi string) (string, error) {
	m, err := x.canonical(ctx, []string{epi}, false)
	if err != nil {
		return "", err
	}
	return m[epi], nil
}

// chain is one walk along merge links.
type chain struct {
	path   []string
	result string
}

// follow steps to next. On a cycle the walk ends at the least id of the
// cycle, so that every instance agrees on one survivor.
func (c *chain) follow(next string) error {
	if i := slices.Index(c.path, next); i >= 0 {
		c.result = slices.Min(c.path[i:])
		return nil
	}
	if len(c.path) > maxChain {
		return fmt.Errorf("%w: chain longer than %d", ErrMergeGraph, maxChain)
	}
	c.path = append(c.path, next)
	return nil
}

// canonical maps each id to its survivor, one store look-up per chain
// level for all ids. recent lets ids seen unmerged within mergeTTL skip the
// store (ingest only).
func (x *Index) canonical(ctx context.Context, ids []string, recent bool) (map[string]string, error) {
	chains := make(map[string]*chain, len(ids))
	for _, id := range ids {
		if _, ok := chains[id]; !ok {
			chains[id] = &chain{path: []string{id}}
		}
	}
	for {
		pending := map[string]string{} // merge hash → tail id
		now := x.now()
		x.mu.Lock()
		for _, c := range chains {
			for c.result == "" {
				tail := c.path[len(c.path)-1]
				if next, ok := x.merged[tail]; ok {
					if err := c.follow(next); err != nil {
						x.mu.Unlock()
						return nil, err
					}
					continue
				}
				if t, ok := x.unmerged[tail]; recent && ok && now.Sub(t) < x.mergeTTL {
					c.result = tail
					break
				}
				pending[x.mergeHash(tail)] = tail
				break
			}
		}
		x.mu.Unlock()
		if len(pending) == 0 {
			break
		}
		hashes := make([]string, 0, len(pending))
		for h := range pending {
			hashes = append(hashes, h)
		}
		found, err := x.links.LookupLinks(ctx, hashes)
		if err != nil {
			return nil, err
		}
		x.mu.Lock()
		if len(x.merged) > x.limit {
			clear(x.merged)
		}
		if len(x.unmerged) > x.limit {
			clear(x.unmerged)
		}
		for h, tail := range pending {
			if next, ok := found[h]; ok {
				x.merged[tail] = next
				delete(x.unmerged, tail)
				continue
			}
			x.unmerged[tail] = now
			for _, c := range chains {
				if c.result == "" && c.path[len(c.path)-1] == tail {
					c.result = tail
				}
			}
		}
		x.mu.Unlock()
	}
	out := make(map[string]string, len(chains))
	for id, c := range chains {
		out[id] = c.result
	}
	return out, nil
}

// Aliases returns every enterprise id merged, directly or along a chain,
// into the survivor of epi (not the survivor itself), sorted.
func (x *Index) Aliases(ctx context.Context, epi string) ([]string, error) {
	_, members, err := x.Group(ctx, epi)
	if err != nil {
		return nil, err
	}
	return members[1:], nil
}

// Group returns the survivor of epi and every id of its merged patient:
// the survivor first, then its aliases, sorted. This is what a patient
// view reads: the records of every member, which keep the id they were
// linked to. An unmerged patient is a group of one.
func (x *Index) Group(ctx context.Context, epi string) (string, []string, error) {
	root, err := x.Canonical(ctx, epi)
	if err != nil {
		return "", nil, err
	}
	seen := map[string]bool{root: true}
	var candidates []string
	for frontier := []string{root}; len(frontier) > 0; {
		listed, err := x.slots(ctx, frontier)
		if err != nil {
			return "", nil, err
		}
		frontier = nil
		for _, rs := range listed {
			for _, r := range rs {
				if !seen[r] {
					seen[r] = true
					candidates = append(candidates, r)
					frontier = append(frontier, r)
				}
			}
		}
		if len(seen) > maxAliases {
			return "", nil, fmt.Errorf("%w: more than %d merged ids", ErrMergeGraph, maxAliases)
		}
	}
	can, err := x.canonical(ctx, candidates, false)
	if err != nil {
		return "", nil, err
	}
	var aliases []string
	for _, c := range candidates {
		if can[c] == root {
			aliases = append(aliases, c)
		}
	}
	slices.Sort(aliases)
	return root, append([]string{root}, aliases...), nil
}

// slots reads the ids listed under each survivor, a page of slots at a
// time, until the first empty slot.
func (x *Index) slots(ctx context.Context, survivors []string) (map[string][]string, error) {
	out := make(map[string][]string, len(survivors))
	open := survivors
	for base := 0; len(open) > 0; base += slotPage {
		if base >= maxAliases {
			return nil, fmt.Errorf("%w: more than %d merged ids", ErrMergeGraph, maxAliases)
		}
		type slot struct {
			survivor string
			n        int
		}
		at := make(map[string]slot, len(open)*slotPage)
		hashes := make([]string, 0, len(open)*slotPage)
		for _, s := range open {
			for n := base; n < base+slotPage; n++ {
				h := x.slotHash(s, n)
				at[h] = slot{s, n}
				hashes = append(hashes, h)
			}
		}
		found, err := x.links.LookupLinks(ctx, hashes)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, s := range open {
			full := true
			for n := base; n < base+slotPage; n++ {
				r, ok := found[x.slotHash(s, n)]
				if !ok {
					full = false
					break
				}
				out[s] = append(out[s], r)
			}
			if full {
				next = append(next, s)
			}
		}
		open = next
	}
	return out, nil
}

// MergeResult says what a merge did.
type MergeResult struct {
	Retired  string // the retired enterprise id
	Survivor string // the survivor it resolves to (the end of its chain)
	// Merged is true when this call wrote the merge; false when there was
	// nothing to do (the same patient, or merged before: redelivery).
	Merged bool
}

// Merge records that the patient retired was merged into the patient
// survivor (enterprise ids, as linked from their identifiers). retired
// must be a survivor itself (not merged before): it is linked to the end
// of survivor's chain. It is idempotent: merging again what is merged
// returns Merged false. ErrMergeCycle and ErrAlreadyMerged are permanent
// refusals; other errors are the store's, and the call may be retried.
// The merge is durable when it returns nil.
func (x *Index) Merge(ctx context.Context, retired, survivor string) (MergeResult, error) {
	can, err := x.canonical(ctx, []string{retired, survivor}, false)
	if err != nil {
		return MergeResult{}, err
	}
	into, noop, err := decideMerge(retired, survivor, can[retired], can[survivor])
	res := MergeResult{Retired: retired, Survivor: into}
	if err != nil || noop {
		return res, err
	}
	if err := x.list(ctx, into, retired); err != nil {
		return res, err
	}
	h := x.mergeHash(retired)
	if err := x.links.PutLinks(ctx, map[string]string{h: into}); err != nil {
		return res, err
	}
	found, err := x.links.LookupLinks(ctx, []string{h})
	if err != nil {
		return res, err
	}
	x.mu.Lock()
	if got, ok := found[h]; ok {
		x.merged[retired] = got
		delete(x.unmerged, retired)
	}
	x.mu.Unlock()
	if found[h] != into {
		// Another writer merged retired first.
		return res, ErrAlreadyMerged
	}
	res.Merged = true
	return res, nil
}

// decideMerge decides a merge of retired into survivor given their
// canonical ids: the id to link retired to, or no-op, or a refusal.
func decideMerge(retired, survivor, canRetired, canSurvivor string) (into string, noop bool, err error) {
	switch {
	case retired == survivor:
		return canSurvivor, true, nil // one patient: nothing to merge
	case canRetired == canSurvivor && retired != canRetired:
		return canSurvivor, true, nil // merged before
	case canRetired == canSurvivor:
		return canSurvivor, false, ErrMergeCycle
	case retired != canRetired:
		return canRetired, false, ErrAlreadyMerged
	}
	return canSurvivor, false, nil
}

// list lists retired under survivor, in the first free slot, unless it is
// listed already.
func (x *Index) list(ctx context.Context, survivor, retired string) error {
	listed, err := x.slots(ctx, []string{survivor})
	if err != nil {
		return err
	}
	if slices.Contains(listed[survivor], retired) {
		return nil
	}
	for n := len(listed[survivor]); n < maxAliases; n++ {
		h := x.slotHash(survivor, n)
		if err := x.links.PutLinks(ctx, map[string]string{h: retired}); err != nil {
			return err
		}
		found, err := x.links.LookupLinks(ctx, []string{h})
		if err != nil {
			return err
		}
		if found[h] == retired {
			return nil
		}
	}
	return fmt.Errorf("%w: more than %d merged ids", ErrMergeGraph, maxAliases)
}

// MergeRequest is one merge a message asks for, by identifiers (PHI).
type MergeRequest struct {
	Surviving []record.Identifier
	Retired   []record.Identifier
}

// MergePlan is a MergeRequest resolved to enterprise ids and decided
// against the index and the requests before it.
type MergePlan struct {
	Retired  string // enterprise id the retired identifiers link to
	Survivor string // enterprise id the surviving identifiers link to
	Into     string // the survivor Retired will resolve to
	Noop     bool   // nothing to write (one patient, or merged before)
	Err      error  // ErrMergeCycle or ErrAlreadyMerged: the request is refused
}

// PlanMerges resolves the identifiers of each request (linking new ones,
// as ResolveAll does) and decides each merge in order, as if the ones
// before it were applied, without writing any merge. The caller audits the
// plan, then applies each merge that is neither Noop nor refused with
// Merge(ctx, plan.Retired, plan.Survivor).
func (x *Index) PlanMerges(ctx context.Context, reqs []MergeRequest) ([]MergePlan, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	subjects := make([][]record.Identifier, 0, 2*len(reqs))
	for _, r := range reqs {
		subjects = append(subjects, r.Retired, r.Surviving)
	}
	raw, err := x.resolve(ctx, subjects)
	if err != nil {
		return nil, err
	}
	can, err := x.canonical(ctx, raw, false)
	if err != nil {
		return nil, err
	}
	planned := map[string]string{} // merges of this plan: retired → into
	canon := func(id string) string {
		c := can[id]
		for range maxChain {
			next, ok := planned[c]
			if !ok {
				break
			}
			c = next
		}
		return c
	}
	plans := make([]MergePlan, len(reqs))
	for i := range reqs {
		r, s := raw[2*i], raw[2*i+1]
		into, noop, err := decideMerge(r, s, canon(r), canon(s))
		plans[i] = MergePlan{Retired: r, Survivor: s, Into: into, Noop: noop, Err: err}
		if err == nil && !noop {
			planned[r] = into
		}
	}
	return plans, nil
}
