package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

// t0 is the suite's reference time (nanoseconds set, to check they are
// kept).
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

// binary is ciphertext-like: every byte value, NULs included.
var binary = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// sealed returns a fully populated sealed record, the n-th of its patient
// and type.
func sealed(patient, typ string, n int, received time.Time) record.Sealed {
	key := record.NewKey("ehr", fmt.Sprintf("%s/%s/%d", patient, typ, n), 0)
	return record.Sealed{
		ID:        record.IDFromKey(key),
		Type:      typ,
		Source:    "ehr",
		MessageID: fmt.Sprintf("MSG-%s-%s-%d", patient, typ, n),
		Key:       key,
		PatientID: patient,
		Labels:    []string{"R", "PSY"},
		Codes: []record.Coding{
			{System: "http://loinc.org", Code: "2345-7", Display: "Glucose"},
			{System: "urn:local", Code: "GLU"},
		},
		Clear: []byte(fmt.Sprintf(`{"resourceType":%q,"status":"final","note":"ünïcode ✓ %d"}`, typ, n)),
		Fields: map[string][]byte{
			"valueQuantity": binary,
			"performer":     append([]byte{0, 0, byte(n)}, "opaque"...),
		},
		Received: received,
	}
}

// sameRecord reports how got differs from want ("" when it does not). Nil
// and empty slices and maps are equal; times must be the same instant.
func sameRecord(want, got record.Sealed) string {
	var d []string
	cmp := func(field string, ok bool, w, g any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w))
		}
	}
	cmp("ID", want.ID == got.ID, want.ID, got.ID)
	cmp("Type", want.Type == got.Type, want.Type, got.Type)
	cmp("Source", want.Source == got.Source, want.Source, got.Source)
	cmp("MessageID", want.MessageID == got.MessageID, want.MessageID, got.MessageID)
	cmp("Key", want.Key == got.Key, want.Key, got.Key)
	cmp("PatientID", want.PatientID == got.PatientID, want.PatientID, got.PatientID)
	cmp("Labels", slices.Equal(want.Labels, got.Labels), want.Labels, got.Labels)
	cmp("Codes", slices.Equal(want.Codes, got.Codes), want.Codes, got.Codes)
	cmp("Clear", bytes.Equal(want.Clear, got.Clear), string(want.Clear), string(got.Clear))
	fieldsOK := len(want.Fields) == len(got.Fields)
	for k, v := range want.Fields {
		g, ok := got.Fields[k]
		fieldsOK = fieldsOK && ok && bytes.Equal(v, g)
	}
	cmp("Fields", fieldsOK, want.Fields, got.Fields)
	cmp("Received", want.Received.Equal(got.Received), want.Received, got.Received)
	return strings.Join(d, "; ")
}

func checkRecords(t *testing.T, b Backend, patient string, types []string, want ...record.Sealed) {
	t.Helper()
	got, err := b.PatientRecords(context.Background(), patient, types)
	if err != nil {
		t.Fatalf("PatientRecords(%s, %v): %v", patient, types, err)
	}
	if len(got) != len(want) {
		t.Fatalf("PatientRecords(%s, %v) returned %d records %v, want %d %v", patient, types, len(got), ids(got), len(want), ids(want))
	}
	for i := range want {
		if d := sameRecord(want[i], got[i]); d != "" {
			t.Errorf("PatientRecords(%s, %v)[%d] (want %s): %s", patient, types, i, want[i].ID, d)
		}
	}
}

func ids(rs []record.Sealed) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func commit(t *testing.T, b Backend, batch store.Batch) store.Result {
	t.Helper()
	res, err := b.Commit(context.Background(), batch)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return res
}

func checkResult(t *testing.T, what string, got, want store.Result) {
	t.Helper()
	if got != want {
		t.Errorf("%s: Result %+v, want %+v", what, got, want)
	}
}

// writeEvents returns the audit events of a write of records, keyed by
// record key.
func writeEvents(rs ...record.Sealed) []audit.Event {
	out := make([]audit.Event, len(rs))
	for i, r := range rs {
		out[i] = audit.Event{
			Code: audit.CodeRecordWrite, Action: audit.ActionWrite, Outcome: audit.OutcomeAllow,
			ActorID: r.Source, Application: "hub.in." + r.Source, PatientID: r.PatientID, RecordType: r.Type,
			RecordIDs: []string{r.ID}, Disclosed: r.FieldNames(), PolicyRevision: "rev-1",
			RequestID: r.MessageID, Key: "write/" + r.Key,
		}
	}
	return out
}

