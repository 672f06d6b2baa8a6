package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

func testEvents(n int, patient string) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = audit.Event{Code: audit.CodeRecordRead, Action: audit.ActionRead, Outcome: audit.OutcomeAllow,
			ActorID: "dr-a", ActorRoles: []string{"physician"}, PatientID: patient, RecordType: "Observation",
			RecordIDs: []string{fmt.Sprintf("r-%d", i)}, PolicyRevision: "rev-1", RequestID: fmt.Sprintf("req-%d", i)}
	}
	return out
}

func testRecord(patient string, n int) record.Sealed {
	key := record.NewKey("ehr", fmt.Sprintf("%s-%d", patient, n), 0)
	return record.Sealed{ID: record.IDFromKey(key), Key: key, Type: "Observation", Source: "ehr", MessageID: "m",
		PatientID: patient, Labels: []string{"R"}, Clear: []byte(`{"status":"final"}`),
		Fields: map[string][]byte{"valueQuantity": {0, 1, 2}}, Received: time.Now().UTC()}
}

// chainOK checks that the stored chain of s's shard is n events, seq 1 to
// n, and that the whole log verifies.
func chainOK(t *testing.T, s *Store, n int) []audit.Event {
	t.Helper()
	ctx := context.Background()
	var chain []audit.Event
	if err := s.ReadChain(ctx, s.cfg.Shard, func(e audit.Event) error { chain = append(chain, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(chain) != n {
		t.Fatalf("chain holds %d events, want %d", len(chain), n)
	}
	for i, e := range chain {
		if e.Seq != uint64(i+1) {
			t.Fatalf("chain position %d holds seq %d", i+1, e.Seq)
		}
	}
	rep, err := audit.Verify(ctx, s)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
	return chain
}

// admin runs statements as the test's administrator (the default user).
func admin(t *testing.T, s *Store, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if err := s.conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// An audit INSERT that fails after the server stored the block (here: a
// view on audit_chain that throws, after the table was written) is settled:
// the store finds the events stored, repairs the copies and succeeds. When
// it cannot even settle, it holds the chain (every append fails) until it
// can, and then goes on from the settled head: no fork, no hole.
func TestFailedInsertSettled(t *testing.T) {
	s := openAt(t, newDatabase(t), "hub-a").Store
	ctx := context.Background()
	if err := s.Append(ctx, testEvents(2, "P1")); err != nil {
		t.Fatal(err)
	}
	admin(t, s,
		`CREATE TABLE bomb (x UInt8) ENGINE = Memory`,
		`CREATE MATERIALIZED VIEW bomb_chain TO bomb AS SELECT throwIf(patient_id = 'P-bomb') AS x FROM audit_chain`)

	// The INSERT fails, but audit_chain has the events: Append succeeds.
	evs := testEvents(3, "P-bomb")
	evs[0].Key = "k-bomb-1"
	if err := s.Append(ctx, evs); err != nil {
		t.Fatalf("Append whose INSERT failed after storing: %v", err)
	}
	chainOK(t, s, 5)
	if got, _ := s.Query(ctx, audit.Filter{PatientID: "P-bomb"}); len(got) != 3 {
		t.Errorf("Query after a settled insert: %d events, want 3 (copies read once)", len(got))
	}

	// Now the repair of the copies fails too: the insert stays in doubt and
	// the store appends nothing until it is settled.
	admin(t, s, `CREATE MATERIALIZED VIEW bomb_actor TO bomb AS SELECT throwIf(patient_id = 'P-bomb') AS x FROM audit_by_actor`)
	evs = testEvents(4, "P-bomb")
	evs[1].Key = "k-bomb-2"
	err := s.Append(ctx, evs)
	if !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Append that cannot be settled = %v, want audit.ErrUnavailable", err)
	}
	if err := s.Append(ctx, testEvents(1, "P1")); err == nil {
		t.Fatal("Append while an insert is in doubt succeeded")
	}
	if _, err := s.Commit(ctx, store.Batch{Events: testEvents(1, "P1")}); err == nil {
		t.Fatal("Commit while an insert is in doubt succeeded")
	}
	admin(t, s, `DROP TABLE bomb_actor`, `DROP TABLE bomb_chain`)

	// The next append settles (the 4 events were stored) and continues.
	if err := s.Append(ctx, testEvents(1, "P1")); err != nil {
		t.Fatalf("Append after the server recovered: %v", err)
	}
	chainOK(t, s, 5+4+1)
	if got, _ := s.Query(ctx, audit.Filter{ActorID: "dr-a"}); len(got) != 10 {
		t.Errorf("Query by actor: %d events, want 10", len(got))
	}
	// The caller of the failed Append retries: its keyed event is not
	// appended again.
	retry := testEvents(1, "P-bomb")
	retry[0].Key = "k-bomb-2"
	if err := s.Append(ctx, retry); err != nil {
		t.Fatal(err)
	}
	chainOK(t, s, 10)

	// A restarted store continues from the same head.
	s.Close()
	s2 := openAt(t, s.cfg.Database, "hub-a").Store
	if err := s2.Append(ctx, testEvents(2, "P1")); err != nil {
		t.Fatal(err)
	}
	chainOK(t, s2, 12)
}

// settle, on what a failed insert may leave: nothing (the head stays),
// part of the batch (rolled forward), or another writer's events at the
// same positions (refused).
func TestSettle(t *testing.T) {
	ctx := context.Background()
	link := func(s *Store, n int) *doubt {
		evs := testEvents(n, "P1")
		now := time.Now().UTC()
		for i := range evs {
			evs[i].Time = now
			evs[i].ID = audit.NewID(now)
			audit.Normalize(&evs[i])
		}
		evs[0].Key = fmt.Sprintf("k-%d", s.head.Seq)
		head := audit.Link(s.cfg.Shard, s.head, evs)
		return &doubt{events: evs, head: head, date: utcDate(now), queryID: newQueryID()}
	}

	t.Run("nothing stored", func(t *testing.T) {
		s := openAt(t, newDatabase(t), "hub-a").Store
		if err := s.Append(ctx, testEvents(2, "P1")); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.doubt = link(s, 3)
		s.mu.Unlock()
		if err := s.Append(ctx, testEvents(1, "P1")); err != nil {
			t.Fatal(err)
		}
		chainOK(t, s, 3)
	})

	t.Run("part stored", func(t *testing.T) {
		s := openAt(t, newDatabase(t), "hub-a").Store
		if err := s.Append(ctx, testEvents(2, "P1")); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		d := link(s, 5)
		s.doubt = d
		s.mu.Unlock()
		// Positions 3 and 4 (of 3..7) stored, with their copies.
		if err := s.insertEvents(ctx, insertAuditChain, d.events[:2], d.date); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, testEvents(1, "P1")); err != nil {
			t.Fatal(err)
		}
		chainOK(t, s, 2+5+1)
		if got, _ := s.Query(ctx, audit.Filter{PatientID: "P1"}); len(got) != 8 {
			t.Errorf("Query: %d events, want 8 (copies written twice are read once)", len(got))
		}
		if seen, _ := s.storedKeys(ctx, kindAudit, []string{d.events[0].Key}); !seen[d.events[0].Key] {
			t.Error("the settled batch's key is not stored")
		}
	})

	t.Run("another writer", func(t *testing.T) {
		s := openAt(t, newDatabase(t), "hub-a").Store
		s.mu.Lock()
		d := link(s, 2)
		other := link(s, 2) // same positions, other events
		s.doubt = d
		s.mu.Unlock()
		if err := s.insertEvents(ctx, insertAuditChain, other.events, other.date); err != nil {
			t.Fatal(err)
		}
		err := s.Append(ctx, testEvents(1, "P1"))
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "another writer") {
			t.Errorf("Append after another writer used the shard = %v", err)
		}
	})
}

// Concurrent Append calls are written in groups, each caller returning when
// its group is durable; callers whose context ended before their group was
// written are dropped from it.
func TestGroupCommit(t *testing.T) {
	db := newDatabase(t)
	s := openAt(t, db, "hub-a", func(c *Config) { c.BatchMaxWait = 20 * time.Millisecond; c.BatchMaxRows = 25 }).Store
	ctx := context.Background()
	const callers = 60
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			evs := testEvents(1, fmt.Sprintf("P%d", i%5))
			evs[0].Key = fmt.Sprintf("read-%d", i%50) // some keys twice: appended once
			if err := s.Append(ctx, evs); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	chainOK(t, s, 50)
	if n := s.flushes.Load(); n >= callers || n < 2 {
		t.Errorf("%d calls written in %d inserts; want groups of at most 25", callers, n)
	}

	// A caller whose context is already done is not written.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Append(cctx, testEvents(1, "P1")); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Append with a cancelled context = %v", err)
	}
	chainOK(t, s, 50)

	// Close while calls are queued: every call returns, none hangs.
	s2 := openAt(t, db, "hub-b", func(c *Config) { c.BatchMaxWait = 50 * time.Millisecond }).Store
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- s2.Append(ctx, testEvents(1, "P1")) })
	}
	time.Sleep(10 * time.Millisecond)
	s2.Close()
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, audit.ErrUnavailable) {
			t.Errorf("Append during Close: %v", err)
		}
	}
	s3 := openAt(t, db, "hub-b").Store
	chainOK(t, s3, ok)
}

