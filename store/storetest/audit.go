package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

// readEvent returns a fully populated read event (lists out of order, to
// check the log normalises them) for the i-th access.
func readEvent(i int, patient, actor, action, outcome string, at time.Time) audit.Event {
	return audit.Event{
		Time: at, Code: audit.CodeRecordRead, Action: action, Outcome: outcome,
		ActorID: actor, ActorRoles: []string{"physician", "attending"}, ActorOrg: "org-1",
		Application: "ehr-viewer", Purpose: "TREAT", PatientID: patient, RecordType: "Observation",
		RecordIDs: []string{fmt.Sprintf("r-%d-b", i), fmt.Sprintf("r-%d-a", i)}, Disclosed: []string{"value", "code"},
		Masked: []string{"note"}, PolicyRevision: "rev-7", Rules: []string{"read.mask", "read.allow"},
		Consents: []string{"c-1"}, Reason: "", RequestID: fmt.Sprintf("req-%d", i),
	}
}

// events returns n read events of patient, one a millisecond from start.
func events(n int, patient string, start time.Time) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = readEvent(i, patient, "dr-a", audit.ActionRead, audit.OutcomeAllow, start.Add(time.Duration(i)*time.Millisecond))
	}
	return out
}

// checkEvent checks that the stored event got is the appended event sent:
// every field equal (lists as Normalize sorts them), ID and Time filled
// when sent had none, Time in UTC, and got hashed as stored.
func checkEvent(t *testing.T, sent, got audit.Event) {
	t.Helper()
	want := sent
	want.ActorRoles, want.RecordIDs, want.Disclosed = slices.Clone(sent.ActorRoles), slices.Clone(sent.RecordIDs), slices.Clone(sent.Disclosed)
	want.Masked, want.Rules, want.Consents = slices.Clone(sent.Masked), slices.Clone(sent.Rules), slices.Clone(sent.Consents)
	audit.Normalize(&want)
	if sent.ID == "" {
		if got.ID == "" {
			t.Errorf("event %d: ID not filled", got.Seq)
		}
		want.ID = got.ID
	}
	if sent.Time.IsZero() {
		if got.Time.IsZero() {
			t.Errorf("event %d: Time not filled", got.Seq)
		}
		want.Time = got.Time
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("event %d: Time %v is not UTC", got.Seq, got.Time)
	}
	want.Shard, want.Seq, want.PrevHash = got.Shard, got.Seq, got.PrevHash
	// ComputeHash covers every field (audit's tests make sure of it), so
	// equal hashes mean equal events.
	if audit.ComputeHash(&got) != got.Hash {
		t.Errorf("event %d: stored Hash is not the hash of its stored content", got.Seq)
	}
	if audit.ComputeHash(&want) != got.Hash {
		t.Errorf("event %d: stored event differs from the one appended:\n got %+v\nwant %+v", got.Seq, got, want)
	}
}

func readChain(t *testing.T, b Backend, shard string) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := b.ReadChain(context.Background(), shard, func(e audit.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("ReadChain(%s): %v", shard, err)
	}
	return out
}

// checkChain checks that the stored chain of shard is n events linked from
// the genesis, seq 1 to n.
func checkChain(t *testing.T, b Backend, shard string, n int) []audit.Event {
	t.Helper()
	chain := readChain(t, b, shard)
	if len(chain) != n {
		t.Fatalf("chain %s holds %d events, want %d", shard, len(chain), n)
	}
	prev := audit.GenesisHash
	for i, e := range chain {
		if e.Shard != shard || e.Seq != uint64(i+1) || e.PrevHash != prev || e.Hash != audit.ComputeHash(&e) {
			t.Fatalf("chain %s position %d: shard %q seq %d prev %.12s hash ok %v; want seq %d prev %.12s",
				shard, i+1, e.Shard, e.Seq, e.PrevHash, e.Hash == audit.ComputeHash(&e), i+1, prev)
		}
		prev = e.Hash
	}
	return chain
}

func verifyOK(t *testing.T, b Backend, events uint64) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), b)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Errorf("Verify of an untouched log found problems: %v", rep.Problems)
	}
	if rep.Events != events {
		t.Errorf("Verify read %d events, want %d", rep.Events, events)
	}
	return rep
}

