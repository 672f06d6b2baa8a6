package mpi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/carecrest/hub/record"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// patients resolves one new patient per identifier value.
func patients(t *testing.T, x *Index, values ...string) ([]string, []record.Identifier) {
	t.Helper()
	var subjects [][]record.Identifier
	var ids []record.Identifier
	for _, v := range values {
		id := record.Identifier{System: "urn:oid:1.2.3.ehr", Value: v}
		ids = append(ids, id)
		subjects = append(subjects, []record.Identifier{id})
	}
	epis, err := x.ResolveAll(context.Background(), subjects)
	if err != nil {
		t.Fatal(err)
	}
	return epis, ids
}

func mustMerge(t *testing.T, x *Index, retired, survivor string) MergeResult {
	t.Helper()
	res, err := x.Merge(context.Background(), retired, survivor)
	if err != nil {
		t.Fatalf("Merge(%s, %s): %v", retired, survivor, err)
	}
	return res
}

func TestMergeChainAndLookup(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	x := New(testKey, links)
	p, ids := patients(t, x, "A", "B", "C")
	a, b, c := p[0], p[1], p[2]

	if res := mustMerge(t, x, a, b); !res.Merged || res.Survivor != b {
		t.Fatalf("first merge = %+v", res)
	}
	if got, _ := x.Canonical(ctx, a); got != b {
		t.Fatalf("Canonical(A) = %s, want B %s", got, b)
	}
	// The survivor is merged in turn: the chain leads to C.
	mustMerge(t, x, b, c)
	for _, id := range []string{a, b, c} {
		if got, err := x.Canonical(ctx, id); err != nil || got != c {
			t.Fatalf("Canonical(%s) = %s, %v; want %s", id, got, err, c)
		}
	}
	survivor, members, err := x.Group(ctx, a)
	want := []string{a, b}
	slices.Sort(want)
	if err != nil || survivor != c || !slices.Equal(members, append([]string{c}, want...)) {
		t.Fatalf("Group(A) = %s %v, %v; want %s then %v", survivor, members, err, c, want)
	}
	if al, err := x.Aliases(ctx, c); err != nil || !slices.Equal(al, want) {
		t.Fatalf("Aliases(C) = %v, %v", al, err)
	}
	// Lookup of a retired identifier returns the survivor, on this index
	// and on another instance over the same store.
	for _, ix := range []*Index{x, New(testKey, links)} {
		got, ok, err := ix.Lookup(ctx, ids[0])
		if err != nil || !ok || got != c {
			t.Fatalf("Lookup(retired MRN) = %s %v %v; want %s", got, ok, err, c)
		}
		// New records with the retired identifier link to the survivor.
		res, err := ix.ResolveAll(ctx, [][]record.Identifier{{ids[0]}, {ids[1], {System: "urn:oid:1.2.3.lis", Value: "new"}}})
		if err != nil || res[0] != c || res[1] != c {
			t.Fatalf("ResolveAll(retired) = %v, %v; want %s", res, err, c)
		}
	}
	// An unmerged patient is a group of one.
	d, _ := patients(t, x, "D")
	if s, m, err := x.Group(ctx, d[0]); err != nil || s != d[0] || len(m) != 1 {
		t.Fatalf("Group(D) = %s %v %v", s, m, err)
	}
}

func TestMergeIdempotentOnRedelivery(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A", "B")
	mustMerge(t, x, p[0], p[1])
	n := len(links.m)
	for _, ix := range []*Index{x, New(testKey, links)} {
		if res := mustMerge(t, ix, p[0], p[1]); res.Merged || res.Survivor != p[1] {
			t.Fatalf("second merge = %+v, want a no-op", res)
		}
	}
	if len(links.m) != n {
		t.Fatalf("a repeated merge wrote %d links", len(links.m)-n)
	}
	if al, _ := x.Aliases(ctx, p[1]); len(al) != 1 {
		t.Fatalf("aliases after redelivery = %v", al)
	}
	// Merging a patient into itself is nothing to do.
	if res := mustMerge(t, x, p[1], p[1]); res.Merged {
		t.Fatal("self-merge wrote a link")
	}
}

