package report_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/report"
)

const accountingGQL = `query($patient: ID, $identifier: String) {
  accountingOfDisclosures(patient: $patient, identifier: $identifier) {
    patient window { from to capped } disclosures { eventId date recipient { id org } description purpose }
    excluded { reason count } text
  }
}`

func TestReportsAreRoleGatedAndAudited(t *testing.T) {
	f := newFixture(t)
	want := accountingFixture(t, f)

	// The nurse is denied, and the denial is audited.
	data, errs := f.gql(t, nurse, accountingGQL, map[string]any{"patient": f.patient})
	if errCode(errs) != "FORBIDDEN" || data["accountingOfDisclosures"] != nil {
		t.Fatalf("nurse: data %v errors %v", data, errs)
	}
	denied := f.events(t, audit.CodeReportDeny)
	if len(denied) != 1 || denied[0].ActorID != nurse.Subject || denied[0].PatientID != f.patient ||
		denied[0].Action != "report.generate" || denied[0].Outcome != audit.OutcomeDeny {
		t.Fatalf("deny events = %+v", denied)
	}
	// So is the security analyst, who may query the log but not generate reports.
	if _, errs := f.gql(t, securityAnalyst, accountingGQL, map[string]any{"patient": f.patient}); errCode(errs) != "FORBIDDEN" {
		t.Fatalf("security analyst: %v", errs)
	}

	// The privacy officer, by identifier, gets the accounting; it is audited.
	data, errs = f.gql(t, privacyOfficer, accountingGQL, map[string]any{"identifier": mrnSystem + "|MRN-FIX1"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	acc := data["accountingOfDisclosures"].(map[string]any)
	var got []string
	for _, d := range acc["disclosures"].([]any) {
		got = append(got, d.(map[string]any)["eventId"].(string))
	}
	if acc["patient"] != f.patient || !slices.Equal(got, want) || !strings.Contains(acc["text"].(string), "4 disclosure(s)") {
		t.Fatalf("accounting = %v", acc)
	}
	if len(acc["excluded"].([]any)) == 0 {
		t.Error("excluded counts missing")
	}
	allowed := f.events(t, audit.CodeReport)
	if len(allowed) != 1 || allowed[0].ActorID != privacyOfficer.Subject || allowed[0].PatientID != f.patient ||
		!strings.HasPrefix(allowed[0].Reason, "accounting of disclosures patient="+f.patient) {
		t.Fatalf("report events = %+v", allowed)
	}

	// The other reports, each audited as a report.
	for _, q := range []string{
		`{ accessReport(patient: "P-FIX1") { patient uses disclosures denials breakGlass entries { eventId kind denied } text } }`,
		`{ gdprSubjectAccess(patient: "P-FIX1") { purposes { code display } categories { class recordTypes } recipients { name kind } retention { records audit } sources automatedDecisionMaking text } }`,
		`{ recordOfProcessing { controller purposes { code roles recipients } dataCategories { class } sources { name } recipients { name external } roles { name governance } security text } }`,
	} {
		data, errs := f.gql(t, privacyOfficer, q, nil)
		if len(errs) > 0 || len(data) != 1 {
			t.Fatalf("%s: %v %v", q, data, errs)
		}
		if _, errs := f.gql(t, nurse, q, nil); errCode(errs) != "FORBIDDEN" {
			t.Fatalf("nurse %s: %v", q, errs)
		}
	}
	if n := len(f.events(t, audit.CodeReport)); n != 4 {
		t.Errorf("%d report events, want 4", n)
	}
	if n := len(f.events(t, audit.CodeReportDeny)); n != 5 {
		t.Errorf("%d report denials, want 5", n)
	}

	// Bad arguments are clear errors.
	for q, code := range map[string]string{
		`{ accountingOfDisclosures { patient } }`:                                                               "BAD_REQUEST",
		`{ accountingOfDisclosures(patient: "P1", identifier: "a|b") { patient } }`:                             "BAD_REQUEST",
		`{ accountingOfDisclosures(identifier: "no-bar") { patient } }`:                                         "BAD_REQUEST",
		`{ accountingOfDisclosures(identifier: "urn:x|unknown") { patient } }`:                                  "NOT_FOUND",
		`{ accountingOfDisclosures(patient: "P1", from: "yesterday") { patient } }`:                             "BAD_REQUEST",
		`{ accessReport(patient: "P1", from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z") { patient } }`: "BAD_REQUEST",
	} {
		if _, errs := f.gql(t, privacyOfficer, q, nil); errCode(errs) != code {
			t.Errorf("%s: errors %v, want %s", q, errs, code)
		}
	}
}

// failingAppender is an audit log that cannot write.
type failingAppender struct{}

func (failingAppender) Append(context.Context, []audit.Event) error { return audit.ErrUnavailable }

func TestReportsFailClosed(t *testing.T) {
	f := newFixture(t)
	accountingFixture(t, f)
	f.reader.Reader.Audit = failingAppender{}
	for _, q := range []string{
		`{ accountingOfDisclosures(patient: "P-FIX1") { disclosures { eventId } } }`,
		`{ auditLog(filter: {patient: "P-FIX1"}) { events { id } } }`,
		`{ breakGlassQueue { id } }`,
	} {
		data, errs := f.gql(t, privacyOfficer, q, nil)
		if errCode(errs) != "UNAVAILABLE" || data != nil {
			t.Errorf("%s without audit: data %v errors %v", q, data, errs)
		}
	}
	c, err := query.CallerFrom(query.WithIdentity(context.Background(), privacyOfficer), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	enc, _ := report.NewEncoder(report.FormatCSV, &buf, report.Observer{})
	if n, err := f.reader.Export(context.Background(), c, audit.Filter{}, report.FormatCSV, enc); !errors.Is(err, query.ErrAudit) || n != 0 || buf.Len() != 0 {
		t.Errorf("export without audit: %d events, %v, %q", n, err, buf.String())
	}
}

const auditLogGQL = `query($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    events { id code actor patient outcome purpose recordType application }
    pageInfo { endCursor hasNextPage }
  }
}`

func TestAuditLogCursorPagination(t *testing.T) {
	f := newFixture(t)
	var evs []audit.Event
	for i := range 35 {
		e := f.ev(time.Duration(100-i)*time.Minute, audit.CodeRecordRead, audit.OutcomeAllow, fmt.Sprint("user", i%3), "", "TREAT", "Observation", fmt.Sprint("R", i))
		if i%5 == 0 {
			e.Code, e.Outcome = audit.CodeRecordReadDeny, audit.OutcomeDeny
		}
		evs = append(evs, e)
	}
	other := f.ev(time.Minute, audit.CodeRecordRead, audit.OutcomeAllow, "user0", "", "TREAT", "Observation", "RX")
	other.PatientID = "P-OTHER"
	evs = f.append(t, append(evs, other)...)

	page := func(id query.Identity, filter map[string]any, first int, after string) (ids []string, end string, more bool, errs []map[string]any) {
		vars := map[string]any{"filter": filter, "first": first}
		if after != "" {
			vars["after"] = after
		}
		data, errs := f.gql(t, id, auditLogGQL, vars)
		if len(errs) > 0 {
			return nil, "", false, errs
		}
		p := data["auditLog"].(map[string]any)
		for _, e := range p["events"].([]any) {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		pi := p["pageInfo"].(map[string]any)
		end, _ = pi["endCursor"].(string)
		return ids, end, pi["hasNextPage"].(bool), nil
	}
	// who accessed the patient, 10 at a time: 4 pages
	var all []string
	after, pages := "", 0
	for {
		ids, end, more, errs := page(privacyOfficer, map[string]any{"patient": f.patient, "codes": report.AccessCodes()}, 10, after)
		if errs != nil {
			t.Fatal(errs)
		}
		all, after = append(all, ids...), end
		pages++
		if !more {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	var want []string
	for _, e := range evs[:35] {
		want = append(want, e.ID)
	}
	if pages != 4 || !slices.Equal(all, want) {
		t.Fatalf("%d pages, %d events; want 4 pages and every event of the patient in order", pages, len(all))
	}
	// each page is an audited audit query
	if n := len(f.events(t, audit.CodeAuditQuery)); n != 4 {
		t.Errorf("%d audit query events, want 4", n)
	}
	// by identifier, denials only, and by user
	ids, _, _, errs := page(securityAnalyst, map[string]any{"identifier": mrnSystem + "|MRN-FIX1", "denied": true}, 100, "")
	if errs != nil || len(ids) != 7 {
		t.Fatalf("denials: %v %v", ids, errs)
	}
	ids, _, _, _ = page(privacyOfficer, map[string]any{"actor": "user0"}, 100, "")
	if len(ids) != 13 {
		t.Fatalf("user0 accessed %d, want 13", len(ids))
	}
	ids, _, _, _ = page(privacyOfficer, map[string]any{"codes": []any{audit.CodeRecordRead}, "purpose": "TREAT", "recordType": "Observation", "application": "app-user1",
		"from": f.now.Add(-200 * time.Minute).Format(time.RFC3339), "to": f.now.Format(time.RFC3339)}, 100, "")
	if len(ids) != 10 {
		t.Fatalf("user1's allowed reads: %d, want 10", len(ids))
	}
	// the nurse may not query the audit log; bad cursors and sizes are refused
	if _, _, _, errs := page(nurse, nil, 10, ""); errCode(errs) != "FORBIDDEN" {
		t.Errorf("nurse: %v", errs)
	}
	if _, _, _, errs := page(privacyOfficer, nil, 10, evs[3].ID); errCode(errs) != "BAD_REQUEST" {
		t.Errorf("raw id as cursor: %v", errs)
	}
	if _, _, _, errs := page(privacyOfficer, nil, 5000, ""); errCode(errs) != "BAD_REQUEST" {
		t.Errorf("first 5000: %v", errs)
	}
	if _, _, _, errs := page(privacyOfficer, map[string]any{"outcome": "maybe"}, 10, ""); errCode(errs) != "BAD_REQUEST" {
		t.Errorf("outcome maybe: %v", errs)
	}
}

const queueGQL = `{ breakGlassQueue { id actor patient eventIds recordTypes reasons } }`
const reviewGQL = `mutation($s: ID!, $f: String!, $c: String!) { reviewBreakGlass(session: $s, finding: $f, category: $c) { session finding category reviewer eventIds } }`

func TestBreakGlassReview(t *testing.T) {
	f := newFixture(t)
	bg := func(ago time.Duration, actor string) audit.Event {
		e := f.ev(ago, audit.CodeBreakGlass, audit.OutcomeAllow, actor, "", "ETREAT", "Observation", "R1")
		e.Reason = "unconscious in ED"
		return e
	}
	evs := f.append(t, bg(3*time.Hour, "dr.ames"), bg(3*time.Hour-time.Minute, "dr.ames"), bg(2*time.Hour, "po.ines"))
	queue := func() []any {
		data, errs := f.gql(t, privacyOfficer, queueGQL, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return data["breakGlassQueue"].([]any)
	}
	q := queue()
	if len(q) != 2 {
		t.Fatalf("queue = %v", q)
	}
	s0 := q[0].(map[string]any)
	if s0["id"] != evs[0].ID || len(s0["eventIds"].([]any)) != 2 {
		t.Fatalf("session = %v", s0)
	}
	// the nurse may neither see the queue nor review
	if _, errs := f.gql(t, nurse, queueGQL, nil); errCode(errs) != "FORBIDDEN" {
		t.Errorf("nurse queue: %v", errs)
	}
	vars := map[string]any{"s": evs[0].ID, "f": "unjustified", "c": "personal-interest"}
	if _, errs := f.gql(t, nurse, reviewGQL, vars); errCode(errs) != "FORBIDDEN" {
		t.Errorf("nurse review: %v", errs)
	}
	// free text instead of a category is refused
	if _, errs := f.gql(t, privacyOfficer, reviewGQL, map[string]any{"s": evs[0].ID, "f": "unjustified", "c": "looked up her neighbour"}); errCode(errs) != "BAD_REQUEST" {
		t.Errorf("free-text category: %v", errs)
	}
	// a reviewer may not review their own session
	if _, errs := f.gql(t, privacyOfficer, reviewGQL, map[string]any{"s": evs[2].ID, "f": "justified", "c": "other"}); errCode(errs) != "FORBIDDEN" {
		t.Errorf("self-review: %v", errs)
	}
	// the privacy officer records a finding
	data, errs := f.gql(t, privacyOfficer, reviewGQL, vars)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rv := data["reviewBreakGlass"].(map[string]any)
	if rv["finding"] != "unjustified" || rv["reviewer"] != privacyOfficer.Subject || len(rv["eventIds"].([]any)) != 2 {
		t.Fatalf("review = %v", rv)
	}
	reviews := f.events(t, audit.CodeBreakGlassReview)
	if len(reviews) != 1 || !slices.Equal(reviews[0].RecordIDs, []string{evs[0].ID, evs[1].ID}) ||
		reviews[0].Reason != report.ReviewReason(evs[0].ID, report.Finding{Finding: "unjustified", Category: "personal-interest"}) ||
		reviews[0].ActorID != privacyOfficer.Subject || reviews[0].PatientID != f.patient {
		t.Fatalf("review events = %+v", reviews)
	}
	// the session left the queue; reviewing it again is NOT_FOUND
	if q := queue(); len(q) != 1 || q[0].(map[string]any)["id"] != evs[2].ID {
		t.Fatalf("queue after review = %v", q)
	}
	if _, errs := f.gql(t, privacyOfficer, reviewGQL, vars); errCode(errs) != "NOT_FOUND" {
		t.Errorf("second review: %v", errs)
	}
	// denials (nurse twice, self-review) are audited
	denials := 0
	for _, e := range f.events(t, audit.CodeAuditQueryDeny) {
		if e.Action == "audit.review" {
			denials++
		}
	}
	if denials != 3 {
		t.Errorf("%d audited review denials, want 3", denials)
	}
}

// tokenAuth maps bearer tokens to identities (the JWT verifier is tested in
// auth and end to end).
type tokenAuth map[string]query.Identity

func (a tokenAuth) Authenticate(tok string) (query.Identity, error) {
	id, ok := a[tok]
	if !ok {
		return query.Identity{}, query.ErrUnauthenticated
	}
	return id, nil
}

func TestExportHandler(t *testing.T) {
	f := newFixture(t)
	evs := exportFixture(t, f)
	srv := httptest.NewServer(f.reader.ExportHandler(tokenAuth{"po": privacyOfficer, "rn": nurse}))
	defer srv.Close()
	get := func(tok, params string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/audit/export?"+params, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("po", "format=csv&identifier="+mrnSystem+"|MRN-FIX1&codes=CC2000I,CC2002W")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != report.FormatCSV.ContentType() {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	lines := strings.Split(strings.TrimSpace(body), "\r\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], evs[1].ID) || !strings.HasPrefix(lines[2], evs[3].ID) {
		t.Fatalf("export body:\n%s", body)
	}
	exports := f.events(t, audit.CodeAuditExport)
	if len(exports) != 1 || exports[0].PatientID != f.patient || !strings.Contains(exports[0].Reason, "format=csv") ||
		!strings.Contains(exports[0].Reason, "codes=CC2000I,CC2002W") {
		t.Fatalf("export events = %+v", exports)
	}
	for _, tc := range []struct {
		tok, params string
		status      int
		code        string
	}{
		{"rn", "format=csv", 403, "FORBIDDEN"},
		{"", "format=csv", 401, "UNAUTHENTICATED"},
		{"forged", "format=csv", 401, "UNAUTHENTICATED"},
		{"po", "format=xlsx", 400, "BAD_REQUEST"},
		{"po", "from=last-week", 400, "BAD_REQUEST"},
		{"po", "after=abc", 400, "BAD_REQUEST"},
		{"po", "identifier=urn:x|nobody", 404, "NOT_FOUND"},
		{"po", "purposeOfUse=TREAT", 403, "FORBIDDEN"},
	} {
		resp, body := get(tc.tok, tc.params)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.code) {
			t.Errorf("%s %s: %d %s", tc.tok, tc.params, resp.StatusCode, body)
		}
	}
	if n := len(f.events(t, audit.CodeAuditQueryDeny)); n != 1 {
		t.Errorf("%d audited export denials, want 1 (the nurse)", n)
	}
	resp, body = get("po", "format=fhir&patient="+f.patient)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, `{"resourceType":"Bundle"`) || !strings.Contains(resp.Header.Get("Content-Disposition"), ".json") {
		t.Errorf("fhir export: %d %.200s", resp.StatusCode, body)
	}
}
