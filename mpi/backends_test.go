package mpi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store/clickhouse"
	"github.com/carecrest/hub/store/sqlite"
)

// TestBackends runs merges, relationships and demographic matches on the
// real stores: SQLite always, ClickHouse when CLICKHOUSE_ADDR is set.
func TestBackends(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		runBackend(t, st)
	})
	t.Run("clickhouse", func(t *testing.T) {
		addr := os.Getenv("CLICKHOUSE_ADDR")
		if addr == "" {
			t.Skip("needs a ClickHouse server: scripts/clickhouse-dev.sh start; CLICKHOUSE_ADDR=127.0.0.1:19000 go test ./mpi/")
		}
		b := make([]byte, 6)
		rand.Read(b)
		cfg := clickhouse.Config{Addr: []string{addr}, Database: "hub_test_mpi_" + hex.EncodeToString(b), Shard: "hub-0"}
		t.Cleanup(func() {
			conn, err := ch.Open(&ch.Options{Addr: []string{addr}})
			if err != nil {
				t.Errorf("drop test database: %v", err)
				return
			}
			defer conn.Close()
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)
		})
		if err := clickhouse.Migrate(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		st, err := clickhouse.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		runBackend(t, st)
	})
}

func runBackend(t *testing.T, links mpi.Links) {
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	x := mpi.New(key, links)
	ids := []record.Identifier{{System: "urn:oid:1.2.3", Value: "OLD"}, {System: "urn:oid:1.2.3", Value: "KEEP"}, {System: "urn:oid:1.2.3", Value: "LAST"}}
	p, err := x.ResolveAll(ctx, [][]record.Identifier{{ids[0]}, {ids[1]}, {ids[2]}})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.PutFacts(ctx, mpi.Facts{
		Care:     []mpi.Relationship{{Practitioner: "Practitioner/dr-osei", PatientID: p[0]}},
		Surnames: []mpi.Surname{{PatientID: p[0], Family: "Everyman"}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{{p[0], p[1]}, {p[1], p[2]}, {p[0], p[1]}} { // the last is a redelivery
		if _, err := x.Merge(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := x.Merge(ctx, p[2], p[0]); err == nil {
		t.Fatal("a merge cycle was accepted")
	}
	// A second instance sees the merges.
	y := mpi.New(key, links)
	got, ok, err := y.Lookup(ctx, ids[0])
	if err != nil || !ok || got != p[2] {
		t.Fatalf("Lookup(retired) = %s %v %v; want %s", got, ok, err, p[2])
	}
	want := []string{p[0], p[1]}
	slices.Sort(want)
	s, members, err := y.Group(ctx, p[0])
	if err != nil || s != p[2] || !slices.Equal(members, append([]string{p[2]}, want...)) {
		t.Fatalf("Group = %s %v %v", s, members, err)
	}
	if ok, err := y.HasRelationship(ctx, "Practitioner/dr-osei", p[2]); !ok || err != nil {
		t.Fatalf("relationship with a retired id does not count for the survivor: %v %v", ok, err)
	}
	if ok, err := y.HasRelationship(ctx, "Practitioner/dr-nobody", p[2]); ok || err != nil {
		t.Fatalf("unrelated practitioner: %v %v", ok, err)
	}
	if ok, err := y.SharesSurname(ctx, p[2], " EVERYMAN "); !ok || err != nil {
		t.Fatalf("SharesSurname = %v %v", ok, err)
	}
}