func (s *suite) testCommit(t *testing.T) {
	b := s.h.New(t, "hub-a")
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	obs1 := sealed("P1", "Observation", 1, sec(3))
	pat := sealed("P1", "Patient", 1, sec(1))
	cond := sealed("P1", "Condition", 1, sec(2))
	obs2 := sealed("P1", "Observation", 2, sec(5))
	other := sealed("P2", "Observation", 1, sec(4))
	// A record with nothing but identity: no labels, codes, clear or
	// sealed elements.
	bare := record.Sealed{ID: "r-bare", Key: "k-bare", Type: "Basic", Source: "lis", MessageID: "m", PatientID: "P3", Received: sec(6)}

	// Records out of time order within a batch and across batches.
	events := writeEvents(obs1, pat, other)
	checkResult(t, "first commit", commit(t, b, store.Batch{Records: []record.Sealed{obs1, pat, other}, Events: events}),
		store.Result{Records: 3, Events: 3})
	checkResult(t, "second commit", commit(t, b, store.Batch{Records: []record.Sealed{obs2, cond}}),
		store.Result{Records: 2})
	checkResult(t, "bare record", commit(t, b, store.Batch{Records: []record.Sealed{bare}}), store.Result{Records: 1})
	checkResult(t, "empty batch", commit(t, b, store.Batch{}), store.Result{})

	t.Run("oldest first", func(t *testing.T) { checkRecords(t, b, "P1", nil, pat, cond, obs1, obs2) })
	t.Run("one type", func(t *testing.T) { checkRecords(t, b, "P1", []string{"Observation"}, obs1, obs2) })
	t.Run("two types", func(t *testing.T) { checkRecords(t, b, "P1", []string{"Observation", "Condition"}, cond, obs1, obs2) })
	t.Run("absent type", func(t *testing.T) { checkRecords(t, b, "P1", []string{"Encounter"}) })
	t.Run("other patient", func(t *testing.T) { checkRecords(t, b, "P2", nil, other) })
	t.Run("unknown patient", func(t *testing.T) { checkRecords(t, b, "P-none", nil) })
	t.Run("bare record", func(t *testing.T) { checkRecords(t, b, "P3", nil, bare) })

	t.Run("events", func(t *testing.T) {
		got := readChain(t, b, "hub-a")
		if len(got) != len(events) {
			t.Fatalf("chain holds %d events, want %d", len(got), len(events))
		}
		for i := range events {
			checkEvent(t, events[i], got[i])
		}
	})

}

