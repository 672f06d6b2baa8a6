package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/broker"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/store/sqlite"
	"github.com/segmentio/kafka-go"
)

// rig is a pipeline on real parts: embedded Kafka-protocol broker, SQLite
// store, local keyring, OPA with the embedded policy.
type rig struct {
	brokers []string
	store   *sqlite.Store
	deps    Deps
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 2}, "hub.in.ehr", "hub.in.lis", "hub.deadletter")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: "hub-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := local.Open(filepath.Join(dir, "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := phi.NewSealer(kr, st, phi.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ik, err := sealer.DataKey(ctx, keys.OwnerIndex)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dlq := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	t.Cleanup(func() { dlq.Close() })
	return &rig{brokers: b.Addrs(), store: st, deps: Deps{
		Decode: Decode, Resolver: mpi.New(ik, st), Decider: eng, Sealer: sealer, Store: st, DeadLetter: dlq,
	}}
}

func (r *rig) reader() *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: r.brokers, GroupID: "hub", GroupTopics: []string{"hub.in.ehr", "hub.in.lis"},
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond, HeartbeatInterval: time.Second,
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
	})
}

func adt(i int) kafka.Message {
	return kafka.Message{
		Topic: "hub.in.ehr", Key: fmt.Appendf(nil, "p%d", i),
		Value:   fmt.Appendf(nil, "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01|MSG%04d|P|2.5.1\rPID|1||MRN%04d^^^H&1.2.3&ISO^MR||Doe%d^Pat||19700101|F\r", i, i, i),
		Headers: []kafka.Header{{Key: "content-type", Value: []byte(ContentHL7v2)}},
	}
}

