package report_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/report"
	"github.com/carecrest/hub/route"
	"github.com/carecrest/hub/store"
	"github.com/carecrest/hub/store/sqlite"
	"github.com/graphql-go/graphql"
)

// fixture is a real SQLite store with the hub's policy, a patient index and
// the reports service over them.
type fixture struct {
	st      *sqlite.Store
	index   *mpi.Index
	reader  *query.Reports
	schema  graphql.Schema
	now     time.Time
	patient string // P-FIX1, with the identifier mrnSystem|MRN-FIX1
}

const mrnSystem = "urn:oid:2.16.840.1.113883.19.5"

var (
	privacyOfficer  = query.Identity{Subject: "po.ines", Kind: "user", Roles: []string{"privacy_officer"}, Purposes: []string{"HOPERAT"}, Application: "test"}
	securityAnalyst = query.Identity{Subject: "sa.omar", Kind: "user", Roles: []string{"security_analyst"}, Purposes: []string{"HOPERAT"}, Application: "test"}
	nurse           = query.Identity{Subject: "rn.dale", Kind: "user", Roles: []string{"nurse"}, Purposes: []string{"TREAT"}, Application: "test"}
)

func testConfig() report.Config {
	c := report.Config{InternalOrgs: []string{"carecrest-general"}}
	c.Defaults()
	return c
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Shard: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	f := &fixture{st: st, index: mpi.New(key, st), now: time.Now().UTC(), patient: "P-FIX1"}
	if err := st.PutLinks(ctx, map[string]string{f.index.Hash(record.Identifier{System: mrnSystem, Value: "MRN-FIX1"}): f.patient}); err != nil {
		t.Fatal(err)
	}
	pd, err := report.LoadPolicyData(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &query.Reader{Index: f.index, Records: st, Consents: st, Decider: eng, Audit: st, Querier: st}
	f.reader = &query.Reports{
		Reader: r,
		Processing: report.ProcessingInputs{
			Config: testConfig(), Policy: pd, Sources: []string{"ehr", "lis", "hie"},
			Subscribers: []route.Subscriber{
				{Name: "hie", Kind: "system", Org: "regional-hie", Roles: []string{"hie_participant"}, Purpose: "TREAT", Types: []string{"Observation"}},
				{Name: "research", Kind: "application", Org: "university", Roles: []string{"application"}, Purpose: "HRESCH", Types: []string{"Observation"}},
			},
			KeyBackend: "local", Store: "sqlite",
		},
		Observer: report.Observer{Instance: "hub-0"},
	}
	f.schema, err = query.Schema(r, f.reader.Extension())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) append(t testing.TB, events ...audit.Event) []audit.Event {
	t.Helper()
	for i := range events {
		if events[i].ID == "" {
			events[i].ID = audit.NewID(events[i].Time)
		}
	}
	if err := f.st.Append(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	return events
}

// permit stores a permit consent for the patient, for purposes (none: a
// general opt-in, which authorises no particular disclosure).
func (f *fixture) permit(t testing.TB, id string, purposes ...string) {
	t.Helper()
	_, err := f.st.Commit(context.Background(), store.Batch{Consents: []store.ConsentVersion{{
		Key: "consent-" + id, Directive: consent.Directive{ID: id, PatientID: f.patient, Status: "active", Decision: consent.Permit,
			Purposes: purposes, Recorded: f.now},
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

// gql runs a GraphQL request as id and decodes the result through JSON,
// as a client sees it.
func (f *fixture) gql(t testing.TB, id query.Identity, q string, vars map[string]any) (map[string]any, []map[string]any) {
	t.Helper()
	res := graphql.Do(graphql.Params{
		Schema: f.schema, RequestString: q, VariableValues: vars,
		Context: query.WithIdentity(context.Background(), id),
	})
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out.Data, out.Errors
}

func errCode(errs []map[string]any) string {
	if len(errs) == 0 {
		return ""
	}
	ext, _ := errs[0]["extensions"].(map[string]any)
	c, _ := ext["code"].(string)
	return c
}

// events returns the audit events with the given code, oldest first.
func (f *fixture) events(t testing.TB, codes ...string) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := report.Each(context.Background(), f.st, audit.Filter{Codes: codes}, func(e audit.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// ev builds an event of the fixture patient.
func (f *fixture) ev(ago time.Duration, code, outcome, actor, org, purpose, typ string, ids ...string) audit.Event {
	action := map[string]string{audit.CodeRouted: "route", audit.CodeRouteDeny: "route", audit.CodeRecordWrite: "write"}[code]
	if action == "" {
		action = audit.ActionRead
	}
	return audit.Event{
		Time: f.now.Add(-ago), Code: code, Action: action, Outcome: outcome, ActorID: actor, ActorOrg: org,
		ActorRoles: []string{"role-of-" + actor}, Application: "app-" + actor, Purpose: purpose,
		PatientID: f.patient, RecordType: typ, RecordIDs: ids, Disclosed: []string{"code", "status", "valueQuantity"},
		PolicyRevision: "rev-test",
	}
}
