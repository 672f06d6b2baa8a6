package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
	"github.com/carecrest/hub/store/sqlite"
)

// TestMonthTamperingFoundByPosition stores a month of hospital traffic in
// the embedded store, then tampers with it directly in the database file as
// an insider covering their tracks would: edits the actor of the event that
// shows them reading their own record, deletes the first event of a bulk
// export, swaps two events, and inserts a forged event. `audit verify`
// (audit.Verify over the stored chain) must report each, by position, and
// nothing else.
func TestMonthTamperingFoundByPosition(t *testing.T) {
	opts := sim.Options{Seed: 11, Start: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)}
	if testing.Short() {
		opts.Days, opts.Users, opts.Patients = 7, 120, 800
	}
	m := sim.Generate(opts)
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	appendMonth(t, st, m)

	seqOf := map[string]uint64{}
	var n uint64
	if err := st.ReadChain(context.Background(), "hub-0", func(e audit.Event) error {
		seqOf[e.ID] = e.Seq
		n = e.Seq
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The evidence of an incident of rule (a shorter month may not plant
	// every rule: then of any other incident).
	evidence := func(rule string, not uint64) uint64 {
		for _, any := range []bool{false, true} {
			for _, in := range m.Incidents {
				if (in.Kind == rule || any) && len(in.EventIDs) > 0 {
					if s, ok := seqOf[in.EventIDs[0]]; ok && s != not {
						return s
					}
				}
			}
		}
		t.Fatalf("no stored evidence of any incident")
		return 0
	}
	modified := evidence(alert.RuleOwnRecord, 0)
	deleted := evidence(alert.RuleBulkExport, modified)
	swapA, swapB := n/3, n/3+5
	insertAfter := n - 10
	if slices.Contains([]uint64{swapA, swapB, insertAfter + 1}, modified) || slices.Contains([]uint64{swapA, swapB, insertAfter + 1}, deleted) || modified > insertAfter || deleted > insertAfter {
		t.Fatalf("tamper positions overlap: modified %d deleted %d swap %d,%d insert after %d", modified, deleted, swapA, swapB, insertAfter)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var swapAID, swapBID, modifiedID string
	for _, x := range []struct {
		seq uint64
		id  *string
	}{{swapA, &swapAID}, {swapB, &swapBID}, {modified, &modifiedID}} {
		if err := db.QueryRow(`SELECT id FROM audit_events WHERE shard = 'hub-0' AND seq = ?`, x.seq).Scan(x.id); err != nil {
			t.Fatal(err)
		}
	}
	// The insider has the database file: the append-only triggers go first.
	exec(`DROP TRIGGER IF EXISTS audit_no_update`)
	exec(`DROP TRIGGER IF EXISTS audit_no_delete`)
	// The insider rewrites who read their own record...
	exec(`UPDATE audit_events SET actor_id = 'someone-else' WHERE shard = 'hub-0' AND seq = ?`, modified)
	// ...deletes the start of a bulk export...
	exec(`DELETE FROM audit_events WHERE shard = 'hub-0' AND seq = ?`, deleted)
	// ...reorders two events...
	exec(`UPDATE audit_events SET seq = -1 WHERE shard = 'hub-0' AND seq = ?`, swapA)
	exec(`UPDATE audit_events SET seq = ? WHERE shard = 'hub-0' AND seq = ?`, swapA, swapB)
	exec(`UPDATE audit_events SET seq = ? WHERE shard = 'hub-0' AND seq = -1`, swapB)
	// ...and slips in a forged event, moving the rest of the chain on.
	var lastNS int64
	if err := db.QueryRow(`SELECT time_ns FROM audit_events WHERE shard = 'hub-0' AND seq = ?`, insertAfter).Scan(&lastNS); err != nil {
		t.Fatal(err)
	}
	forgedID := audit.NewID(time.Unix(0, lastNS+1))
	exec(`UPDATE audit_events SET seq = -(seq + 1) WHERE shard = 'hub-0' AND seq > ?`, insertAfter)
	exec(`UPDATE audit_events SET seq = -seq WHERE shard = 'hub-0' AND seq < 0`)
	exec(`INSERT INTO audit_events (shard, seq, id, time_ns, code, action, outcome, actor_id, actor_roles, actor_org,
	        application, purpose, patient_id, record_type, record_ids, disclosed, masked, policy_revision, rules, consents,
	        reason, request_id, idem_key, prev_hash, hash)
	      SELECT shard, ?, ?, time_ns + 1, code, action, outcome, 'intruder', actor_roles, actor_org,
	        application, purpose, patient_id, record_type, record_ids, disclosed, masked, policy_revision, rules, consents,
	        reason, request_id, '', hash, 'abababababababababababababababababababababababababababababababab'
	      FROM audit_events WHERE shard = 'hub-0' AND seq = ?`, insertAfter+1, forgedID, insertAfter)

	rep, err := audit.Verify(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.Problem{
		{Shard: "hub-0", Seq: modified, ID: modifiedID, Kind: audit.KindModified},
		{Shard: "hub-0", Seq: deleted, Kind: audit.KindGap, Missing: 1},
		{Shard: "hub-0", Seq: swapA, ID: swapBID, Kind: audit.KindUnexpected},
		{Shard: "hub-0", Seq: swapB, ID: swapAID, Kind: audit.KindUnexpected},
		{Shard: "hub-0", Seq: insertAfter + 1, ID: forgedID, Kind: audit.KindUnexpected},
	}
	slices.SortFunc(want, func(a, b audit.Problem) int { return int(a.Seq) - int(b.Seq) })
	if !slices.Equal(rep.Problems, want) {
		t.Fatalf("verify over %d events found\n  %v\nwant\n  %v", rep.Events, rep.Problems, want)
	}
	t.Logf("%d events, %d incidents; tampering found at %v", rep.Events, len(m.Incidents), rep.Problems)
}
