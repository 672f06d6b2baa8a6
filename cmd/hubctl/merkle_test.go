package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/store/clickhouse"
	"github.com/carecrest/hub/store/sqlite"
)

// hubDir makes a data directory with n audit events in the embedded store
// of instance hub-0 and returns it with the events' ids.
func hubDir(t *testing.T, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	return dir, appendEvents(t, dir, 0, n)
}

// appendEvents appends n events to the hub-0 shard of dir, as the hub does.
func appendEvents(t *testing.T, dir string, from, n int) []string {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	var evs []audit.Event
	for i := from; i < from+n; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		evs = append(evs, audit.Event{ID: audit.NewID(at), Time: at, Code: audit.CodeRecordRead, Action: audit.ActionRead,
			Outcome: audit.OutcomeAllow, ActorID: fmt.Sprintf("nurse.%d", i%4), PatientID: fmt.Sprintf("P%05d", i%7), RecordType: "Observation"})
	}
	if err := st.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

func runOK(t *testing.T, want int, args ...string) {
	t.Helper()
	if got := run(context.Background(), args); got != want {
		t.Fatalf("hubctl %s: exit %d, want %d", strings.Join(args, " "), got, want)
	}
}

func TestAuditProofCommands(t *testing.T) {
	dir, ids := hubDir(t, 30)
	cp1 := filepath.Join(dir, "cp1.txt")
	runOK(t, 0, "audit", "checkpoint", "--data-dir", dir, "--publish", "-o", cp1)
	keyFile := filepath.Join(dir, "key.txt")
	// The verifier key, printed on stdout, is what anyone checks with.
	key := captureStdout(t, func() { runOK(t, 0, "audit", "checkpoint", "--data-dir", dir, "--verifier-key") })
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	note, _ := os.ReadFile(cp1)
	v, err := merkle.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := merkle.OpenCheckpoint(string(note), v)
	if err != nil || c1.Size != 30 || c1.Origin != "carecrest-hub/hub-0" {
		t.Fatalf("checkpoint %+v: %v", c1, err)
	}

	proof := filepath.Join(dir, "proof.json")
	runOK(t, 0, "audit", "prove", "--data-dir", dir, "--event", ids[7], "-o", proof)
	runOK(t, 0, "audit", "verify-proof", "--proof", proof, "--checkpoint", cp1, "--key-file", keyFile)
	runOK(t, 0, "audit", "verify-proof", "--proof", proof, "--key", key) // the checkpoint in the proof

	// An edited event in the proof file no longer verifies: exit 3.
	raw, _ := os.ReadFile(proof)
	var p merkle.InclusionProof
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	p.Event.Purpose = "HRESCH"
	edited := filepath.Join(dir, "edited.json")
	b, _ := json.Marshal(p)
	os.WriteFile(edited, b, 0o600)
	runOK(t, 3, "audit", "verify-proof", "--proof", edited, "--checkpoint", cp1, "--key", key)

	// A second checkpoint after the first one's event, and the consistency
	// between the two, checked offline.
	appendEvents(t, dir, 30, 12)
	cp2 := filepath.Join(dir, "cp2.txt")
	runOK(t, 0, "audit", "checkpoint", "--data-dir", dir, "--publish", "-o", cp2)
	cons := filepath.Join(dir, "cons.json")
	runOK(t, 0, "audit", "consistency", "--data-dir", dir, "--shard", "hub-0", "--from", "30", "-o", cons)
	runOK(t, 0, "audit", "verify-proof", "--proof", cons, "--old-checkpoint", cp1, "--checkpoint", cp2, "--key", key)
	runOK(t, 3, "audit", "verify-proof", "--proof", cons, "--old-checkpoint", cp2, "--checkpoint", cp1, "--key", key)

	// Usage errors.
	runOK(t, 2, "audit", "prove", "--data-dir", dir)
	runOK(t, 2, "audit", "prove", "--data-dir", dir, "--event", "not-an-id")
	runOK(t, 2, "audit", "verify-proof", "--proof", proof)
	runOK(t, 2, "audit", "consistency", "--data-dir", dir)
	// The store is read, never created, by the proof commands.
	runOK(t, 1, "audit", "checkpoint", "--data-dir", filepath.Join(dir, "none"))
	// audit verify still passes: the checkpoint events are in the chains.
	runOK(t, 0, "audit", "verify", "--data-dir", dir, "--quiet")
}

