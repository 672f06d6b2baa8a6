package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/store/storetest"
)

// backend is a Store with the path of its file, so the harness can open
// more stores on the same file.
type backend struct {
	*Store
	path string
}

func openAt(t *testing.T, path, shard string) *backend {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path, Shard: shard})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &backend{Store: s, path: path}
}

func harness() storetest.Harness {
	return storetest.Harness{
		New: func(t *testing.T, shard string) storetest.Backend {
			return openAt(t, filepath.Join(t.TempDir(), "hub.db"), shard)
		},
		Reopen: func(t *testing.T, b storetest.Backend, shard string) storetest.Backend {
			old := b.(*backend)
			if old.shard == shard {
				if err := old.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			return openAt(t, old.path, shard)
		},
		Tamper: &storetest.Tamper{
			Modify: func(t *testing.T, b storetest.Backend, shard string, seq uint64) {
				tamper(t, b, func(tx *sql.Tx) {
					exec(t, tx, 1, `UPDATE audit_events SET actor_id = actor_id || '-edited' WHERE shard = ? AND seq = ?`, shard, seq)
				})
			},
			Delete: func(t *testing.T, b storetest.Backend, shard string, seq uint64) {
				tamper(t, b, func(tx *sql.Tx) {
					exec(t, tx, 1, `DELETE FROM audit_events WHERE shard = ? AND seq = ?`, shard, seq)
				})
			},
			Swap: func(t *testing.T, b storetest.Backend, shard string, seqA, seqB uint64) {
				tamper(t, b, func(tx *sql.Tx) {
					const move = `UPDATE audit_events SET seq = ? WHERE shard = ? AND seq = ?`
					exec(t, tx, 1, move, -1, shard, seqA)
					exec(t, tx, 1, move, seqA, shard, seqB)
					exec(t, tx, 1, move, seqB, shard, -1)
				})
			},
			Insert: func(t *testing.T, b storetest.Backend, shard string, after uint64, e audit.Event) {
				tamper(t, b, func(tx *sql.Tx) {
					// Shift through negative values: (shard, seq) is unique
					// at every row of an UPDATE.
					exec(t, tx, -1, `UPDATE audit_events SET seq = -(seq + 1) WHERE shard = ? AND seq > ?`, shard, after)
					exec(t, tx, -1, `UPDATE audit_events SET seq = -seq WHERE shard = ? AND seq < 0`, shard)
					exec(t, tx, 1, insertAuditEvent, e.Shard, e.Seq, e.ID, e.Time.UnixNano(), e.Code, e.Action, e.Outcome,
						e.ActorID, list(e.ActorRoles), e.ActorOrg, e.Application, e.Purpose, e.PatientID, e.RecordType,
						list(e.RecordIDs), list(e.Disclosed), list(e.Masked), e.PolicyRevision, list(e.Rules),
						list(e.Consents), e.Reason, e.RequestID, e.Key, e.PrevHash, e.Hash)
				})
			},
		},
	}
}

// tamper runs edit on the database file of b as an attacker with write
// access to it would: the append-only triggers are dropped first.
func tamper(t *testing.T, b storetest.Backend, edit func(*sql.Tx)) {
	t.Helper()
	tx, err := b.(*backend).DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec(t, tx, -1, `DROP TRIGGER IF EXISTS audit_no_update`)
	exec(t, tx, -1, `DROP TRIGGER IF EXISTS audit_no_delete`)
	edit(tx)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// exec runs a statement and checks it changed want rows (any when want < 0).
func exec(t *testing.T, tx *sql.Tx, want int64, q string, args ...any) {
	t.Helper()
	res, err := tx.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); want >= 0 && n != want {
		t.Fatalf("%s changed %d rows, want %d", q, n, want)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, harness())
}

// The triggers make the log append-only for anyone going through SQL
// without dropping them first.
func TestAuditAppendOnly(t *testing.T) {
	b := openAt(t, filepath.Join(t.TempDir(), "hub.db"), "hub-a")
	ctx := context.Background()
	if err := b.Append(ctx, []audit.Event{{Action: audit.ActionRead}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_events SET actor_id = 'x'`, `DELETE FROM audit_events`} {
		if _, err := b.DB().ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
}

// The database holds sealed PHI, identifier hashes, wrapped keys and the
// audit log: its file, and SQLite's -wal and -shm files beside it, are
// readable by the owner only, also when an older file had wider modes.
func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "hub.db")
	b := openAt(t, path, "hub-a")
	if err := b.Append(context.Background(), []audit.Event{{Action: audit.ActionRead}}); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("stat %s: %v", filepath.Base(p), err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s has mode %v, want -rw-------", filepath.Base(p), m)
			}
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("data directory mode %v (%v), want no group or other access", fi.Mode(), err)
		}
	}
	check()

	b.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(p, 0o644) // a file from an older version, or a careless copy
	}
	openAt(t, path, "hub-a")
	check()
}