func (s *suite) testIdempotency(t *testing.T) {
	b := s.h.New(t, "hub-a")
	var recs []record.Sealed
	for i := range 10 {
		recs = append(recs, sealed("P1", "Observation", i, t0.Add(time.Duration(i)*time.Minute)))
	}
	unkeyed := func(n int) []audit.Event {
		out := make([]audit.Event, n)
		for i := range out {
			out[i] = audit.Event{Code: audit.CodeIngestRejected, Action: audit.ActionReject, Outcome: audit.OutcomeError,
				ActorID: "ehr", Reason: "undecodable"}
		}
		return out
	}
	consents := []store.ConsentVersion{{Key: "c-k1", Directive: directive("D1", "P1", "active", t0)}}
	batch := func(rs []record.Sealed) store.Batch {
		return store.Batch{Records: rs, Consents: consents, Events: append(writeEvents(rs...), unkeyed(2)...)}
	}

	checkResult(t, "first", commit(t, b, batch(recs[:6])), store.Result{Records: 6, Events: 8})
	checkResult(t, "same batch again", commit(t, b, batch(recs[:6])), store.Result{Duplicates: 6, Events: 2})
	checkResult(t, "overlapping batch", commit(t, b, batch(recs[3:])), store.Result{Records: 4, Duplicates: 3, Events: 6})

	// A record and a keyed event repeated inside one batch are stored once.
	dup := sealed("P1", "Observation", 99, t0.Add(time.Hour))
	res := commit(t, b, store.Batch{Records: []record.Sealed{dup, dup}, Events: writeEvents(dup, dup)})
	if res.Records != 1 || res.Records+res.Duplicates != 2 || res.Events != 1 {
		t.Errorf("batch repeating a record and an event: %+v, want 1 record, 1 duplicate, 1 event", res)
	}

	// Append skips keys already in the log, whoever wrote them, and keys
	// repeated in its batch; events without a key are always appended.
	ev := audit.Event{Code: audit.CodeRecordRead, Action: audit.ActionRead, Outcome: audit.OutcomeAllow, ActorID: "dr-a", Key: "read-1"}
	for range 2 {
		if err := b.Append(context.Background(), append(writeEvents(recs[0]), ev, ev, unkeyed(1)[0])); err != nil {
			t.Fatal(err)
		}
	}

	checkRecords(t, b, "P1", nil, append(slices.Clone(recs), dup)...)
	chain := readChain(t, b, "hub-a")
	if want := 8 + 2 + 6 + 1 + 2*1 + 1; len(chain) != want {
		t.Errorf("chain holds %d events, want %d", len(chain), want)
	}
	keys := map[string]int{}
	for _, e := range chain {
		if e.Key != "" {
			keys[e.Key]++
		}
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("key %s appended %d times", k, n)
		}
	}
	if len(keys) != 10+1+1 {
		t.Errorf("%d keyed events stored, want 12", len(keys))
	}
	verifyOK(t, b, uint64(len(chain)))
}

func directive(id, patient, status string, recorded time.Time) consent.Directive {
	return consent.Directive{
		ID: id, PatientID: patient, Status: status, Decision: "deny", Purposes: []string{"HMARKT", "HRESCH"},
		Start: recorded.Add(-24 * time.Hour), End: recorded.Add(365 * 24 * time.Hour), Recorded: recorded, Source: "ehr",
	}
}

func sameDirective(a, b consent.Directive) bool {
	return a.ID == b.ID && a.PatientID == b.PatientID && a.Status == b.Status && a.Decision == b.Decision &&
		slices.Equal(a.Purposes, b.Purposes) && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.Recorded.Equal(b.Recorded) && a.Source == b.Source
}

func checkConsents(t *testing.T, b Backend, patient string, want ...consent.Directive) {
	t.Helper()
	got, err := b.Consents(context.Background(), patient)
	if err != nil {
		t.Fatalf("Consents(%s): %v", patient, err)
	}
	// The contract does not order directives.
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	sort.Slice(want, func(i, j int) bool { return want[i].ID < want[j].ID })
	if len(got) != len(want) {
		t.Fatalf("Consents(%s) = %+v, want %+v", patient, got, want)
	}
	for i := range want {
		if !sameDirective(want[i], got[i]) {
			t.Errorf("Consents(%s)[%d] = %+v, want %+v", patient, i, got[i], want[i])
		}
	}
}

func (s *suite) testConsents(t *testing.T) {
	b := s.h.New(t, "hub-a")
	d1v1 := directive("D1", "P1", "active", t0)
	d2 := directive("D2", "P1", "active", t0.Add(time.Minute))
	d2.Purposes, d2.Start, d2.End = nil, time.Time{}, time.Time{}
	d3 := directive("D3", "P2", "active", t0)
	d1v2 := directive("D1", "P1", "inactive", t0.Add(time.Hour))
	d1v3 := directive("D1", "P1", "entered-in-error", t0.Add(2*time.Hour))

	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k1", Directive: d1v1}, {Key: "k2", Directive: d2}, {Key: "k3", Directive: d3}}})
	checkConsents(t, b, "P1", d1v1, d2)
	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k4", Directive: d1v2}}})
	checkConsents(t, b, "P1", d1v2, d2)
	// A version whose key is stored is skipped, even with other content.
	commit(t, b, store.Batch{Consents: []store.ConsentVersion{{Key: "k4", Directive: d1v3}, {Key: "k1", Directive: d1v3}}})
	checkConsents(t, b, "P1", d1v2, d2)
	checkConsents(t, b, "P2", d3)
	checkConsents(t, b, "P-none")
}