// captureStdout returns what fn printed on stdout, trimmed.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = old }()
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		done <- b.Bytes()
	}()
	fn()
	w.Close()
	os.Stdout = old
	return strings.TrimSpace(string(<-done))
}

func TestProgressBar(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var plain, tty bytes.Buffer
	bars := []*progressBar{
		{w: &plain, every: 10 * time.Second, start: now, now: clock},
		{w: &tty, tty: true, every: 100 * time.Millisecond, start: now, now: clock},
	}
	report := func(p audit.Progress) {
		for _, b := range bars {
			b.update(p)
		}
	}
	report(audit.Progress{Shard: "hub-0", Shards: 1, Total: 1000})
	now = now.Add(time.Second)
	report(audit.Progress{Shard: "hub-0", Shards: 1, Events: 100, Total: 1000}) // plain: too soon
	now = now.Add(10 * time.Second)
	report(audit.Progress{Shard: "hub-0", Shards: 1, Events: 500, Total: 1000})
	report(audit.Progress{Shard: "hub-0", Shards: 1, Events: 1000, Total: 1000, Done: true})
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("plain output:\n%s", plain.String())
	}
	if want := "verify: shard 1/1 hub-0: 500 events / 1000 (50.0%), 45 events/s, ETA 11s"; lines[1] != want {
		t.Errorf("plain line %q, want %q", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], "verify: 1 shard(s): 1000 events / 1000 (100.0%)") {
		t.Errorf("last line %q", lines[2])
	}
	out := tty.String()
	if !strings.Contains(out, "\r[===============               ] shard 1/1 hub-0: 500 events") || !strings.HasSuffix(out, "\x1b[K\n") {
		t.Errorf("terminal output %q", out)
	}
}

// audit verify (with its progress count) and the proof commands on
// ClickHouse, in a database of their own.
func TestAuditCommandsClickHouse(t *testing.T) {
	addr := os.Getenv("CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("needs a ClickHouse server: CLICKHOUSE_ADDR=127.0.0.1:19000 go test ./cmd/hubctl/ (scripts/clickhouse-dev.sh start)")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	db := "hub_test_" + hex.EncodeToString(b)
	ccfg := clickhouse.Config{Addr: []string{addr}, Database: db, Shard: "hub-0"}
	if err := clickhouse.Migrate(ctx, ccfg); err != nil {
		t.Fatal(err)
	}
	st, err := clickhouse.Open(ctx, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		st.Close()
	})
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	var evs []audit.Event
	for i := range 20 {
		evs = append(evs, audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Code: audit.CodeRecordRead,
			Action: audit.ActionRead, Outcome: audit.OutcomeAllow, ActorID: "dr.lee", PatientID: "P00001"})
	}
	if err := st.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	n, err := countingStore{}.countWith(ctx, st, "hub-0")
	if err != nil || n != 20 {
		t.Fatalf("count %d, %v", n, err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "hub.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf("instance: hub-0\ndata_dir: %s\nstore:\n  backend: clickhouse\n  clickhouse:\n    addr: [%q]\n    database: %s\n", dir, addr, db)), 0o600)
	runOK(t, 0, "audit", "verify", "--config", conf, "--quiet")
	cp := filepath.Join(dir, "cp.txt")
	runOK(t, 0, "audit", "checkpoint", "--config", conf, "--publish", "-o", cp)
	got, err := st.Query(ctx, audit.Filter{Codes: []string{audit.CodeRecordRead}, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	proof := filepath.Join(dir, "proof.json")
	runOK(t, 0, "audit", "prove", "--config", conf, "--event", got[0].ID, "-o", proof)
	key := captureStdout(t, func() { runOK(t, 0, "audit", "checkpoint", "--config", conf, "--verifier-key") })
	runOK(t, 0, "audit", "verify-proof", "--proof", proof, "--checkpoint", cp, "--key", key)
	runOK(t, 0, "audit", "verify", "--config", conf, "--quiet")
}
