package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/report"
	"github.com/carecrest/hub/server"
)

// reportsAPI serves the hub's GraphQL with the privacy office's extension
// and the audit export, authenticated by the hub's own JWT verifier.
func reportsAPI(t *testing.T, h *server.Hub) (graphqlURL, exportURL string, rp *query.Reports) {
	t.Helper()
	rp, err := server.NewReports(h.Config, h.Reader)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := query.Schema(h.Reader, rp.Extension())
	if err != nil {
		t.Fatal(err)
	}
	authn, err := server.NewAuthenticator(h.Config.Auth)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &query.Handler{Schema: schema, Auth: authn})
	server.MountReports(mux, rp, authn)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/graphql", srv.URL + server.ExportPath, rp
}

func postGQL(t *testing.T, url, token, q string, vars map[string]any, field string) (any, string) {
	t.Helper()
	res, err := query.Post(context.Background(), url, token, q, vars)
	if err != nil {
		t.Fatal(err)
	}
	if errs, ok := res["errors"].([]any); ok && len(errs) > 0 {
		ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
		code, _ := ext["code"].(string)
		return nil, code
	}
	return res["data"].(map[string]any)[field], ""
}

func ids(list any, key string) []string {
	var out []string
	for _, x := range list.([]any) {
		out = append(out, x.(map[string]any)[key].(string))
	}
	return out
}