func TestMergeRefusals(t *testing.T) {
	x := New(testKey, newMem())
	p, _ := patients(t, x, "A", "B", "C")
	a, b, c := p[0], p[1], p[2]
	mustMerge(t, x, a, b)
	if _, err := x.Merge(context.Background(), b, a); !errors.Is(err, ErrMergeCycle) {
		t.Fatalf("reverse merge: err = %v, want ErrMergeCycle", err)
	}
	if _, err := x.Merge(context.Background(), a, c); !errors.Is(err, ErrAlreadyMerged) {
		t.Fatalf("second merge of a retired id: err = %v, want ErrAlreadyMerged", err)
	}
	if got, _ := x.Canonical(context.Background(), a); got != b {
		t.Fatalf("a refused merge changed the survivor to %s", got)
	}
}

// TestCanonicalCycleSafe: two instances that merge A into B and B into A at
// the same instant leave a cycle; every reader agrees on one survivor.
func TestCanonicalCycleSafe(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A", "B", "C")
	links.m[x.mergeHash(p[0])] = p[1]
	links.m[x.mergeHash(p[1])] = p[0]
	links.m[x.mergeHash(p[2])] = p[0] // C leads into the cycle
	links.m[x.slotHash(p[1], 0)] = p[0]
	links.m[x.slotHash(p[0], 0)] = p[1]
	links.m[x.slotHash(p[0], 1)] = p[2]
	want := min(p[0], p[1])
	for _, ix := range []*Index{x, New(testKey, links)} {
		for _, id := range p {
			if got, err := ix.Canonical(ctx, id); err != nil || got != want {
				t.Fatalf("Canonical(%s) = %s, %v; want %s", id, got, err, want)
			}
		}
	}
	s, members, err := x.Group(ctx, p[2])
	if err != nil || s != want || len(members) != 3 {
		t.Fatalf("Group = %s %v %v", s, members, err)
	}
}

func TestMergeChainBound(t *testing.T) {
	links := newMem()
	x := New(testKey, links)
	prev := "P0"
	for i := 1; i <= maxChain+2; i++ {
		id := fmt.Sprintf("P%d", i)
		links.m[x.mergeHash(prev)] = id
		prev = id
	}
	if _, err := x.Canonical(context.Background(), "P0"); !errors.Is(err, ErrMergeGraph) {
		t.Fatalf("err = %v, want ErrMergeGraph", err)
	}
}

// TestMergeCrashBetweenListAndLink: the survivor lists the retired id but
// the merge link was never written. Nothing shows it merged until a retry
// writes the link, which reuses the listing.
func TestMergeCrashBetweenListAndLink(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A", "B")
	if err := x.list(ctx, p[1], p[0]); err != nil {
		t.Fatal(err)
	}
	if al, _ := x.Aliases(ctx, p[1]); len(al) != 0 {
		t.Fatalf("a listed but unmerged id shows as merged: %v", al)
	}
	mustMerge(t, x, p[0], p[1])
	if al, _ := x.Aliases(ctx, p[1]); !slices.Equal(al, []string{p[0]}) {
		t.Fatalf("aliases = %v", al)
	}
	if _, ok := links.m[x.slotHash(p[1], 1)]; ok {
		t.Fatal("the retry listed the retired id twice")
	}
}

func TestManyAliases(t *testing.T) {
	ctx := context.Background()
	x := New(testKey, newMem())
	var values []string
	for i := range 2*slotPage + 3 {
		values = append(values, fmt.Sprint("M", i))
	}
	p, _ := patients(t, x, append(values, "S")...)
	s := p[len(p)-1]
	for _, r := range p[:len(p)-1] {
		mustMerge(t, x, r, s)
	}
	al, err := x.Aliases(ctx, s)
	if err != nil || len(al) != len(p)-1 {
		t.Fatalf("Aliases = %d ids, %v; want %d", len(al), err, len(p)-1)
	}
}

