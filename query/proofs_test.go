package query_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/store/sqlite"
	"github.com/graphql-go/graphql"
)

// The proof queries over a real store, key manager and policy: allowed for
// a privacy officer and audited, denied (and audited) for a nurse, and
// TAMPERED once an event is edited behind the store's back.
func TestProofQueries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, err := local.Open(filepath.Join(dir, "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := phi.NewSealer(kr, st, phi.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := merkle.KeySigner(ctx, sealer)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := merkle.NewService(merkle.Deps{Chain: st, Events: st, Log: st, Signer: signer, Instance: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &query.Reader{Decider: engine, Audit: st, Querier: st}
	pf := &query.Proofs{Reader: r, Prover: svc}
	schema, err := query.Schema(r, pf.Extension())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	var evs []audit.Event
	for i := range 9 {
		at := t0.Add(time.Duration(i) * time.Minute)
		evs = append(evs, audit.Event{ID: audit.NewID(at), Time: at, Code: audit.CodeRecordRead, Action: audit.ActionRead,
			Outcome: audit.OutcomeAllow, ActorID: "dr.osei", PatientID: "P000042", RecordType: "Observation"})
	}
	if err := st.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	po := query.Identity{Subject: "po.kim", Kind: "user", Roles: []string{"privacy_officer"}, Purposes: []string{"HOPERAT"}, Application: "console"}
	nurse := query.Identity{Subject: "rn.ade", Kind: "user", Roles: []string{"nurse"}, Purposes: []string{"TREAT"}, Application: "ehr"}
	do := func(id query.Identity, q string, vars map[string]any) (map[string]any, string) {
		t.Helper()
		res := graphql.Do(graphql.Params{Schema: schema, RequestString: q, VariableValues: vars, Context: query.WithIdentity(ctx, id)})
		raw, _ := json.Marshal(res)
		var out struct {
			Data   map[string]any `json:"data"`
			Errors []struct {
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Errors) > 0 {
			code, _ := out.Errors[0].Extensions["code"].(string)
			return nil, code
		}
		return out.Data, ""
	}

	const cpQ = `{ auditCheckpoint(shard: "hub-0") { origin shard treeSize rootHash note verifierKey } }`
	data, code := do(po, cpQ, nil)
	if code != "" {
		t.Fatalf("auditCheckpoint: %s", code)
	}
	cp := data["auditCheckpoint"].(map[string]any)
	if cp["treeSize"].(float64) != 9 || cp["verifierKey"] != svc.VerifierKey() {
		t.Fatalf("checkpoint %v", cp)
	}
	note := cp["note"].(string)

	const inclQ = `query($id: ID!) { inclusionProof(eventId: $id) { shard leafIndex treeSize hashes checkpoint event proof } }`
	data, code = do(po, inclQ, map[string]any{"id": evs[4].ID})
	if code != "" {
		t.Fatalf("inclusionProof: %s", code)
	}
	incl := data["inclusionProof"].(map[string]any)
	var proof merkle.InclusionProof
	if err := json.Unmarshal([]byte(incl["proof"].(string)), &proof); err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyInclusion([]byte(incl["event"].(string)), proof, note, svc.VerifierKey()); err != nil {
		t.Fatalf("the GraphQL proof does not verify offline: %v", err)
	}

	const consQ = `{ consistencyProof(shard: "hub-0", from: 4, to: 9) { oldSize newSize hashes newCheckpoint proof } }`
	data, code = do(po, consQ, nil)
	if code != "" {
		t.Fatalf("consistencyProof: %s", code)
	}
	if c := data["consistencyProof"].(map[string]any); c["newCheckpoint"] != note || len(c["hashes"].([]any)) == 0 {
		t.Fatalf("consistency proof %v", c)
	}

	// Each was an audited audit query; the nurse's attempt is denied and
	// audited too.
	if _, code := do(nurse, inclQ, map[string]any{"id": evs[4].ID}); code != "FORBIDDEN" {
		t.Fatalf("nurse: %q, want FORBIDDEN", code)
	}
	logged, err := st.Query(ctx, audit.Filter{Codes: []string{audit.CodeAuditQuery, audit.CodeAuditQueryDeny}})
	if err != nil {
		t.Fatal(err)
	}
	var allowed, denied int
	for _, e := range logged {
		switch {
		case e.Code == audit.CodeAuditQuery && e.ActorID == "po.kim":
			allowed++
		case e.Code == audit.CodeAuditQueryDeny && e.ActorID == "rn.ade" && len(e.RecordIDs) == 1 && e.RecordIDs[0] == evs[4].ID:
			denied++
		}
	}
	if allowed != 3 || denied != 1 {
		t.Fatalf("audited %d allowed and %d denied proof queries, want 3 and 1", allowed, denied)
	}

	// Bad input gets a clear error.
	for q, want := range map[string]string{
		`{ inclusionProof(eventId: "nope") { shard } }`:                           "BAD_REQUEST",
		`{ inclusionProof(eventId: "01KN44AZER8BZX7F6CBX47FDBK") { shard } }`:     "NOT_FOUND",
		`{ consistencyProof(shard: "hub-0", from: 5, to: 2) { shard } }`:          "BAD_REQUEST",
		`{ consistencyProof(shard: "hub-0", from: -1) { shard } }`:                "BAD_REQUEST",
		`{ inclusionProof(eventId: "` + evs[4].ID + `", treeSize: 2) { shard } }`: "BAD_REQUEST",
	} {
		if _, code := do(po, q, nil); code != want {
			t.Errorf("%s: %q, want %s", q, code, want)
		}
	}

	// Edit event 5 behind the store's back: the proof against the
	// published checkpoint is refused as TAMPERED.
	tx, err := st.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER IF EXISTS audit_no_update`, `UPDATE audit_events SET purpose = 'HRESCH' WHERE shard = 'hub-0' AND seq = 5`} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, code := do(po, inclQ, map[string]any{"id": evs[4].ID}); code != "TAMPERED" {
		t.Fatalf("proof of an edited event: %q, want TAMPERED", code)
	}
}
