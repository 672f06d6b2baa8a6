package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
)

// tamperChain is the length of the chain each tamper case edits.
const tamperChain = 20

// tamperCase edits a chain of tamperChain events and names the problems
// audit.Verify must report: exactly those, at those positions.
type tamperCase struct {
	name  string
	needs []string // hooks used
	edit  func(t *testing.T, tc *tamperEnv)
	want  func(tc *tamperEnv) []audit.Problem
}

// tamperEnv is one tamper case's storage: the chain to edit (shard on b)
// and, when the harness can reopen, a second shard that must stay clean.
type tamperEnv struct {
	tp    *Tamper
	b     Backend
	shard string
	chain []audit.Event // as stored before the edit; chain[i] is seq i+1
}

func (e *tamperEnv) id(seq uint64) string { return e.chain[seq-1].ID }

func (e *tamperEnv) problem(seq uint64, kind, id string) audit.Problem {
	return audit.Problem{Shard: e.shard, Seq: seq, ID: id, Kind: kind}
}

func (e *tamperEnv) gap(seq, missing uint64) audit.Problem {
	return audit.Problem{Shard: e.shard, Seq: seq, Kind: audit.KindGap, Missing: missing}
}

// forge returns an event for position after+1, linked to the stored event
// at after; hashed correctly when valid (a forger who knows the hash
// function), with a junk hash otherwise.
func (e *tamperEnv) forge(after uint64, valid bool) audit.Event {
	f := readEvent(99, "P1", "intruder", audit.ActionRead, audit.OutcomeAllow, t0.Add(time.Hour))
	f.ID = audit.NewID(f.Time)
	audit.Normalize(&f)
	f.Shard, f.Seq, f.PrevHash = e.shard, after+1, audit.GenesisHash
	if after > 0 {
		f.PrevHash = e.chain[after-1].Hash
	}
	f.Hash = strings.Repeat("ab", 32)
	if valid {
		f.Hash = audit.ComputeHash(&f)
	}
	return f
}

func tamperCases() []tamperCase {
	const n = tamperChain
	modify := func(seqs ...uint64) func(*testing.T, *tamperEnv) {
		return func(t *testing.T, e *tamperEnv) {
			for _, s := range seqs {
				e.tp.Modify(t, e.b, e.shard, s)
			}
		}
	}
	del := func(seqs ...uint64) func(*testing.T, *tamperEnv) {
		return func(t *testing.T, e *tamperEnv) {
			for _, s := range seqs {
				e.tp.Delete(t, e.b, e.shard, s)
			}
		}
	}
	swap := func(a, b uint64) func(*testing.T, *tamperEnv) {
		return func(t *testing.T, e *tamperEnv) { e.tp.Swap(t, e.b, e.shard, a, b) }
	}
	insert := func(after uint64, valid bool) func(*testing.T, *tamperEnv) {
		return func(t *testing.T, e *tamperEnv) { e.tp.Insert(t, e.b, e.shard, after, e.forge(after, valid)) }
	}
	forgedAt := func(seq uint64) func(*tamperEnv) []audit.Problem {
		return func(e *tamperEnv) []audit.Problem {
			// The forged event is the one whose ID is not in the chain.
			return []audit.Problem{e.problem(seq, audit.KindUnexpected, "forged")}
		}
	}
	modified := func(seq uint64) func(*tamperEnv) []audit.Problem {
		return func(e *tamperEnv) []audit.Problem {
			return []audit.Problem{e.problem(seq, audit.KindModified, e.id(seq))}
		}
	}
	swapped := func(a, b uint64) func(*tamperEnv) []audit.Problem {
		return func(e *tamperEnv) []audit.Problem {
			return []audit.Problem{e.problem(a, audit.KindUnexpected, e.id(b)), e.problem(b, audit.KindUnexpected, e.id(a))}
		}
	}
	return []tamperCase{
		{"modify", []string{"Modify"}, modify(7), modified(7)},
		{"modify first", []string{"Modify"}, modify(1), modified(1)},
		{"modify last", []string{"Modify"}, modify(n), modified(n)},
		{"delete", []string{"Delete"}, del(7), func(e *tamperEnv) []audit.Problem { return []audit.Problem{e.gap(7, 1)} }},
		{"delete first", []string{"Delete"}, del(1), func(e *tamperEnv) []audit.Problem { return []audit.Problem{e.gap(1, 1)} }},
		{"delete run", []string{"Delete"}, del(7, 8, 9), func(e *tamperEnv) []audit.Problem { return []audit.Problem{e.gap(7, 3)} }},
		{"swap adjacent", []string{"Swap"}, swap(7, 8), swapped(7, 8)},
		{"swap apart", []string{"Swap"}, swap(5, 12), swapped(5, 12)},
		{"swap first and last", []string{"Swap"}, swap(1, n), swapped(1, n)},
		{"insert", []string{"Insert"}, insert(7, true), forgedAt(8)},
		{"insert with junk hash", []string{"Insert"}, insert(7, false), forgedAt(8)},
		{"insert first", []string{"Insert"}, insert(0, true), forgedAt(1)},
		{"insert before last", []string{"Insert"}, insert(n-1, true), forgedAt(n)},
		{"several", []string{"Modify", "Delete", "Swap"},
			func(t *testing.T, e *tamperEnv) { modify(3)(t, e); del(9)(t, e); swap(14, 15)(t, e) },
			func(e *tamperEnv) []audit.Problem {
				return []audit.Problem{e.problem(3, audit.KindModified, e.id(3)), e.gap(9, 1),
					e.problem(14, audit.KindUnexpected, e.id(15)), e.problem(15, audit.KindUnexpected, e.id(14))}
			}},
	}
}

