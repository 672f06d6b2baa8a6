package query_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/alert/alerttest"
	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/store/sqlite"
	"github.com/graphql-go/graphql"
)

func TestAlertsQueryAcknowledgeResolve(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := sim.Generate(sim.Options{Seed: 5, Days: 14, Users: 80, Patients: 400})
	dir := m.Directory()
	e, err := alert.New(alerttest.Config(m), alert.Deps{Appender: st, Demographics: dir, Relationships: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Observe(ctx, m.Events); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &query.Reader{Decider: pol, Audit: st, Querier: st}
	schema, err := query.Schema(r, query.AlertsExtension(r))
	if err != nil {
		t.Fatal(err)
	}
	as := func(roles ...string) context.Context {
		return query.WithIdentity(ctx, query.Identity{Subject: "sec-1", Kind: "user", Roles: roles, Org: sim.Org, Purposes: []string{"HOPERAT"}})
	}
	do := func(ctx context.Context, q string) *graphql.Result {
		return graphql.Do(graphql.Params{Schema: schema, RequestString: q, Context: ctx})
	}
	res := do(as("security_analyst"), `{ alerts(status: "open", rule: "break-glass") { id rule status text evidence actor patient } }`)
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	list := res.Data.(map[string]any)["alerts"].([]any)
	if len(list) == 0 {
		t.Fatal("no open break-glass alerts listed")
	}
	id := list[0].(map[string]any)["id"].(string)

	if res := do(as("nurse"), `{ alerts { id } }`); len(res.Errors) == 0 {
		t.Error("a nurse listed alerts")
	}
	if res := do(as("security_analyst"), `mutation { acknowledgeAlert(id: "`+id+`", note: "my patient John Smith") { id } }`); len(res.Errors) == 0 {
		t.Error("a free-text note was accepted")
	}
	res = do(as("security_analyst"), `mutation { acknowledgeAlert(id: "`+id+`", note: "SEC-1042") { status note acknowledgedBy } }`)
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	if got := res.Data.(map[string]any)["acknowledgeAlert"].(map[string]any); got["status"] != "acknowledged" || got["note"] != "SEC-1042" {
		t.Errorf("acknowledge returned %v", got)
	}
	res = do(as("privacy_officer"), `mutation { resolveAlert(id: "`+id+`", resolution: "true-positive") { status resolution } }`)
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	if res := do(as("privacy_officer"), `mutation { resolveAlert(id: "`+id+`", resolution: "benign") { status } }`); len(res.Errors) == 0 {
		t.Error("resolved twice")
	}
	// State is read back from the audit log.
	states, err := alert.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.ID == id && (s.Status != alert.StatusResolved || s.Note != "SEC-1042" || s.Resolution != "true-positive" || s.AcknowledgedBy != "sec-1") {
			t.Errorf("state from the log: %+v", s)
		}
	}
	acks, err := st.Query(ctx, audit.Filter{Codes: []string{audit.CodeAlertAck, audit.CodeAlertResolve, audit.CodeAuditQueryDeny}})
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 3 { // ack, resolve, the nurse's denial
		t.Errorf("%d audit rows for the changes and the denial, want 3", len(acks))
	}
}
