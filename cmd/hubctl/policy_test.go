package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
	"github.com/carecrest/hub/store/sqlite"
)

// TestPolicyExplain runs `hubctl policy explain` against the explain API
// over a real store and the embedded policy: a physician's read of a
// patient who opted out is a deny by consent.opt-out naming the consent; a
// nurse may not ask; the question is audited.
func TestPolicyExplain(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, store.Batch{
		Records: []record.Sealed{{ID: "r-obs-1", Type: "Observation", Source: "lis", MessageID: "m1", Key: "k1", PatientID: "P1",
			Clear: []byte(`{"resourceType":"Observation","id":"r-obs-1"}`), Received: time.Now()}},
		Consents: []store.ConsentVersion{{Key: "c1", Directive: consent.Directive{ID: "consent-9", PatientID: "P1", Status: "active",
			Decision: consent.Deny, Recorded: time.Now(), Source: "hie"}}},
	}); err != nil {
		t.Fatal(err)
	}
	r := &query.Reader{Records: st, Consents: st, Decider: eng, Explainer: eng, Audit: st, Querier: st}
	schema, err := query.Schema(r, query.ExplainExtension(r))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &query.Handler{Schema: schema, Auth: tokens{
		"po": {Subject: "po.ines", Kind: "user", Roles: []string{"privacy_officer"}, Purposes: []string{"HOPERAT"}},
		"rn": {Subject: "rn.dale", Kind: "user", Roles: []string{"nurse"}, Purposes: []string{"TREAT"}},
	}})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/graphql"
	args := []string{"policy", "explain", "--url", url, "--patient", "P1", "--subject", "dr.ames", "--roles", "physician",
		"--purpose", "TREAT", "--fhir-user", "Practitioner/dr.ames", "--type", "Observation"}

	code, out := capture(t, append(args, "--token", "po")...)
	if code != 0 || !strings.HasPrefix(out, "DENY Observation of P1") || !strings.Contains(out, "consent.opt-out") || !strings.Contains(out, "consent-9") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = capture(t, append(args, "--token", "po", "--json", "--labels", "ETH")...)
	var res []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || res[0]["allow"] != false {
		t.Fatalf("--json: exit %d: %s", code, out)
	}
	if code, _ := capture(t, append(args, "--token", "rn")...); code != 1 {
		t.Fatalf("a nurse asking: exit %d, want 1", code)
	}
	evs, err := st.Query(ctx, audit.Filter{Codes: []string{audit.CodePolicyExplain, audit.CodePolicyExplainDeny}})
	if err != nil || len(evs) != 3 || evs[2].ActorID != "rn.dale" || evs[2].Outcome != audit.OutcomeDeny {
		t.Fatalf("explain audit: %v %+v", err, evs)
	}
}
