package merkle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/broker"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/store/sqlite"
	"github.com/segmentio/kafka-go"
)

// logStore is what the service tests need of a backend.
type logStore interface {
	audit.Appender
	audit.Querier
	audit.ChainReader
}

// env is one service over a real store, with a way to edit the stored
// events behind the store's back, as an attacker with write access would.
type env struct {
	store  logStore
	svc    *merkle.Service
	key    string
	shard  string
	modify func(t *testing.T, seq uint64)
	delete func(t *testing.T, seq uint64)
}

func openSQLite(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path, Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{store: st, shard: "hub-0"}
	e.svc, e.key = newService(t, st, st, filepath.Join(dir, "keyring.json"), nil)
	tamper := func(t *testing.T, q string, args ...any) {
		t.Helper()
		tx, err := st.DB().Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, stmt := range []string{`DROP TRIGGER IF EXISTS audit_no_update`, `DROP TRIGGER IF EXISTS audit_no_delete`} {
			if _, err := tx.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		res, err := tx.Exec(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s changed %d rows", q, n)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	e.modify = func(t *testing.T, seq uint64) {
		tamper(t, `UPDATE audit_events SET actor_id = actor_id || '-edited' WHERE shard = ? AND seq = ?`, e.shard, seq)
	}
	e.delete = func(t *testing.T, seq uint64) {
		tamper(t, `DELETE FROM audit_events WHERE shard = ? AND seq = ?`, e.shard, seq)
	}
	return e
}

// newService builds the service the way the hub does: the signing key is
// the data key of keys.OwnerAuditSigning from a real keyring, stored
// wrapped in the store.
func newService(t *testing.T, st logStore, wrapped keys.WrappedStore, keyring string, pub merkle.Publisher) (*merkle.Service, string) {
	t.Helper()
	kr, err := local.Open(keyring)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := phi.NewSealer(kr, wrapped, phi.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := merkle.KeySigner(context.Background(), sealer)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := merkle.NewService(merkle.Deps{Chain: st, Events: st, Log: st, Signer: signer, Instance: "hub-0", Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	return svc, svc.VerifierKey()
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// appendEvents appends n read events to the log and returns them as
// stored.
func appendEvents(t *testing.T, st logStore, from, n int) {
	t.Helper()
	var evs []audit.Event
	for i := from; i < from+n; i++ {
		evs = append(evs, audit.Event{
			Time: t0.Add(time.Duration(i) * time.Minute), Code: audit.CodeRecordRead, Action: audit.ActionRead,
			Outcome: audit.OutcomeAllow, ActorID: fmt.Sprintf("dr.%03d", i%17), ActorRoles: []string{"physician"},
			Purpose: "TREAT", PatientID: fmt.Sprintf("P%06d", i%29), RecordType: "Observation",
			RecordIDs: []string{fmt.Sprintf("R%d", i)}, Disclosed: []string{"code", "valueQuantity"},
		})
	}
	if err := st.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// eventAt returns the stored event at seq of the shard.
func eventAt(t *testing.T, st logStore, shard string, seq uint64) audit.Event {
	t.Helper()
	var out audit.Event
	errFound := errors.New("found")
	err := st.ReadChain(context.Background(), shard, func(e audit.Event) error {
		if e.Seq == seq {
			out = e
			return errFound
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("no event at seq %d: %v", seq, err)
	}
	return out
}

func eventJSON(t *testing.T, e audit.Event) []byte {
	t.Helper()
	b, err := json.Marshal(merkle.EventOf(e))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServiceSQLite(t *testing.T) { runServiceSuite(t, openSQLite) }

// runServiceSuite is the service's contract, run against every backend.
func runServiceSuite(t *testing.T, open func(*testing.T) *env) {
	t.Run("ProofsAndTamper", func(t *testing.T) { testProofsAndTamper(t, open(t)) })
	t.Run("Truncation", func(t *testing.T) { testTruncation(t, open(t)) })
	t.Run("TamperBeforeFirstCheckpoint", func(t *testing.T) { testTamperBeforeFirstCheckpoint(t, open(t)) })
	t.Run("Deletion", func(t *testing.T) { testDeletion(t, open(t)) })
	t.Run("BadRequests", func(t *testing.T) { testBadRequests(t, open(t)) })
}

func testProofsAndTamper(t *testing.T, e *env) {
	ctx := context.Background()
	appendEvents(t, e.store, 0, 50)
	cp1, err := e.svc.Publish(ctx, e.shard)
	if err != nil {
		t.Fatal(err)
	}
	if cp1.Size != 50 || cp1.Origin != "carecrest-hub/"+e.shard {
		t.Fatalf("checkpoint %+v", cp1)
	}
	// The checkpoint is itself in the log, after the events it covers.
	cpEvent := eventAt(t, e.store, e.shard, 51)
	if cpEvent.Code != audit.CodeCheckpoint || cpEvent.Reason != cp1.Note || cpEvent.RecordType != "AuditCheckpoint" || cpEvent.ActorID != "hub-0" {
		t.Fatalf("checkpoint event %+v", cpEvent)
	}
	appendEvents(t, e.store, 50, 30)
	cp2, err := e.svc.Publish(ctx, e.shard)
	if err != nil {
		t.Fatal(err)
	}
	if cp2.Size != 81 {
		t.Fatalf("second checkpoint covers %d events, want 81", cp2.Size)
	}
	latest, err := e.svc.Checkpoint(ctx, e.shard)
	if err != nil || latest.Note != cp2.Note {
		t.Fatalf("latest checkpoint %q, %v", latest.Note, err)
	}

	target := eventAt(t, e.store, e.shard, 10)
	// Against the latest checkpoint (size 0: the latest that covers it).
	p, err := e.svc.InclusionProof(ctx, target.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.TreeSize != 81 || p.LeafIndex != 9 || p.Checkpoint != cp2.Note || p.Event == nil || p.Event.ID != target.ID {
		t.Fatalf("proof %+v", p)
	}
	if err := merkle.VerifyInclusion(eventJSON(t, target), p, cp2.Note, e.key); err != nil {
		t.Fatalf("inclusion against the latest checkpoint: %v", err)
	}
	// The proof file round-trips through JSON and verifies with the event
	// it carries.
	b, _ := json.Marshal(p)
	var p2 merkle.InclusionProof
	if err := json.Unmarshal(b, &p2); err != nil {
		t.Fatal(err)
	}
	evJSON, _ := json.Marshal(p2.Event)
	if err := merkle.VerifyInclusion(evJSON, p2, cp2.Note, e.key); err != nil {
		t.Fatalf("inclusion after a JSON round trip: %v", err)
	}
	// Against the earlier checkpoint.
	old, err := e.svc.InclusionProof(ctx, target.ID, cp1.Size)
	if err != nil {
		t.Fatal(err)
	}
	if old.Checkpoint != cp1.Note {
		t.Fatal("the proof does not carry the checkpoint of its size")
	}
	if err := merkle.VerifyInclusion(eventJSON(t, target), old, cp1.Note, e.key); err != nil {
		t.Fatalf("inclusion against the earlier checkpoint: %v", err)
	}
	// Not against a checkpoint of another size, another key, or for an
	// edited event.
	if err := merkle.VerifyInclusion(eventJSON(t, target), old, cp2.Note, e.key); !errors.Is(err, merkle.ErrProof) {
		t.Errorf("proof for size 50 against the checkpoint of 81: %v", err)
	}
	otherKey, _ := merkle.NewSigner(merkle.KeyName, make([]byte, 32))
	if err := merkle.VerifyInclusion(eventJSON(t, target), old, cp1.Note, otherKey.VerifierKey()); !errors.Is(err, merkle.ErrSignature) {
		t.Errorf("another verifier key: %v", err)
	}
	edited := target
	edited.Purpose = "HPAYMT"
	if err := merkle.VerifyInclusion(eventJSON(t, edited), old, cp1.Note, e.key); !errors.Is(err, merkle.ErrProof) {
		t.Errorf("edited event: %v", err)
	}
	other := eventAt(t, e.store, e.shard, 11)
	if err := merkle.VerifyInclusion(eventJSON(t, other), old, cp1.Note, e.key); !errors.Is(err, merkle.ErrProof) {
		t.Errorf("another event: %v", err)
	}

	// Consistency between the two checkpoints.
	cons, err := e.svc.ConsistencyProof(ctx, e.shard, cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if cons.OldCheckpoint != cp1.Note || cons.NewCheckpoint != cp2.Note {
		t.Fatal("the consistency proof does not carry both checkpoints")
	}
	if err := merkle.VerifyConsistency(cp1.Note, cp2.Note, cons, e.key); err != nil {
		t.Fatalf("consistency: %v", err)
	}
	if err := merkle.VerifyConsistency(cp2.Note, cp1.Note, cons, e.key); err == nil {
		t.Error("consistency with the checkpoints swapped verified")
	}
	latestCons, err := e.svc.ConsistencyProof(ctx, e.shard, cp1.Size, 0)
	if err != nil || latestCons.NewSize != cp2.Size {
		t.Fatalf("consistency to the latest checkpoint: %+v, %v", latestCons, err)
	}

	// More events, a third checkpoint: the first still extends.
	appendEvents(t, e.store, 80, 7)
	cp3, err := e.svc.Publish(ctx, e.shard)
	if err != nil {
		t.Fatal(err)
	}
	cons13, err := e.svc.ConsistencyProof(ctx, e.shard, cp1.Size, cp3.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyConsistency(cp1.Note, cp3.Note, cons13, e.key); err != nil {
		t.Fatalf("consistency 1→3: %v", err)
	}

	// Now an attacker edits event 10 in the database.
	e.modify(t, 10)
	stored := eventAt(t, e.store, e.shard, 10)
	if stored.ActorID == target.ActorID {
		t.Fatal("the edit did not land")
	}
	// The proof made before no longer proves the event as stored now.
	if err := merkle.VerifyInclusion(eventJSON(t, stored), old, cp1.Note, e.key); !errors.Is(err, merkle.ErrProof) {
		t.Fatalf("tampered event proved against the earlier checkpoint: %v", err)
	}
	// The service refuses to prove against the checkpoints, or to sign
	// over the rewritten history.
	for _, size := range []uint64{cp1.Size, cp2.Size} {
		if _, err := e.svc.InclusionProof(ctx, target.ID, size); !errors.Is(err, merkle.ErrTampered) {
			t.Errorf("inclusion proof of the tampered event against size %d: %v", size, err)
		}
	}
	if _, err := e.svc.InclusionProof(ctx, eventAt(t, e.store, e.shard, 40).ID, cp1.Size); !errors.Is(err, merkle.ErrTampered) {
		t.Errorf("inclusion proof of an intact event against a tampered checkpoint: %v", err)
	}
	if _, err := e.svc.ConsistencyProof(ctx, e.shard, cp1.Size, cp2.Size); !errors.Is(err, merkle.ErrTampered) {
		t.Errorf("consistency over the tampered range: %v", err)
	}
	if _, err := e.svc.Sign(ctx, e.shard); !errors.Is(err, merkle.ErrTampered) {
		t.Errorf("signing over the tampered log: %v", err)
	}
	// Nor does it prove anything from the tampered log at a size no
	// checkpoint covers: the event no longer matches its chain hash.
	if _, err := e.svc.InclusionProof(ctx, target.ID, cp1.Size+1); !errors.Is(err, merkle.ErrTampered) {
		t.Errorf("inclusion proof from the tampered log at an unpublished size: %v", err)
	}
}

// An event edited after it was appended but before any checkpoint covers
// it: the signer refuses to vouch for it (the chain hash no longer
// matches), so no checkpoint ever signs the rewritten history.
func testTamperBeforeFirstCheckpoint(t *testing.T, e *env) {
	ctx := context.Background()
	appendEvents(t, e.store, 0, 12)
	e.modify(t, 5)
	if _, err := e.svc.Publish(ctx, e.shard); !errors.Is(err, merkle.ErrTampered) {
		t.Fatalf("signing over an event edited before any checkpoint: %v", err)
	}
}

// Events removed from the end, with the checkpoint event after them, which
// the hash chain cannot show: the running signer refuses to sign, and a
// holder of the checkpoint gets no consistency proof.
func testTruncation(t *testing.T, e *env) {
	ctx := context.Background()
	appendEvents(t, e.store, 0, 12)
	cp, err := e.svc.Publish(ctx, e.shard)
	if err != nil {
		t.Fatal(err)
	}
	e.delete(t, 13) // the checkpoint event
	e.delete(t, 12)
	if _, err := e.svc.Publish(ctx, e.shard); !errors.Is(err, merkle.ErrTampered) {
		t.Fatalf("signed over a truncated log: %v", err)
	}
	if _, err := e.svc.ConsistencyProof(ctx, e.shard, cp.Size, cp.Size); !errors.Is(err, merkle.ErrInvalid) {
		t.Fatalf("consistency from a checkpoint past the truncated end: %v", err)
	}
}

// A hole in the chain stops proofs over it.
func testDeletion(t *testing.T, e *env) {
	ctx := context.Background()
	appendEvents(t, e.store, 0, 20)
	cp, err := e.svc.Publish(ctx, e.shard)
	if err != nil {
		t.Fatal(err)
	}
	last := eventAt(t, e.store, e.shard, 20)
	e.delete(t, 5)
	if _, err := e.svc.InclusionProof(ctx, last.ID, cp.Size); !errors.Is(err, merkle.ErrTampered) {
		t.Fatalf("proof over a deleted event: %v", err)
	}
	if _, err := e.svc.InclusionProof(ctx, eventAt(t, e.store, e.shard, 3).ID, 4); err != nil {
		t.Fatalf("proof of a prefix before the hole: %v", err)
	}
}

func testBadRequests(t *testing.T, e *env) {
	ctx := context.Background()
	appendEvents(t, e.store, 0, 5)
	first := eventAt(t, e.store, e.shard, 3)
	for name, c := range map[string]struct {
		err  error
		call func() error
	}{
		"not a ULID": {merkle.ErrInvalid, func() error { _, err := e.svc.InclusionProof(ctx, "P000001", 0); return err }},
		"unknown event": {merkle.ErrNotFound, func() error {
			_, err := e.svc.InclusionProof(ctx, audit.NewID(t0.Add(-time.Hour)), 0)
			return err
		}},
		"size before the event": {merkle.ErrInvalid, func() error { _, err := e.svc.InclusionProof(ctx, first.ID, 2); return err }},
		"size past the log":     {merkle.ErrInvalid, func() error { _, err := e.svc.InclusionProof(ctx, first.ID, 100); return err }},
		"sizes out of order":    {merkle.ErrInvalid, func() error { _, err := e.svc.ConsistencyProof(ctx, e.shard, 4, 3); return err }},
		"no checkpoint yet":     {merkle.ErrNotFound, func() error { _, err := e.svc.ConsistencyProof(ctx, e.shard, 1, 0); return err }},
		"unknown shard":         {merkle.ErrNotFound, func() error { _, err := e.svc.Sign(ctx, "no-such-shard"); return err }},
	} {
		if err := c.call(); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		} else if strings.Contains(err.Error(), "P00000") && name != "not a ULID" {
			t.Errorf("%s: error names a patient: %v", name, err)
		}
	}
	// An inclusion proof with no checkpoint yet publishes one.
	p, err := e.svc.InclusionProof(ctx, first.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.TreeSize != 5 || p.Checkpoint == "" {
		t.Fatalf("proof %+v", p)
	}
	if err := merkle.VerifyInclusion(eventJSON(t, first), p, p.Checkpoint, e.key); err != nil {
		t.Fatal(err)
	}
}

// The signing key is the data key of keys.OwnerAuditSigning: the same
// after a restart, so old checkpoints keep verifying.
func TestSigningKeyStable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var vkeys []string
	for range 2 {
		st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: "hub-0"})
		if err != nil {
			t.Fatal(err)
		}
		_, key := newService(t, st, st, filepath.Join(dir, "keyring.json"), nil)
		vkeys = append(vkeys, key)
		st.Close()
	}
	if vkeys[0] != vkeys[1] {
		t.Fatalf("verifier key changed across a restart: %s, %s", vkeys[0], vkeys[1])
	}
}

// Published checkpoints also go to Kafka (a real Kafka-protocol broker).
func TestPublishToKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1}, merkle.DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, key := newService(t, st, st, filepath.Join(dir, "keyring.json"), w)
	appendEvents(t, st, 0, 3)
	cp, err := svc.Publish(ctx, "hub-0")
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), Topic: merkle.DefaultTopic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != "hub-0" || string(m.Value) != cp.Note {
		t.Fatalf("message %q: %q", m.Key, m.Value)
	}
	v, _ := merkle.NewVerifier(key)
	if _, err := merkle.OpenCheckpoint(string(m.Value), v); err != nil {
		t.Fatal(err)
	}
}

// The schedule's idle ticks publish nothing: only the checkpoint's own
// event follows it.
func TestPublishIfGrown(t *testing.T) {
	ctx := context.Background()
	e := openSQLite(t)
	if _, ok, err := e.svc.PublishIfGrown(ctx, e.shard); err != nil || ok {
		t.Fatalf("published a checkpoint of an empty shard (%v, %v)", ok, err)
	}
	appendEvents(t, e.store, 0, 4)
	cp, ok, err := e.svc.PublishIfGrown(ctx, e.shard)
	if err != nil || !ok || cp.Size != 4 {
		t.Fatalf("first: %+v %v %v", cp, ok, err)
	}
	if _, ok, err := e.svc.PublishIfGrown(ctx, e.shard); err != nil || ok {
		t.Fatalf("idle tick published (%v, %v)", ok, err)
	}
	appendEvents(t, e.store, 4, 1)
	cp, ok, err = e.svc.PublishIfGrown(ctx, e.shard)
	if err != nil || !ok || cp.Size != 6 {
		t.Fatalf("after an append: %+v %v %v", cp, ok, err)
	}
}

// An inclusion proof end to end over the embedded store: read every event
// of the shard up to the checkpoint, recompute its hash, build the path.
func BenchmarkServiceInclusionProofSQLite100k(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: "hub-0"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	signer, _ := merkle.NewSigner(merkle.KeyName, make([]byte, 32))
	svc, err := merkle.NewService(merkle.Deps{Chain: st, Events: st, Log: st, Signer: signer, Instance: "hub-0"})
	if err != nil {
		b.Fatal(err)
	}
	var target string
	for i := 0; i < n; i += 5000 {
		var evs []audit.Event
		for j := i; j < i+5000; j++ {
			at := t0.Add(time.Duration(j) * time.Second)
			evs = append(evs, audit.Event{ID: audit.NewID(at), Time: at, Code: audit.CodeRecordRead, Action: audit.ActionRead,
				Outcome: audit.OutcomeAllow, ActorID: fmt.Sprintf("dr.%03d", j%200), PatientID: fmt.Sprintf("P%06d", j%5000),
				RecordType: "Observation", RecordIDs: []string{fmt.Sprintf("R%d", j)}, Disclosed: []string{"code", "valueQuantity"}})
			if j == n/2 {
				target = evs[len(evs)-1].ID
			}
		}
		if err := st.Append(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := svc.Publish(ctx, "hub-0"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.InclusionProof(ctx, target, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