func (s *suite) testFailClosed(t *testing.T) {
	b := s.h.New(t, "hub-a")
	r := sealed("P1", "Observation", 1, t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unavailable := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s with a cancelled context succeeded", what)
		} else if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, audit.ErrUnavailable) && !errors.Is(err, context.Canceled) {
			t.Logf("%s: error %v is neither ErrUnavailable nor context.Canceled", what, err)
		}
	}
	_, err := b.Commit(ctx, store.Batch{Records: []record.Sealed{r}, Consents: []store.ConsentVersion{{Key: "c", Directive: directive("D1", "P1", "active", t0)}}, Events: writeEvents(r)})
	unavailable("Commit", err)
	unavailable("Append", b.Append(ctx, writeEvents(r)))
	_, err = b.PutWrappedIfAbsent(ctx, "P1", []byte("wrapped"))
	unavailable("PutWrappedIfAbsent", err)
	unavailable("PutLinks", b.PutLinks(ctx, map[string]string{"h1": "P1"}))

	checkRecords(t, b, "P1", nil)
	checkConsents(t, b, "P1")
	if evs := query(t, b, audit.Filter{}); len(evs) != 0 {
		t.Errorf("%d events stored by failed calls", len(evs))
	}
	if shards, err := b.Shards(context.Background()); err != nil || len(shards) != 0 {
		t.Errorf("Shards after failed calls = %v, %v", shards, err)
	}
	if _, ok, err := b.GetWrapped(context.Background(), "P1"); ok || err != nil {
		t.Errorf("GetWrapped after a failed put: ok %v, err %v", ok, err)
	}
	if l, err := b.LookupLinks(context.Background(), []string{"h1"}); len(l) != 0 || err != nil {
		t.Errorf("LookupLinks after a failed put: %v, %v", l, err)
	}

	// The failed calls left no trace in the chain: the next event is seq 1.
	checkResult(t, "retry", commit(t, b, store.Batch{Records: []record.Sealed{r}, Events: writeEvents(r)}), store.Result{Records: 1, Events: 1})
	checkChain(t, b, "hub-a", 1)
	verifyOK(t, b, 1)

	t.Run("deadline during the write", func(t *testing.T) { failMidway(t, b, 1) })
}

// failMidway commits and appends large batches under deadlines short
// enough to expire during the write, then longer ones until the write
// succeeds. Whatever the outcome, a failed write leaves no trace: none of
// its records, no event, no hole or fork in the chain.
func failMidway(t *testing.T, b Backend, chainLen int) {
	const size = 400
	for attempt, d := 0, 20*time.Microsecond; d < time.Minute; attempt, d = attempt+1, d*2 {
		patient := fmt.Sprintf("P-deadline-%d", attempt)
		var rs []record.Sealed
		for i := range size {
			rs = append(rs, sealed(patient, "Observation", i, t0))
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		var err error
		if attempt%2 == 0 {
			_, err = b.Commit(ctx, store.Batch{Records: rs, Events: writeEvents(rs...)})
		} else {
			err = b.Append(ctx, events(size, patient, t0))
		}
		cancel()
		got, rerr := b.PatientRecords(context.Background(), patient, nil)
		if rerr != nil {
			t.Fatal(rerr)
		}
		stored := len(query(t, b, audit.Filter{PatientID: patient, Limit: 10000}))
		switch {
		case err != nil && (len(got) != 0 || stored != 0):
			t.Fatalf("a write that failed (%v) left %d records and %d events", err, len(got), stored)
		case err == nil && attempt%2 == 0 && (len(got) != size || stored != size):
			t.Fatalf("a commit that succeeded stored %d records and %d events, want %d", len(got), stored, size)
		case err == nil && attempt%2 == 1 && stored != size:
			t.Fatalf("an append that succeeded stored %d events, want %d", stored, size)
		}
		if err == nil {
			chainLen += size
		}
		// The next write continues the chain where the last durable one
		// ended.
		appendEvents(t, b, events(1, "P-after", t0))
		chainLen++
		checkChain(t, b, "hub-a", chainLen)
		if err == nil && attempt > 0 {
			break
		}
	}
	verifyOK(t, b, uint64(chainLen))
}