// Two instances racing on one redelivered message may both store it (each
// checked before the other inserted); reads never show the copy. The race
// is forced here by writing the copies directly.
func TestDedupeOnRead(t *testing.T) {
	b := openAt(t, newDatabase(t), "hub-a")
	s := b.Store
	ctx := context.Background()
	now := time.Now()

	r := testRecord("P1", 1)
	for range 2 {
		if err := s.insertRecords(ctx, []*record.Sealed{&r}, now); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.PatientRecords(ctx, "P1", nil); err != nil || len(got) != 1 {
		t.Errorf("PatientRecords of a record stored twice: %d records, %v", len(got), err)
	}
	// The second commit of it is a duplicate.
	if res, err := s.Commit(ctx, store.Batch{Records: []record.Sealed{r}}); err != nil || res != (store.Result{Duplicates: 1}) {
		t.Errorf("Commit of a stored record = %+v, %v", res, err)
	}

	// Consents: a version stored twice counts once, at its first position.
	d := func(status string) consent.Directive {
		return consent.Directive{ID: "D1", PatientID: "P1", Status: status, Decision: "deny", Recorded: now.UTC()}
	}
	for _, c := range []store.ConsentVersion{{Key: "k1", Directive: d("active")}, {Key: "k2", Directive: d("inactive")}, {Key: "k1", Directive: d("active")}} {
		if err := s.insertConsents(ctx, []store.ConsentVersion{c}, now); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Consents(ctx, "P1"); err != nil || len(got) != 1 || got[0].Status != "inactive" {
		t.Errorf("Consents after a raced copy of an older version = %+v, %v; want the inactive version", got, err)
	}

	// Links: the least (linked_ns, patient_id) wins, whoever inserted last.
	lb, err := s.conn.PrepareBatch(ctx, insertLinks)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		p  string
		ns int64
	}{{"P-late", 200}, {"P-first", 100}, {"P-later", 300}} {
		if err := lb.Append("h1", l.p, l.ns, utcDate(now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := lb.Send(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LookupLinks(ctx, []string{"h1"}); err != nil || got["h1"] != "P-first" {
		t.Errorf("LookupLinks of a hash linked three times = %v, %v; want P-first", got, err)
	}

	// Data keys: the first put wins.
	s.mu.Lock()
	err = s.writeKeyOps(ctx, opPut, []string{"P1"}, map[string][]byte{"P1": []byte("first")})
	if err == nil {
		err = s.writeKeyOps(ctx, opPut, []string{"P1"}, map[string][]byte{"P1": []byte("second")})
	}
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if w, ok, err := s.GetWrapped(ctx, "P1"); err != nil || !ok || string(w) != "first" {
		t.Errorf("GetWrapped after two puts = %q, %v, %v; want the first", w, ok, err)
	}

	// Audit copies: an event copied twice into audit_events is read once.
	if err := s.Append(ctx, testEvents(2, "P1")); err != nil {
		t.Fatal(err)
	}
	chain := chainOK(t, s, 2)
	if err := s.insertEvents(ctx, insertAuditEvents, chain, utcDate(now)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Query(ctx, audit.Filter{PatientID: "P1"}); len(got) != 2 {
		t.Errorf("Query with copies stored twice: %d events, want 2", len(got))
	}
}

// The hub's user needs INSERT and SELECT only: every operation works with
// DDL prohibited (ClickHouse 18.16's allow_ddl = 0; see grants.sql), and
// ALTER is refused.
func TestHubNeedsNoDDL(t *testing.T) {
	s := openAt(t, newDatabase(t), "hub-a").Store
	ctx := ch.Context(context.Background(), ch.WithSettings(ch.Settings{"allow_ddl": 0}))
	r := testRecord("P1", 1)
	evs := testEvents(2, "P1")
	evs[0].Key = "k1"
	if _, err := s.Commit(ctx, store.Batch{Records: []record.Sealed{r}, Events: evs,
		Consents: []store.ConsentVersion{{Key: "c1", Directive: consent.Directive{ID: "D1", PatientID: "P1", Status: "active"}}}}); err != nil {
		t.Fatalf("Commit without DDL rights: %v", err)
	}
	if err := s.PutLinks(ctx, map[string]string{"h1": "P1"}); err != nil {
		t.Fatalf("PutLinks without DDL rights: %v", err)
	}
	if _, err := s.PutWrappedIfAbsent(ctx, "P1", []byte("w")); err != nil {
		t.Fatalf("PutWrappedIfAbsent without DDL rights: %v", err)
	}
	if err := s.DestroyWrapped(ctx, "P2"); err != nil {
		t.Fatalf("DestroyWrapped without DDL rights: %v", err)
	}
	if _, err := s.PatientRecords(ctx, "P1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(ctx, audit.Filter{PatientID: "P1"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.queryRunning(ctx, "none"); ok || err != nil {
		t.Fatalf("reading system.processes without DDL rights: %v, %v", ok, err)
	}
	err := s.conn.Exec(ctx, `ALTER TABLE audit_chain DELETE WHERE 1`)
	if !isException(err, 392) { // QUERY_IS_PROHIBITED
		t.Errorf("ALTER with allow_ddl = 0: %v, want exception 392", err)
	}
}

func TestPurgeDestroyed(t *testing.T) {
	s := openAt(t, newDatabase(t), "hub-a").Store
	ctx := context.Background()
	for _, o := range []string{"P1", "P2"} {
		if _, err := s.PutWrappedIfAbsent(ctx, o, []byte("wrapped-"+o)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ReplaceWrapped(ctx, "P1", []byte("rewrapped-P1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DestroyWrapped(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeDestroyed(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.conn.Query(ctx, `SELECT owner, op, wrapped FROM data_keys ORDER BY owner, version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var o, op, w string
		if err := rows.Scan(&o, &op, &w); err != nil {
			t.Fatal(err)
		}
		got = append(got, o+" "+op+" "+w)
	}
	if want := []string{"P1 destroy ", "P2 put wrapped-P2"}; !slices.Equal(got, want) {
		t.Errorf("data_keys after purge = %q, want %q", got, want)
	}
	if _, err := s.PutWrappedIfAbsent(ctx, "P1", []byte("new")); !errors.Is(err, keys.ErrDestroyed) {
		t.Errorf("PutWrappedIfAbsent after purge = %v, want keys.ErrDestroyed", err)
	}
}

// Error texts name the operation, never values: a server exception's
// message (which quotes the query) is left out.
func TestErrorsHoldNoValues(t *testing.T) {
	const secret = "P-secret-4711"
	for _, tc := range []struct {
		name string
		err  error
		kind string
	}{
		{"exception", &ch.Exception{Code: 62, Name: "DB::Exception", Message: "Syntax error at '" + secret + "'"}, "server exception 62 (DB::Exception)"},
		{"known code", &ch.Exception{Code: 241, Name: "DB::Exception", Message: secret}, "MEMORY_LIMIT_EXCEEDED"},
		{"client", fmt.Errorf("clickhouse [AppendRow]: converting %s", secret), "client error"},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "network: dial tcp"},
		{"eof", io.EOF, "network: EOF"},
		{"deadline", fmt.Errorf("read %s: %w", secret, context.DeadlineExceeded), "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := unavailable("query records", tc.err)
			if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap store.ErrUnavailable and the cause", err)
			}
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), tc.kind) {
				t.Errorf("error text %q: want %q and no value", err, tc.kind)
			}
		})
	}

	t.Run("server", func(t *testing.T) {
		s := openAt(t, newDatabase(t), "hub-a").Store
		_, err := s.conn.Query(context.Background(), `SELECT id FROM records WHERE patient_id = ? AND`, secret)
		if err == nil {
			t.Fatal("bad query succeeded")
		}
		if !strings.Contains(err.Error(), secret) {
			t.Logf("(the server's message does not quote the value here: %v)", err)
		}
		if e := unavailable("query records", err); strings.Contains(e.Error(), secret) {
			t.Errorf("error text holds a value: %v", e)
		}
	})
}

// Nothing listening: Open fails closed, quickly, with ErrUnavailable.
func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open(context.Background(), Config{Addr: []string{addr}, DialTimeout: time.Second})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of an address nothing listens on = %v, want store.ErrUnavailable", err)
	}
}

func TestConfig(t *testing.T) {
	var d Config
	d.Defaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"tls with ca", func(c *Config) { c.TLS, c.CAFile = true, "/etc/ca.pem" }, ""},
		{"cluster", func(c *Config) { c.Cluster, c.InsertQuorum = "hub_cluster", 2 }, ""},
		{"database not an identifier", func(c *Config) { c.Database = "hub; DROP" }, "database"},
		{"cluster not an identifier", func(c *Config) { c.Cluster = "a-b" }, "cluster"},
		{"no address", func(c *Config) { c.Addr = nil }, "addr"},
		{"empty address", func(c *Config) { c.Addr = []string{""} }, "addr"},
		{"no shard", func(c *Config) { c.Shard = "" }, "shard"},
		{"insecure without tls", func(c *Config) { c.InsecureSkipVerify = true }, "insecure_skip_verify"},
		{"ca without tls", func(c *Config) { c.CAFile = "/etc/ca.pem" }, "ca_file"},
		{"quorum without cluster", func(c *Config) { c.InsertQuorum = 2 }, "insert_quorum"},
		{"negative wait", func(c *Config) { c.BatchMaxWait = -time.Second }, "batch_max_wait"},
		{"batch too large", func(c *Config) { c.BatchMaxRows = maxBatchRows + 1 }, "batch_max_rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := d
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

// The Date of a write is its UTC day, whatever the clock's zone.
func TestUTCDate(t *testing.T) {
	at := time.Date(2030, 1, 31, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600))
	if got := utcDate(at); !got.Equal(time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("utcDate(%v) = %v", at, got)
	}
	if !bytes.Equal([]byte(dateString(at)), []byte("2030-02-01")) {
		t.Errorf("dateString(%v) = %s", at, dateString(at))
	}
}