func TestPlanMerges(t *testing.T) {
	ctx := context.Background()
	x := New(testKey, newMem())
	p, ids := patients(t, x, "A", "B", "C")
	unknown := record.Identifier{System: "urn:oid:1.2.3.ehr", Value: "never-seen"}
	plans, err := x.PlanMerges(ctx, []MergeRequest{
		{Retired: []record.Identifier{ids[0]}, Surviving: []record.Identifier{ids[1]}},  // A → B
		{Retired: []record.Identifier{ids[1]}, Surviving: []record.Identifier{ids[2]}},  // B → C: chains
		{Retired: []record.Identifier{ids[2]}, Surviving: []record.Identifier{ids[0]}},  // C → A: a cycle
		{Retired: []record.Identifier{unknown}, Surviving: []record.Identifier{ids[2]}}, // new id → C
		{Retired: []record.Identifier{ids[0]}, Surviving: []record.Identifier{ids[2]}},  // A → C: merged before (via B)
	})
	if err != nil {
		t.Fatal(err)
	}
	if pl := plans[0]; pl.Retired != p[0] || pl.Survivor != p[1] || pl.Into != p[1] || pl.Noop || pl.Err != nil {
		t.Errorf("plan 0 = %+v", pl)
	}
	if pl := plans[1]; pl.Into != p[2] || pl.Err != nil {
		t.Errorf("plan 1 = %+v", pl)
	}
	if !errors.Is(plans[2].Err, ErrMergeCycle) {
		t.Errorf("plan 2 = %+v, want a cycle refused", plans[2])
	}
	if pl := plans[3]; pl.Retired == "" || pl.Into != p[2] || pl.Err != nil || pl.Noop {
		t.Errorf("plan 3 = %+v", pl)
	}
	if pl := plans[4]; !pl.Noop || pl.Err != nil {
		t.Errorf("plan 4 = %+v, want a no-op", pl)
	}
	// Planning writes no merge.
	if got, _ := x.Canonical(ctx, p[0]); got != p[0] {
		t.Fatal("PlanMerges merged")
	}
	for _, pl := range plans {
		if pl.Err == nil && !pl.Noop {
			mustMerge(t, x, pl.Retired, pl.Survivor)
		}
	}
	if got, ok, _ := x.Lookup(ctx, unknown); !ok || got != p[2] {
		t.Fatalf("Lookup(new retired id) = %s %v", got, ok)
	}
}

// TestMergeSeenByOtherInstance: ResolveAll on another instance trusts a
// recent "not merged" for mergeTTL; reads never do.
func TestMergeSeenByOtherInstance(t *testing.T) {
	ctx := context.Background()
	links := newMem()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	other := New(testKey, links)
	other.now = func() time.Time { return clock }
	p, ids := patients(t, other, "A", "B")
	mustMerge(t, New(testKey, links), p[0], p[1])

	if got, _ := other.ResolveAll(ctx, [][]record.Identifier{{ids[0]}}); got[0] != p[0] {
		t.Fatalf("within the TTL ResolveAll = %s, want the cached %s", got[0], p[0])
	}
	if got, _ := other.Canonical(ctx, p[0]); got != p[1] {
		t.Fatalf("Canonical = %s: reads must not use the negative cache", got)
	}
	other2 := New(testKey, links)
	other2.now = func() time.Time { return clock }
	patients(t, other2, "A")
	clock = clock.Add(other2.mergeTTL)
	if got, _ := other2.ResolveAll(ctx, [][]record.Identifier{{ids[0]}}); got[0] != p[1] {
		t.Fatalf("after the TTL ResolveAll = %s, want the survivor %s", got[0], p[1])
	}
}

func TestMergeStoreErrors(t *testing.T) {
	links := newMem()
	x := New(testKey, links)
	p, _ := patients(t, x, "A", "B")
	links.fail = errors.New("down")
	if _, err := x.Merge(context.Background(), p[0], p[1]); err == nil {
		t.Fatal("a store error was swallowed")
	}
	if _, _, err := x.Group(context.Background(), p[0]); err == nil {
		t.Fatal("Group swallowed a store error")
	}
}
