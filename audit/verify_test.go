package audit_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
)

// memChain is an in-memory audit.ChainReader holding events exactly as
// "stored". ReadChain yields each shard in Seq order (stable, so events that
// share a Seq come in the order they are held).
type memChain struct {
	shards map[string][]audit.Event
	err    error
}

func (m *memChain) Shards(context.Context) ([]string, error) {
	var out []string
	for s := range m.shards {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func (m *memChain) ReadChain(_ context.Context, shard string, fn func(audit.Event) error) error {
	evs := slices.Clone(m.shards[shard])
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
	for _, e := range evs {
		if err := fn(e); err != nil {
			return err
		}
	}
	return m.err
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// chain returns n linked events of shard.
func chain(shard string, n int) []audit.Event {
	evs := make([]audit.Event, n)
	for i := range evs {
		at := t0.Add(time.Duration(i) * time.Second)
		evs[i] = audit.Event{
			ID: fmt.Sprintf("%s-e%02d", shard, i+1), Time: at, Code: audit.CodeRecordRead,
			Action: audit.ActionRead, Outcome: audit.OutcomeAllow, ActorID: fmt.Sprintf("actor-%d", i%3),
			PatientID: fmt.Sprintf("P%d", i%5), RecordIDs: []string{fmt.Sprintf("r-%d", i)},
		}
	}
	audit.Link(shard, audit.Head{}, evs)
	return evs
}

// forge returns an event for position after+1 of evs: linked to event
// after and correctly hashed when valid, with a junk hash otherwise.
func forge(evs []audit.Event, after int, valid bool) audit.Event {
	prev := audit.GenesisHash
	if after > 0 {
		prev = evs[after-1].Hash
	}
	f := audit.Event{ID: "forged", Time: t0, Code: audit.CodeRecordRead, Action: audit.ActionRead,
		Outcome: audit.OutcomeAllow, ActorID: "intruder", PatientID: "P0",
		Shard: evs[0].Shard, Seq: uint64(after + 1), PrevHash: prev}
	f.Hash = strings.Repeat("ab", 32)
	if valid {
		f.Hash = audit.ComputeHash(&f)
	}
	return f
}

// Tampering, on a slice of events held in stored order.

func renumber(evs []audit.Event, from int, by int) {
	for i := from; i < len(evs); i++ {
		evs[i].Seq = uint64(int(evs[i].Seq) + by)
	}
}

func swap(evs []audit.Event, a, b int) {
	evs[a-1], evs[b-1] = evs[b-1], evs[a-1]
	evs[a-1].Seq, evs[b-1].Seq = uint64(a), uint64(b)
}

func insert(evs []audit.Event, after int, f audit.Event) []audit.Event {
	renumber(evs, after, 1)
	return slices.Insert(evs, after, f)
}

func TestVerify(t *testing.T) {
	const n = 20
	id := func(seq int) string { return fmt.Sprintf("hub-a-e%02d", seq) }
	p := func(seq int, kind, eventID string) audit.Problem {
		return audit.Problem{Shard: "hub-a", Seq: uint64(seq), ID: eventID, Kind: kind}
	}
	gap := func(seq, missing int) audit.Problem {
		return audit.Problem{Shard: "hub-a", Seq: uint64(seq), Kind: audit.KindGap, Missing: uint64(missing)}
	}
	tests := []struct {
		name   string
		tamper func([]audit.Event) []audit.Event
		want   []audit.Problem
	}{
		{"intact", func(e []audit.Event) []audit.Event { return e }, nil},
		{"field modified", func(e []audit.Event) []audit.Event { e[6].ActorID = "someone-else"; return e },
			[]audit.Problem{p(7, audit.KindModified, id(7))}},
		{"list modified", func(e []audit.Event) []audit.Event { e[6].RecordIDs = nil; return e },
			[]audit.Problem{p(7, audit.KindModified, id(7))}},
		{"first modified", func(e []audit.Event) []audit.Event { e[0].PatientID = "P9"; return e },
			[]audit.Problem{p(1, audit.KindModified, id(1))}},
		{"last modified", func(e []audit.Event) []audit.Event { e[n-1].Outcome = audit.OutcomeDeny; return e },
			[]audit.Problem{p(n, audit.KindModified, id(n))}},
		{"stored hash altered", func(e []audit.Event) []audit.Event { e[6].Hash = strings.Repeat("0", 64); return e },
			[]audit.Problem{p(7, audit.KindModified, id(7))}},
		{"stored prev hash altered", func(e []audit.Event) []audit.Event { e[6].PrevHash = strings.Repeat("0", 64); return e },
			[]audit.Problem{p(7, audit.KindModified, id(7))}},
		{"rewritten with hash recomputed", func(e []audit.Event) []audit.Event {
			e[6].ActorID = "someone-else"
			e[6].Hash = audit.ComputeHash(&e[6])
			return e
		}, []audit.Problem{p(8, audit.KindBrokenLink, id(8))}},
		{"deleted", func(e []audit.Event) []audit.Event { return slices.Delete(e, 6, 7) },
			[]audit.Problem{gap(7, 1)}},
		{"first deleted", func(e []audit.Event) []audit.Event { return e[1:] },
			[]audit.Problem{gap(1, 1)}},
		{"run deleted", func(e []audit.Event) []audit.Event { return slices.Delete(e, 6, 9) },
			[]audit.Problem{gap(7, 3)}},
		{"deleted and next modified", func(e []audit.Event) []audit.Event { e[7].ActorID = "x"; return slices.Delete(e, 6, 7) },
			[]audit.Problem{gap(7, 1), p(8, audit.KindModified, id(8))}},
		{"deleted and renumbered", func(e []audit.Event) []audit.Event { renumber(e, 7, -1); return slices.Delete(e, 6, 7) },
			[]audit.Problem{{Shard: "hub-a", Seq: 7, Kind: audit.KindGap, Missing: 1}}},
		{"run deleted and renumbered", func(e []audit.Event) []audit.Event { renumber(e, 9, -3); return slices.Delete(e, 6, 9) },
			[]audit.Problem{gap(7, 3)}},
		{"last two deleted and renumbered", func(e []audit.Event) []audit.Event { renumber(e, n-1, -1); return slices.Delete(e, n-2, n-1) },
			[]audit.Problem{gap(n-1, 1)}},
		{"swapped adjacent", func(e []audit.Event) []audit.Event { swap(e, 7, 8); return e },
			[]audit.Problem{p(7, audit.KindUnexpected, id(8)), p(8, audit.KindUnexpected, id(7))}},
		{"swapped apart", func(e []audit.Event) []audit.Event { swap(e, 5, 12); return e },
			[]audit.Problem{p(5, audit.KindUnexpected, id(12)), p(12, audit.KindUnexpected, id(5))}},
		{"swapped far apart", func(e []audit.Event) []audit.Event { swap(e, 1, n); return e },
			[]audit.Problem{p(1, audit.KindUnexpected, id(n)), p(n, audit.KindUnexpected, id(1))}},
		{"last two swapped", func(e []audit.Event) []audit.Event { swap(e, n-1, n); return e },
			[]audit.Problem{p(n-1, audit.KindUnexpected, id(n)), p(n, audit.KindUnexpected, id(n-1))}},
		{"forged inserted", func(e []audit.Event) []audit.Event { return insert(e, 7, forge(e, 7, true)) },
			[]audit.Problem{p(8, audit.KindUnexpected, "forged")}},
		{"junk inserted", func(e []audit.Event) []audit.Event { return insert(e, 7, forge(e, 7, false)) },
			[]audit.Problem{p(8, audit.KindUnexpected, "forged")}},
		{"junk with a bad link inserted", func(e []audit.Event) []audit.Event {
			f := forge(e, 7, false)
			f.PrevHash = strings.Repeat("cd", 32)
			return insert(e, 7, f)
		}, []audit.Problem{p(8, audit.KindUnexpected, "forged")}},
		{"two forged inserted", func(e []audit.Event) []audit.Event {
			f1 := forge(e, 7, true)
			f2 := forge(append(slices.Clone(e[:7]), f1), 8, true)
			f2.ID = "forged-2"
			f2.Hash = audit.ComputeHash(&f2)
			e = insert(e, 7, f1)
			return insert(e, 8, f2)
		}, []audit.Problem{p(8, audit.KindUnexpected, "forged"), p(9, audit.KindUnexpected, "forged-2")}},
		{"two junk inserted", func(e []audit.Event) []audit.Event {
			f1, f2 := forge(e, 7, false), forge(e, 7, false)
			f2.ID, f2.Seq = "forged-2", 9
			e = insert(e, 7, f1)
			return insert(e, 8, f2)
		}, []audit.Problem{p(8, audit.KindUnexpected, "forged"), p(9, audit.KindUnexpected, "forged-2")}},
		{"forged inserted first", func(e []audit.Event) []audit.Event { return insert(e, 0, forge(e, 0, true)) },
			[]audit.Problem{p(1, audit.KindUnexpected, "forged")}},
		{"forged inserted before the last", func(e []audit.Event) []audit.Event { return insert(e, n-1, forge(e, n-1, true)) },
			[]audit.Problem{p(n, audit.KindUnexpected, "forged")}},
		// Backends without a unique (shard, seq) let a forger store a
		// second event at a position; whichever is read first, the one the
		// next event does not name is reported.
		{"forged at a taken position, read after", func(e []audit.Event) []audit.Event { return slices.Insert(e, 8, forge(e, 7, true)) },
			[]audit.Problem{p(8, audit.KindUnexpected, "forged")}},
		{"forged at a taken position, read before", func(e []audit.Event) []audit.Event { return slices.Insert(e, 7, forge(e, 7, true)) },
			[]audit.Problem{p(8, audit.KindUnexpected, "forged")}},
		{"junk at a taken position", func(e []audit.Event) []audit.Event { return slices.Insert(e, 7, forge(e, 7, false)) },
			[]audit.Problem{p(8, audit.KindUnexpected, "forged")}},
		{"event copied to the end", func(e []audit.Event) []audit.Event {
			c := e[3]
			c.Seq = n + 1
			return append(e, c)
		}, []audit.Problem{p(n+1, audit.KindUnexpected, id(4))}},
		{"several", func(e []audit.Event) []audit.Event {
			e[2].Reason = "edited"
			swap(e, 14, 15)
			return slices.Delete(e, 8, 9)
		}, []audit.Problem{p(3, audit.KindModified, id(3)), gap(9, 1),
			p(14, audit.KindUnexpected, id(15)), p(15, audit.KindUnexpected, id(14))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := chain("hub-b", 5)
			m := &memChain{shards: map[string][]audit.Event{"hub-a": tt.tamper(chain("hub-a", n)), "hub-b": other}}
			rep, err := audit.Verify(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Shards != 2 || rep.Events != uint64(len(m.shards["hub-a"])+5) {
				t.Errorf("report counts %d shards %d events, want 2 and %d", rep.Shards, rep.Events, len(m.shards["hub-a"])+5)
			}
			if !slices.Equal(rep.Problems, tt.want) {
				t.Errorf("problems:\n got %v\nwant %v", rep.Problems, tt.want)
			}
			if rep.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with %d problems", rep.OK(), len(rep.Problems))
			}
		})
	}
}

// Removing events from the end of a chain leaves a valid, shorter chain: a
// hash chain alone cannot show it (the head must be anchored elsewhere).
func TestVerifyCannotSeeTruncation(t *testing.T) {
	m := &memChain{shards: map[string][]audit.Event{"hub-a": chain("hub-a", 20)[:15]}}
	rep, err := audit.Verify(context.Background(), m)
	if err != nil || !rep.OK() {
		t.Fatalf("truncated chain: %v %v", rep.Problems, err)
	}
}

// Every single-event tampering of a non-final event is reported, at the
// tampered position.
func TestVerifyDetectsEveryPosition(t *testing.T) {
	const n = 12
	for pos := 1; pos < n; pos++ {
		cases := map[string]func([]audit.Event) []audit.Event{
			"modify": func(e []audit.Event) []audit.Event { e[pos-1].Purpose = "HMARKT"; return e },
			"delete": func(e []audit.Event) []audit.Event { return slices.Delete(e, pos-1, pos) },
			"swap":   func(e []audit.Event) []audit.Event { swap(e, pos, pos+1); return e },
			"insert": func(e []audit.Event) []audit.Event { return insert(e, pos-1, forge(e, pos-1, true)) },
		}
		for name, tamper := range cases {
			m := &memChain{shards: map[string][]audit.Event{"s": tamper(chain("s", n))}}
			rep, err := audit.Verify(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 || rep.Problems[0].Seq != uint64(pos) {
				t.Errorf("%s at %d: problems %v", name, pos, rep.Problems)
			}
		}
	}
}

// A long chain with a problem past the walker's memory window.
func TestVerifyLongChain(t *testing.T) {
	evs := chain("s", 10_000)
	swap(evs, 100, 9_000)
	evs = insert(evs, 5_000, forge(evs, 5_000, true))
	m := &memChain{shards: map[string][]audit.Event{"s": evs}}
	rep, err := audit.Verify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.Problem{
		{Shard: "s", Seq: 100, ID: "s-e9000", Kind: audit.KindUnexpected},
		{Shard: "s", Seq: 5_001, ID: "forged", Kind: audit.KindUnexpected},
		{Shard: "s", Seq: 9_001, ID: "s-e100", Kind: audit.KindUnexpected},
	}
	if !slices.Equal(rep.Problems, want) {
		t.Errorf("problems:\n got %v\nwant %v", rep.Problems, want)
	}
}

func TestVerifyReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	m := &memChain{shards: map[string][]audit.Event{"s": chain("s", 3)}, err: boom}
	if _, err := audit.Verify(context.Background(), m); !errors.Is(err, boom) {
		t.Fatalf("Verify = %v, want the read error", err)
	}
}

func TestVerifyEmpty(t *testing.T) {
	rep, err := audit.Verify(context.Background(), &memChain{})
	if err != nil || !rep.OK() || rep.Shards != 0 || rep.Events != 0 {
		t.Fatalf("empty log: %+v %v", rep, err)
	}
}

func ExampleVerify() {
	events := []audit.Event{
		{ID: "e1", Time: t0, Code: audit.CodeRecordRead, ActorID: "dr-a", PatientID: "P1"},
		{ID: "e2", Time: t0, Code: audit.CodeRecordRead, ActorID: "dr-b", PatientID: "P1"},
		{ID: "e3", Time: t0, Code: audit.CodeRecordRead, ActorID: "dr-c", PatientID: "P2"},
		{ID: "e4", Time: t0, Code: audit.CodeRecordRead, ActorID: "dr-d", PatientID: "P2"},
	}
	audit.Link("hub-0", audit.Head{}, events)
	log := &memChain{shards: map[string][]audit.Event{"hub-0": events}}

	rep, _ := audit.Verify(context.Background(), log)
	fmt.Println("untouched:", rep.OK(), rep.Events, "events")

	events[1].ActorID = "nobody" // edit a stored field
	rep, _ = audit.Verify(context.Background(), log)
	fmt.Println(rep.Problems[0])

	log.shards["hub-0"] = slices.Delete(events, 2, 3) // delete event 3
	rep, _ = audit.Verify(context.Background(), log)
	for _, p := range rep.Problems {
		fmt.Println(p)
	}
	// Output:
	// untouched: true 4 events
	// shard hub-0 seq 2 (event e2): modified
	// shard hub-0 seq 2 (event e2): modified
	// shard hub-0 seq 3: gap (1 missing)
}

// Random tampering, up to three edits of any kind anywhere: whenever the
// stored chain is no longer a prefix of the original one, Verify reports
// something, and it never reports a position beyond the stored ones.
func TestVerifyRandomTampering(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 30
	for iter := range 3000 {
		orig := chain("s", n)
		evs := slices.Clone(orig)
		var log []string
		for range 1 + rng.IntN(3) {
			if len(evs) < 3 {
				break
			}
			k := 1 + rng.IntN(len(evs)-1) // a position before the last
			op := rng.IntN(7)
			switch op {
			case 0:
				evs[k-1].ActorID += "x"
			case 1:
				evs = slices.Delete(evs, k-1, k)
			case 2:
				renumber(evs, k, -1)
				evs = slices.Delete(evs, k-1, k)
			case 3:
				j := 1 + rng.IntN(len(evs))
				if j != k {
					swap(evs, k, j)
				}
			case 4, 5:
				evs = insert(evs, k-1, forge(evs, k-1, op == 4))
			case 6:
				evs[k-1].Hash = strings.Repeat("0", 64)
			}
			log = append(log, fmt.Sprintf("op%d@%d", op, k))
		}
		m := &memChain{shards: map[string][]audit.Event{"s": evs}}
		rep, err := audit.Verify(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		prefix := len(evs) <= len(orig)
		for i := range evs {
			prefix = prefix && i < len(orig) && reflect.DeepEqual(evs[i], orig[i])
		}
		if !prefix && rep.OK() {
			t.Fatalf("iteration %d (%v): tampered chain verified", iter, log)
		}
		if prefix && !rep.OK() {
			t.Fatalf("iteration %d (%v): untouched chain reported %v", iter, log, rep.Problems)
		}
		var maxSeq uint64
		for _, e := range evs {
			maxSeq = max(maxSeq, e.Seq)
		}
		for _, p := range rep.Problems {
			if p.Seq == 0 || p.Seq > maxSeq {
				t.Fatalf("iteration %d: problem %v outside the stored positions 1..%d", iter, p, maxSeq)
			}
		}
	}
}