func (s *suite) testTamper(t *testing.T) {
	tp := s.h.Tamper
	if tp == nil {
		t.Skip("storetest: Harness.Tamper not set")
	}
	has := map[string]bool{"Modify": tp.Modify != nil, "Delete": tp.Delete != nil, "Swap": tp.Swap != nil, "Insert": tp.Insert != nil}
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, h := range tc.needs {
				if !has[h] {
					t.Skipf("storetest: Tamper.%s not set", h)
				}
			}
			env := s.tamperEnv(t, tp)
			tc.edit(t, env)
			want := tc.want(env)
			rep, err := audit.Verify(context.Background(), env.b)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got := slices.Clone(rep.Problems)
			for i := range got {
				if p := got[i]; p.Kind == audit.KindUnexpected && !slices.ContainsFunc(env.chain, func(e audit.Event) bool { return e.ID == p.ID }) {
					got[i].ID = "forged"
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("Verify after %s:\n got %v\nwant %v", tc.name, rep.Problems, want)
			}
		})
	}
}

// tamperEnv returns a chain of tamperChain events to edit. With Reopen it
// is the second shard (hub-b) of a storage whose first shard (hub-a) has
// events too, so that the problems must name the right shard.
func (s *suite) tamperEnv(t *testing.T, tp *Tamper) *tamperEnv {
	t.Helper()
	b := s.h.New(t, "hub-a")
	env := &tamperEnv{tp: tp, b: b, shard: "hub-a"}
	var other Backend
	if s.h.Reopen != nil {
		other = b
		env.b, env.shard = s.h.Reopen(t, b, "hub-b"), "hub-b"
	}
	for i := 0; i < tamperChain; i += 5 {
		appendEvents(t, env.b, events(5, "P1", t0.Add(time.Duration(i)*time.Second)))
		if other != nil {
			appendEvents(t, other, events(3, "P2", t0))
		}
	}
	env.chain = checkChain(t, env.b, env.shard, tamperChain)
	n := uint64(tamperChain)
	if other != nil {
		n += tamperChain / 5 * 3
	}
	verifyOK(t, env.b, n)
	return env
}