func eventIDs(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// TestMonthReports appends a generated month of hospital traffic (internal/sim:
// several hundred users, thousands of patients, planted incidents) to a real
// hub's store and checks the privacy office's answers against what the
// month is known to contain: every patient's accounting lists exactly the
// expected disclosures, access reports list every access, paging and the
// export are complete, and the break-glass queue holds every session.
func TestMonthReports(t *testing.T) {
	opts := sim.Options{Seed: 7}
	if testing.Short() {
		opts.Users, opts.Patients, opts.Days = 80, 400, 14
	}
	m := sim.Generate(opts)
	cfg := testConfig(t)
	cfg.Compliance.InternalOrgs = []string{sim.Org}
	h := startWith(t, cfg)
	ctx := context.Background()
	for i := 0; i < len(m.Events); i += 10000 {
		if err := h.Store.Append(ctx, m.Events[i:min(i+10000, len(m.Events))]); err != nil {
			t.Fatal(err)
		}
	}
	gqlURL, exportURL, rp := reportsAPI(t, h)
	po := mintTB(t, h, "po.month", []string{"privacy_officer"}, []string{"HOPERAT"})
	rn := mintTB(t, h, "rn.month", []string{"nurse"}, []string{"TREAT"})
	from, to := m.Start.UTC().Format(time.RFC3339), m.End.UTC().Format(time.RFC3339)
	total := 0
	for _, d := range m.Disclosures {
		total += len(d)
	}
	t.Logf("month: %d events, %d staff, %d patients, %d disclosures to account for (%d patients)",
		len(m.Events), len(m.Roster), len(m.Patients), total, len(m.Disclosures))
	if total == 0 {
		t.Fatal("the month has no disclosures to account for")
	}

	// Every patient's accounting, from the report package over the store.
	w := report.Window{From: m.Start, To: m.End}
	for _, p := range m.Patients {
		acc, err := report.AccountingOf(ctx, h.Store, h.Store, cfg.Compliance, rp.Processing.Policy, p.ID, w, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range acc.Disclosures {
			got = append(got, d.EventID)
		}
		if want := eventIDs(m.Disclosures[p.ID]); !slices.Equal(got, want) {
			t.Errorf("patient %s: accounting lists %v, want %v", p.ID, got, want)
		}
	}

	// Several patients over GraphQL with a privacy officer's JWT, by id and
	// by MRN-free enterprise id; the nurse is refused.
	var withDisclosures []string
	for p := range m.Disclosures {
		withDisclosures = append(withDisclosures, p)
	}
	sort.Strings(withDisclosures)
	sample := append(withDisclosures[:min(6, len(withDisclosures))], m.VIPs()[0], m.Patients[0].ID)
	for _, p := range sample {
		acc, code := postGQL(t, gqlURL, po, `query($p: ID, $from: String, $to: String) {
		  accountingOfDisclosures(patient: $p, from: $from, to: $to) { patient disclosures { eventId recipient { id org } purpose description } text } }`,
			map[string]any{"p": p, "from": from, "to": to}, "accountingOfDisclosures")
		if code != "" {
			t.Fatalf("accounting %s: %s", p, code)
		}
		got := ids(acc.(map[string]any)["disclosures"], "eventId")
		if want := eventIDs(m.Disclosures[p]); !slices.Equal(got, want) {
			t.Errorf("GraphQL accounting of %s = %v, want %v", p, got, want)
		}
	}
	if _, code := postGQL(t, gqlURL, rn, `{ accountingOfDisclosures(patient: "`+sample[0]+`") { patient } }`, nil, "accountingOfDisclosures"); code != "FORBIDDEN" {
		t.Errorf("nurse accounting: %q, want FORBIDDEN", code)
	}

	// Access reports list every access of the month.
	accessCodes := report.AccessCodes()
	byPatient := map[string][]audit.Event{}
	for _, e := range m.Events {
		if slices.Contains(accessCodes, e.Code) {
			byPatient[e.PatientID] = append(byPatient[e.PatientID], e)
		}
	}
	for i, p := range m.Patients {
		if i%5 != 0 && !p.VIP { // a fifth of the patients, and every VIP
			continue
		}
		rep, err := report.AccessReportOf(ctx, h.Store, cfg.Compliance, p.ID, w, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(rep.Entries))
		for i, a := range rep.Entries {
			got[i] = a.EventID
		}
		if want := eventIDs(byPatient[p.ID]); !slices.Equal(got, want) {
			t.Errorf("patient %s: access report lists %d accesses, want %d", p.ID, len(got), len(want))
		}
	}
	busiest := m.Patients[0].ID
	for p, evs := range byPatient {
		if p != "" && len(evs) > len(byPatient[busiest]) {
			busiest = p
		}
	}
	rep, code := postGQL(t, gqlURL, po, `query($p: ID, $from: String, $to: String) { accessReport(patient: $p, from: $from, to: $to) { entries { eventId kind denied breakGlass } text } }`,
		map[string]any{"p": busiest, "from": from, "to": to}, "accessReport")
	if code != "" || !slices.Equal(ids(rep.(map[string]any)["entries"], "eventId"), eventIDs(byPatient[busiest])) {
		t.Errorf("GraphQL access report of %s: %s", busiest, code)
	}

	// Cursor paging: who accessed the busiest patient, 7 at a time.
	var paged []string
	after, pages := "", 0
	for {
		vars := map[string]any{"filter": map[string]any{"patient": busiest, "codes": accessCodes, "from": from, "to": to}, "first": 7}
		if after != "" {
			vars["after"] = after
		}
		page, code := postGQL(t, gqlURL, po, `query($filter: AuditFilter, $first: Int, $after: String) {
		  auditLog(filter: $filter, first: $first, after: $after) { events { id } pageInfo { endCursor hasNextPage } } }`, vars, "auditLog")
		if code != "" {
			t.Fatal(code)
		}
		pm := page.(map[string]any)
		paged = append(paged, ids(pm["events"], "id")...)
		info := pm["pageInfo"].(map[string]any)
		after, _ = info["endCursor"].(string)
		pages++
		if !info["hasNextPage"].(bool) {
			break
		}
	}
	if pages < 3 || !slices.Equal(paged, eventIDs(byPatient[busiest])) {
		t.Errorf("paged %d events in %d pages, want %d in at least 3", len(paged), pages, len(byPatient[busiest]))
	}

	// The export of the whole month, streamed: every event once, in order.
	q := url.Values{"format": {"ndjson"}, "from": {from}, "to": {to}}
	req, _ := http.NewRequest(http.MethodGet, exportURL+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+po)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var exported []string
	for sc.Scan() {
		var r report.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		exported = append(exported, r.ID)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := eventIDs(m.Events)
	sort.Strings(want)
	if !slices.Equal(exported, want) {
		t.Errorf("export has %d events, want the month's %d in id order", len(exported), len(want))
	}

	// The break-glass queue holds every break-glass read of the month;
	// a review takes its session out.
	var bg []string
	for _, e := range m.Events {
		if e.Code == audit.CodeBreakGlass && e.Outcome == audit.OutcomeAllow {
			bg = append(bg, e.ID)
		}
	}
	queue := func() []any {
		q, code := postGQL(t, gqlURL, po, `query($from: String, $to: String) { breakGlassQueue(from: $from, to: $to) { id actor patient eventIds } }`,
			map[string]any{"from": from, "to": to}, "breakGlassQueue")
		if code != "" {
			t.Fatal(code)
		}
		return q.([]any)
	}
	sessions := queue()
	var queued []string
	for _, s := range sessions {
		for _, id := range s.(map[string]any)["eventIds"].([]any) {
			queued = append(queued, id.(string))
		}
	}
	sort.Strings(queued)
	sort.Strings(bg)
	if len(bg) == 0 || !slices.Equal(queued, bg) {
		t.Fatalf("queue holds %d break-glass events in %d sessions, want %d", len(queued), len(sessions), len(bg))
	}
	first := sessions[0].(map[string]any)
	rv, code := postGQL(t, gqlURL, po, `mutation($s: ID!) { reviewBreakGlass(session: $s, finding: "justified", category: "emergency-treatment") { session eventIds } }`,
		map[string]any{"s": first["id"]}, "reviewBreakGlass")
	if code != "" || len(rv.(map[string]any)["eventIds"].([]any)) != len(first["eventIds"].([]any)) {
		t.Fatalf("review: %v %s", rv, code)
	}
	if after := queue(); len(after) != len(sessions)-1 {
		t.Errorf("queue after one review: %d sessions, want %d", len(after), len(sessions)-1)
	}

	// Every question above was audited, none of it with PHI: the report
	// events name patients by enterprise id only.
	reports, err := h.Store.Query(ctx, audit.Filter{Codes: []string{audit.CodeReport, audit.CodeReportDeny, audit.CodeAuditExport, audit.CodeBreakGlassReview}, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) < len(sample)+4 {
		t.Errorf("only %d governance events audited", len(reports))
	}
	for _, e := range reports {
		for _, p := range m.Patients {
			if strings.Contains(e.Reason, p.Surname) || strings.Contains(e.Reason, strings.SplitN(p.MRN, "|", 2)[1]) {
				t.Fatalf("audit reason %q carries PHI", e.Reason)
			}
		}
	}
}