func appendEvents(t *testing.T, b Backend, evs []audit.Event) {
	t.Helper()
	if err := b.Append(context.Background(), evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func query(t *testing.T, b Backend, f audit.Filter) []audit.Event {
	t.Helper()
	got, err := b.Query(context.Background(), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return got
}

func (s *suite) testAppend(t *testing.T) {
	b := s.h.New(t, "hub-a")
	before := time.Now()
	var sent []audit.Event
	for _, n := range []int{1, 7, 3} {
		batch := events(n, "P1", t0.Add(time.Duration(len(sent))*time.Second))
		// Some events leave ID and Time to the log.
		batch[0].ID, batch[0].Time = "", time.Time{}
		if n > 1 {
			batch[1].Time = time.Time{}
			batch[1].ID = audit.NewID(t0)
		}
		appendEvents(t, b, batch)
		sent = append(sent, batch...)
	}
	appendEvents(t, b, nil) // nothing to append is not an error

	chain := checkChain(t, b, "hub-a", len(sent))
	for i := range sent {
		checkEvent(t, sent[i], chain[i])
		if sent[i].Time.IsZero() && (chain[i].Time.Before(before.Add(-time.Second)) || chain[i].Time.After(time.Now().Add(time.Second))) {
			t.Errorf("event %d: filled Time %v is not the time of the append", i+1, chain[i].Time)
		}
	}
	seen := map[string]bool{}
	for _, e := range chain {
		if seen[e.ID] {
			t.Errorf("duplicate event ID %s", e.ID)
		}
		seen[e.ID] = true
	}
	if shards, err := b.Shards(context.Background()); err != nil || !slices.Equal(shards, []string{"hub-a"}) {
		t.Errorf("Shards = %v, %v; want [hub-a]", shards, err)
	}
	verifyOK(t, b, uint64(len(sent)))
}

func (s *suite) testQuery(t *testing.T) {
	b := s.h.New(t, "hub-a")
	var all []audit.Event
	for i := range 30 {
		outcome := audit.OutcomeAllow
		if i%5 == 0 {
			outcome = audit.OutcomeDeny
		}
		action := []string{audit.ActionRead, audit.ActionWrite}[i%2]
		e := readEvent(i, fmt.Sprintf("P%d", i%3), fmt.Sprintf("actor-%d", i%4), action, outcome,
			t0.Add(time.Duration(i)*time.Second))
		if i%6 == 0 {
			e.Code, e.Purpose, e.RecordType, e.Application = audit.CodeBreakGlass, "ETREAT", "Condition", "ed-console"
		}
		all = append(all, e)
	}
	// Through Append and Commit, in batches of different sizes.
	appendEvents(t, b, all[:10])
	commit(t, b, store.Batch{Events: all[10:13]})
	appendEvents(t, b, all[13:14])
	appendEvents(t, b, all[14:])
	stored := readChain(t, b, "hub-a") // in append order, with IDs

	// IDs are sortable by time, so query order (by ID) is append order here.
	pick := func(keep func(i int, e audit.Event) bool) []audit.Event {
		var out []audit.Event
		for i, e := range stored {
			if keep(i, e) {
				out = append(out, e)
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    audit.Filter
		want []audit.Event
	}{
		{"all", audit.Filter{}, stored},
		{"patient", audit.Filter{PatientID: "P1"}, pick(func(i int, _ audit.Event) bool { return i%3 == 1 })},
		{"actor", audit.Filter{ActorID: "actor-2"}, pick(func(i int, _ audit.Event) bool { return i%4 == 2 })},
		{"action", audit.Filter{Action: audit.ActionWrite}, pick(func(i int, _ audit.Event) bool { return i%2 == 1 })},
		{"outcome", audit.Filter{Outcome: audit.OutcomeDeny}, pick(func(i int, _ audit.Event) bool { return i%5 == 0 })},
		// Bounds fall between event times: the contract leaves their
		// inclusiveness open.
		{"time range", audit.Filter{From: t0.Add(9500 * time.Millisecond), To: t0.Add(19500 * time.Millisecond)},
			pick(func(i int, _ audit.Event) bool { return i >= 10 && i <= 19 })},
		{"from", audit.Filter{From: t0.Add(27500 * time.Millisecond)}, stored[28:]},
		{"to", audit.Filter{To: t0.Add(1500 * time.Millisecond)}, stored[:2]},
		{"combined", audit.Filter{PatientID: "P0", Outcome: audit.OutcomeDeny, From: t0.Add(time.Second)},
			pick(func(i int, _ audit.Event) bool { return i%3 == 0 && i%5 == 0 && i >= 1 })},
		{"codes", audit.Filter{Codes: []string{audit.CodeBreakGlass}}, pick(func(i int, _ audit.Event) bool { return i%6 == 0 })},
		{"codes any of", audit.Filter{Codes: []string{audit.CodeBreakGlass, audit.CodeRecordRead}}, stored},
		{"purpose", audit.Filter{Purpose: "TREAT"}, pick(func(i int, _ audit.Event) bool { return i%6 != 0 })},
		{"record type", audit.Filter{RecordType: "Condition", Outcome: audit.OutcomeDeny}, pick(func(i int, _ audit.Event) bool { return i%30 == 0 })},
		{"application", audit.Filter{Application: "ed-console", PatientID: "P0"}, pick(func(i int, _ audit.Event) bool { return i%6 == 0 })},
		{"patients any of", audit.Filter{PatientIDs: []string{"P1", "P2"}}, pick(func(i int, _ audit.Event) bool { return i%3 != 0 })},
		{"patients any of, with actor", audit.Filter{PatientIDs: []string{"P0", "P2"}, ActorID: "actor-1"}, pick(func(i int, _ audit.Event) bool { return i%3 != 1 && i%4 == 1 })},
		{"no match", audit.Filter{PatientID: "P1", ActorID: "nobody"}, nil},
		{"limit", audit.Filter{Limit: 4}, stored[:4]},
		{"after", audit.Filter{After: stored[25].ID}, stored[26:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := query(t, b, tt.f)
			if !slices.EqualFunc(got, tt.want, func(a, b audit.Event) bool { return a.ID == b.ID && a.Hash == b.Hash }) {
				t.Errorf("Query(%+v) = %v, want %v", tt.f, eventIDs(got), eventIDs(tt.want))
			}
			for i, e := range got {
				if i < len(tt.want) && e.ID == tt.want[i].ID {
					checkEvent(t, tt.want[i], e)
				}
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		for _, f := range []audit.Filter{{Limit: 7}, {Limit: 1, Outcome: audit.OutcomeAllow}, {Limit: 5, PatientID: "P2"}} {
			var got []audit.Event
			for page := 0; ; page++ {
				p := query(t, b, f)
				if len(p) > f.Limit {
					t.Fatalf("page of %d events, limit %d", len(p), f.Limit)
				}
				got = append(got, p...)
				if len(p) < f.Limit || page > 40 {
					break
				}
				f.After = p[len(p)-1].ID
			}
			f.After, f.Limit = "", 0
			want := query(t, b, f)
			if !slices.EqualFunc(got, want, func(a, b audit.Event) bool { return a.ID == b.ID }) {
				t.Errorf("pages of %+v = %v, want %v", f, eventIDs(got), eventIDs(want))
			}
		}
	})
}

func eventIDs(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%s#%d", e.Shard, e.Seq)
	}
	return out
}

// longChain is the length of the chain testVerifyLongChain verifies: longer
// than the page size of the backends' ReadChain (sqlite: 5,000), so that
// reading the chain crosses pages.
const longChain = 12_000

func (s *suite) testVerifyLongChain(t *testing.T) {
	b := s.h.New(t, "hub-a")
	n := 0
	for _, size := range []int{1, 4999, 1, 5000, 1999} { // batches crossing the 5,000 page boundary
		appendEvents(t, b, events(size, "P1", t0.Add(time.Duration(n)*time.Millisecond)))
		n += size
	}
	commit(t, b, store.Batch{Events: events(longChain-n, "P2", t0.Add(time.Hour))})
	checkChain(t, b, "hub-a", longChain)
	verifyOK(t, b, longChain)
}

func (s *suite) testMultiShard(t *testing.T) {
	a := s.h.New(t, "hub-a")
	b := s.reopen(t, a, "hub-b")
	ctx := context.Background()
	na, nb := 0, 0
	for i := range 10 {
		appendEvents(t, a, events(3, "P1", t0))
		appendEvents(t, b, events(2, "P2", t0))
		at := t0.Add(time.Duration(i) * time.Second)
		ra, rb := sealed("PA", "Observation", i, at), sealed("PB", "Observation", i, at)
		commit(t, a, store.Batch{Records: []record.Sealed{ra}, Events: writeEvents(ra)})
		commit(t, b, store.Batch{Records: []record.Sealed{rb}, Events: writeEvents(rb)})
		na, nb = na+4, nb+3
	}
	// And at the same time.
	var wg sync.WaitGroup
	for _, x := range []Backend{a, b, a, b} {
		wg.Go(func() {
			for range 10 {
				if err := x.Append(ctx, events(2, "P3", t0)); err != nil {
					t.Errorf("concurrent Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	na, nb = na+40, nb+40

	// One log: a key appended through one shard is not appended again
	// through the other.
	keyed := events(1, "P1", t0)
	keyed[0].Key = "shared-key"
	appendEvents(t, a, keyed)
	appendEvents(t, b, keyed)
	na++

	for _, x := range []Backend{a, b} {
		shards, err := x.Shards(ctx)
		if err != nil || !slices.Equal(shards, []string{"hub-a", "hub-b"}) {
			t.Errorf("Shards = %v, %v; want [hub-a hub-b]", shards, err)
		}
	}
	checkChain(t, a, "hub-a", na)
	checkChain(t, a, "hub-b", nb)
	rep := verifyOK(t, b, uint64(na+nb))
	if rep.Shards != 2 {
		t.Errorf("Verify saw %d shards, want 2", rep.Shards)
	}
	// Each instance reads what the other wrote.
	checkRecords(t, a, "PB", []string{"Observation"}, func() []record.Sealed {
		var out []record.Sealed
		for i := range 10 {
			out = append(out, sealed("PB", "Observation", i, t0.Add(time.Duration(i)*time.Second)))
		}
		return out
	}()...)
	if got := query(t, b, audit.Filter{Limit: 10000}); len(got) != na+nb {
		t.Errorf("Query over both shards returned %d events, want %d", len(got), na+nb)
	}
}

func (s *suite) testReopen(t *testing.T) {
	a := s.h.New(t, "hub-a")
	r := sealed("P1", "Observation", 1, t0)
	commit(t, a, store.Batch{Records: []record.Sealed{r}, Events: writeEvents(r)})
	appendEvents(t, a, events(9, "P1", t0))

	a2 := s.reopen(t, a, "hub-a")
	checkRecords(t, a2, "P1", nil, r)
	appendEvents(t, a2, events(5, "P1", t0))
	r2 := sealed("P1", "Observation", 2, t0.Add(time.Second))
	// Idempotency survives the restart.
	checkResult(t, "commit after reopen", commit(t, a2, store.Batch{Records: []record.Sealed{r, r2}, Events: writeEvents(r, r2)}),
		store.Result{Records: 1, Duplicates: 1, Events: 1})
	checkChain(t, a2, "hub-a", 16)

	a3 := s.reopen(t, a2, "hub-a")
	appendEvents(t, a3, events(4, "P1", t0))
	checkChain(t, a3, "hub-a", 20)
	verifyOK(t, a3, 20)
}

func (s *suite) testConcurrency(t *testing.T) {
	b := s.h.New(t, "hub-a")
	ctx := context.Background()
	const workers = 8
	shared := make([]record.Sealed, 5)
	for i := range shared {
		shared[i] = sealed("P-shared", "Observation", i, t0.Add(time.Duration(i)*time.Second))
	}
	var (
		mu     sync.Mutex
		totals store.Result
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			patient := fmt.Sprintf("P%d", w)
			for i := range 10 {
				evs := events(2, patient, t0)
				evs[0].Key = fmt.Sprintf("read/%d/%d", w, i)
				if err := b.Append(ctx, evs); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
			for i := range 5 {
				var rs []record.Sealed
				for j := range 4 {
					rs = append(rs, sealed(patient, "Observation", i*4+j, t0.Add(time.Duration(i*4+j)*time.Second)))
				}
				if _, err := b.Commit(ctx, store.Batch{Records: rs, Events: writeEvents(rs[:2]...)}); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
			}
			// Every worker commits the same batch (a redelivery race).
			res, err := b.Commit(ctx, store.Batch{Records: shared, Events: writeEvents(shared...)})
			if err != nil {
				t.Errorf("Commit shared: %v", err)
				return
			}
			mu.Lock()
			totals.Records += res.Records
			totals.Duplicates += res.Duplicates
			totals.Events += res.Events
			mu.Unlock()
		})
	}
	// Readers and verification run while the log grows: every prefix of
	// the chain verifies.
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			rep, err := audit.Verify(ctx, b)
			if err != nil || !rep.OK() {
				t.Errorf("Verify during appends: %v %v", rep.Problems, err)
				return
			}
			if _, err := b.Query(ctx, audit.Filter{PatientID: "P1", Limit: 50}); err != nil {
				t.Errorf("Query during appends: %v", err)
				return
			}
			if _, err := b.PatientRecords(ctx, "P2", nil); err != nil {
				t.Errorf("PatientRecords during appends: %v", err)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()

	if totals != (store.Result{Records: 5, Duplicates: 5 * (workers - 1), Events: 5}) {
		t.Errorf("shared batch committed by %d workers: totals %+v, want 5 records, %d duplicates, 5 events", workers, totals, 5*(workers-1))
	}
	for w := range workers {
		got, err := b.PatientRecords(ctx, fmt.Sprintf("P%d", w), nil)
		if err != nil || len(got) != 20 {
			t.Errorf("worker %d: %d records stored (%v), want 20", w, len(got), err)
		}
	}
	checkRecords(t, b, "P-shared", nil, shared...)
	n := workers*(10*2+5*2) + 5
	checkChain(t, b, "hub-a", n)
	verifyOK(t, b, uint64(n))
}
