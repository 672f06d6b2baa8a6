package merkle_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carecrest/hub/store/clickhouse"
)

// The service's contract on ClickHouse, in a database of its own that is
// dropped afterwards.
func TestServiceClickHouse(t *testing.T) {
	if os.Getenv("CLICKHOUSE_ADDR") == "" {
		t.Skip("needs a ClickHouse server: CLICKHOUSE_ADDR=127.0.0.1:19000 go test ./audit/merkle/ (scripts/clickhouse-dev.sh start)")
	}
	runServiceSuite(t, openClickHouse)
}

func openClickHouse(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	cfg := clickhouse.Config{Addr: []string{os.Getenv("CLICKHOUSE_ADDR")}, Database: "hub_test_" + hex.EncodeToString(b), Shard: "hub-0"}
	if err := clickhouse.Migrate(ctx, cfg); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	st, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		st.Close()
	})
	e := &env{store: st, shard: "hub-0"}
	e.svc, e.key = newService(t, st, st, filepath.Join(t.TempDir(), "keyring.json"), nil)
	mutate := func(t *testing.T, q string, args ...any) {
		t.Helper()
		if err := st.Conn().Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			var pending uint64
			if err := st.Conn().QueryRow(ctx, `SELECT count() FROM system.mutations WHERE database = ? AND table = 'audit_chain' AND is_done = 0`,
				cfg.Database).Scan(&pending); err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("mutation did not finish")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.modify = func(t *testing.T, seq uint64) {
		mutate(t, `ALTER TABLE audit_chain UPDATE actor_id = concat(actor_id, '-edited') WHERE shard = ? AND seq = ?`, e.shard, seq)
	}
	e.delete = func(t *testing.T, seq uint64) {
		mutate(t, `ALTER TABLE audit_chain DELETE WHERE shard = ? AND seq = ?`, e.shard, seq)
	}
	return e
}
