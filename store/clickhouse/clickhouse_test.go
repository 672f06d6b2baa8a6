package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/store/storetest"
)

// serverAddr returns the address of the ClickHouse server the tests run
// against, or skips the test.
func serverAddr(t testing.TB) string {
	t.Helper()
	a := os.Getenv("CLICKHOUSE_ADDR")
	if a == "" {
		t.Skip("needs a ClickHouse server: CLICKHOUSE_ADDR=127.0.0.1:19000 go test ./store/clickhouse/")
	}
	return a
}

// testConfig is the configuration of a store on database db.
func testConfig(t testing.TB, db, shard string) Config {
	return Config{Addr: []string{serverAddr(t)}, Database: db, Shard: shard}
}

// newDatabase creates and migrates a database of its own for one test
// (hub_test_<random>), and drops it when the test ends.
func newDatabase(t testing.TB) string {
	t.Helper()
	db := newDatabaseName(t)
	if err := Migrate(context.Background(), testConfig(t, db, "hub-0")); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// newDatabaseName returns a new database name (hub_test_<random>) and
// drops that database, if created, when the test ends.
func newDatabaseName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	db := "hub_test_" + hex.EncodeToString(b)
	cfg := testConfig(t, db, "hub-0")
	cfg.Defaults()
	t.Cleanup(func() {
		conn, err := connect(cfg, "")
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return db
}

// backend is a Store with the database it is on, so the harness can open
// more stores on it.
type backend struct {
	*Store
	db string
}

func openAt(t testing.TB, db, shard string, opts ...func(*Config)) *backend {
	t.Helper()
	cfg := testConfig(t, db, shard)
	for _, o := range opts {
		o(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &backend{Store: s, db: db}
}

func harness() storetest.Harness {
	return storetest.Harness{
		New: func(t *testing.T, shard string) storetest.Backend {
			return openAt(t, newDatabase(t), shard)
		},
		Reopen: func(t *testing.T, b storetest.Backend, shard string) storetest.Backend {
			old := b.(*backend)
			if old.cfg.Shard == shard {
				if err := old.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			return openAt(t, old.db, shard)
		},
		Tamper: &storetest.Tamper{
			Modify: func(t *testing.T, b storetest.Backend, shard string, seq uint64) {
				mutate(t, b, `ALTER TABLE audit_chain UPDATE actor_id = concat(actor_id, '-edited') WHERE shard = ? AND seq = ?`, shard, seq)
			},
			Delete: func(t *testing.T, b storetest.Backend, shard string, seq uint64) {
				mutate(t, b, `ALTER TABLE audit_chain DELETE WHERE shard = ? AND seq = ?`, shard, seq)
			},
			// seq is part of audit_chain's sort key, which ClickHouse does
			// not UPDATE: a forger deletes the rows and inserts them again,
			// renumbered.
			Swap: func(t *testing.T, b storetest.Backend, shard string, seqA, seqB uint64) {
				evs := chainRows(t, b, shard, fmt.Sprintf("seq IN (%d, %d)", seqA, seqB))
				if len(evs) != 2 {
					t.Fatalf("swap: %d rows at %d and %d", len(evs), seqA, seqB)
				}
				mutate(t, b, `ALTER TABLE audit_chain DELETE WHERE shard = ? AND seq IN (?, ?)`, shard, seqA, seqB)
				evs[0].Seq, evs[1].Seq = evs[1].Seq, evs[0].Seq
				forge(t, b, evs)
			},
			Insert: func(t *testing.T, b storetest.Backend, shard string, after uint64, forged audit.Event) {
				evs := chainRows(t, b, shard, fmt.Sprintf("seq > %d", after))
				mutate(t, b, `ALTER TABLE audit_chain DELETE WHERE shard = ? AND seq > ?`, shard, after)
				for i := range evs {
					evs[i].Seq++
				}
				forge(t, b, append(evs, forged))
			},
		},
	}
}

// mutate runs an ALTER ... UPDATE or DELETE on the store's database, as an
// attacker with ALTER rights would, and waits for it to finish.
func mutate(t *testing.T, b storetest.Backend, q string, args ...any) {
	t.Helper()
	s := b.(*backend).Store
	ctx := context.Background()
	if err := s.conn.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if err := waitMutations(ctx, s, "audit_chain"); err != nil {
		t.Fatalf("wait for mutation: %v", err)
	}
}

// chainRows reads stored chain rows of shard matching cond.
func chainRows(t *testing.T, b storetest.Backend, shard, cond string) []audit.Event {
	t.Helper()
	var out []audit.Event
	err := b.(*backend).scanEvents(context.Background(), `SELECT `+auditColumns+` FROM audit_chain WHERE shard = ? AND `+cond+` ORDER BY seq`,
		[]any{shard}, func(e audit.Event) error { out = append(out, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forge inserts events into audit_chain exactly as given.
func forge(t *testing.T, b storetest.Backend, evs []audit.Event) {
	t.Helper()
	s := b.(*backend).Store
	if err := s.insertEvents(context.Background(), insertAuditChain, evs, utcDate(time.Now())); err != nil {
		t.Fatalf("insert forged rows: %v", err)
	}
}

func TestConformance(t *testing.T) {
	serverAddr(t)
	storetest.Run(t, harness())
}