func produce(t *testing.T, brokers []string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func countWriteEvents(t *testing.T, st *sqlite.Store) int {
	t.Helper()
	evs, err := st.Query(context.Background(), audit.Filter{Action: audit.ActionWrite, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestCrashBetweenStoreAndCommit: the hub dies after the batch is durable
// but before its offsets are committed; after a restart the batch is
// redelivered and nothing is stored or audited twice.
func TestCrashBetweenStoreAndCommit(t *testing.T) {
	r := newRig(t)
	const n = 20
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, adt(i))
	}
	produce(t, r.brokers, msgs...)

	// First life: crash right after the first durable commit.
	p1, err := New(Config{BatchSize: 100, BatchWait: 300 * time.Millisecond}, r.deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx1, crash := context.WithCancel(context.Background())
	var crashed atomic.Bool
	p1.afterStore = func() { crashed.Store(true); crash() }
	rd1 := r.reader()
	if err := p1.Run(ctx1, crashingSource{rd1, &crashed}); err != nil {
		t.Fatal(err)
	}
	rd1.Close()
	if !crashed.Load() {
		t.Fatal("the pipeline never reached the crash point")
	}
	stored, _ := r.store.CountRecords(context.Background())
	if stored == 0 {
		t.Fatal("nothing was stored before the crash")
	}

	// Second life: the same group gets the uncommitted messages again.
	counting := &countingStore{Store: r.store}
	deps := r.deps
	deps.Store = counting
	p2, err := New(Config{BatchSize: 100, BatchWait: 50 * time.Millisecond}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	rd2 := r.reader()
	defer rd2.Close()
	go func() { done <- p2.Run(ctx2, rd2) }()
	deadline := time.Now().Add(30 * time.Second)
	for (countWriteEvents(t, r.store) < n || counting.duplicates.Load() < int64(stored)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if counting.duplicates.Load() != int64(stored) {
		t.Errorf("redelivered duplicates skipped = %d, want the %d records stored before the crash", counting.duplicates.Load(), stored)
	}
	got, _ := r.store.CountRecords(context.Background())
	if got != n {
		t.Errorf("records = %d, want exactly %d", got, n)
	}
	if w := countWriteEvents(t, r.store); w != n {
		t.Errorf("write audit events = %d, want exactly %d", w, n)
	}
	rep, err := audit.Verify(context.Background(), r.store)
	if err != nil || !rep.OK() {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}

// crashingSource drops offset commits once the process has "crashed": a
// real crash never reaches the broker with its commit.
type crashingSource struct {
	*kafka.Reader
	crashed *atomic.Bool
}

func (c crashingSource) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	if c.crashed.Load() {
		return context.Canceled
	}
	return c.Reader.CommitMessages(ctx, msgs...)
}

// countingStore counts the duplicates the store skipped.
type countingStore struct {
	*sqlite.Store
	duplicates atomic.Int64
}

func (c *countingStore) Commit(ctx context.Context, b storeBatch) (storeResult, error) {
	res, err := c.Store.Commit(ctx, b)
	c.duplicates.Add(int64(res.Duplicates))
	return res, err
}

// flakyStore fails its first commits, as a store or audit outage would.
type flakyStore struct {
	*sqlite.Store
	failures atomic.Int32
}

func (f *flakyStore) Commit(ctx context.Context, b storeBatch) (storeResult, error) {
	if f.failures.Add(-1) >= 0 {
		return storeResult{}, fmt.Errorf("%w: injected outage", errStoreUnavailable)
	}
	return f.Store.Commit(ctx, b)
}

// TestOutagePausesWithoutLoss: while the store fails, the batch is retried
// and not committed; when it recovers everything is stored once.
func TestOutagePausesWithoutLoss(t *testing.T) {
	r := newRig(t)
	const n = 10
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, adt(100+i))
	}
	produce(t, r.brokers, msgs...)
	fs := &flakyStore{Store: r.store}
	fs.failures.Store(3)
	deps := r.deps
	deps.Store = fs
	p, err := New(Config{BatchSize: 100, BatchWait: 200 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	rd := r.reader()
	defer rd.Close()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, rd) }()
	deadline := time.Now().Add(30 * time.Second)
	for countWriteEvents(t, r.store) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if fs.failures.Load() >= 0 {
		t.Fatal("the injected outage was not exercised")
	}
	if got, _ := r.store.CountRecords(context.Background()); got != n {
		t.Errorf("records = %d, want %d", got, n)
	}
}

// outageManager fails like a sealed Vault until healed.
type outageManager struct {
	keys.Manager
	down  atomic.Bool
	calls atomic.Int32
}

func (m *outageManager) GenerateDataKey(ctx context.Context, owner string) ([]byte, []byte, error) {
	m.calls.Add(1)
	if m.down.Load() {
		return nil, nil, fmt.Errorf("vault sealed: %w", keys.ErrUnavailable)
	}
	return m.Manager.GenerateDataKey(ctx, owner)
}

// TestKeyManagerOutagePausesIngest: while the key manager is down, ingest
// neither stores, dead-letters nor commits; when it returns, everything is
// stored once.
func TestKeyManagerOutagePausesIngest(t *testing.T) {
	r := newRig(t)
	kr, err := local.FromKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	mgr := &outageManager{Manager: kr}
	mgr.down.Store(true)
	sealer, err := phi.NewSealer(mgr, r.store, phi.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	deps := r.deps
	deps.Sealer = sealer
	const n = 8
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, adt(200+i))
	}
	produce(t, r.brokers, msgs...)
	p, err := New(Config{BatchSize: 100, BatchWait: 100 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	rd := r.reader()
	defer rd.Close()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, rd) }()

	deadline := time.Now().Add(20 * time.Second)
	for mgr.calls.Load() < 5 && time.Now().Before(deadline) { // several retries while down
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := r.store.CountRecords(context.Background()); got != 0 {
		t.Fatalf("%d records stored while the key manager was down", got)
	}
	if rej, _ := r.store.Query(context.Background(), audit.Filter{Action: audit.ActionReject}); len(rej) != 0 {
		t.Fatalf("%d messages dead-lettered during an outage; they must wait instead", len(rej))
	}
	mgr.down.Store(false)
	for countWriteEvents(t, r.store) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if got, _ := r.store.CountRecords(context.Background()); got != n {
		t.Fatalf("records after recovery = %d, want %d", got, n)
	}
}

// TestErasedPatientRejectedNotRekeyed: after a patient's data key is
// destroyed (crypto-shredding), new data for them is dead-lettered with a
// reason; no new key is made and the messages behind it carry on.
func TestErasedPatientRejectedNotRekeyed(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	p, err := New(Config{BatchSize: 10, BatchWait: 50 * time.Millisecond}, r.deps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Process(ctx, []kafka.Message{adt(300)}); err != nil {
		t.Fatal(err)
	}
	recs, _ := r.store.Query(ctx, audit.Filter{Action: audit.ActionWrite})
	if len(recs) != 1 {
		t.Fatalf("write events = %d", len(recs))
	}
	erased := recs[0].PatientID
	if err := r.store.DestroyWrapped(ctx, erased); err != nil {
		t.Fatal(err)
	}
	r.deps.Sealer.(*phi.Sealer).Evict(erased)

	again := adt(300)
	again.Value = []byte(strings.Replace(string(again.Value), "MSG0300", "MSG0300-2", 1))
	st, err := p.Process(ctx, []kafka.Message{again, adt(301)})
	if err != nil {
		t.Fatalf("an erased patient blocked the batch: %v", err)
	}
	if st.Rejected != 1 || st.Records != 1 {
		t.Fatalf("stats %+v: want the erased patient's message rejected and the other stored", st)
	}
	rej, _ := r.store.Query(ctx, audit.Filter{Action: audit.ActionReject})
	if len(rej) != 1 || !strings.Contains(rej[0].Reason, "destroyed") {
		t.Fatalf("rejections %+v", rej)
	}
	if _, ok, _ := r.store.GetWrapped(ctx, erased); ok {
		t.Fatal("a destroyed key came back")
	}
}
