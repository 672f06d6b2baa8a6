package report_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/report"
)

// exportFixture stores one event of each kind the FHIR mapping knows.
func exportFixture(t *testing.T, f *fixture) []audit.Event {
	t.Helper()
	A, D := audit.OutcomeAllow, audit.OutcomeDeny
	bg := f.ev(50*time.Minute, audit.CodeBreakGlass, A, "dr.ames", "", "ETREAT", "Observation", "R1", "R2")
	bg.Reason = "=HYPERLINK(\"http://x\")" // a reason a user typed: must not run as a formula
	bg.Masked = []string{"note"}
	q := f.ev(40*time.Minute, audit.CodeAuditQuery, A, "po.ines", "", "HOPERAT", "AuditEvent")
	q.Reason = "audit query patient=" + f.patient
	return f.append(t,
		f.ev(time.Hour, audit.CodeRecordWrite, A, "lis", "", "", "Observation", "R1", "R2"),
		f.ev(55*time.Minute, audit.CodeRecordRead, A, "dr.ames", "carecrest-general", "TREAT", "Observation", "R1"),
		f.ev(54*time.Minute, audit.CodeRecordReadDeny, D, "billing", "", "HPAYMT", "Observation", "R1"),
		bg,
		f.ev(45*time.Minute, audit.CodeRouted, A, "hie", "regional-hie", "TREAT", "Observation", "R1"),
		f.ev(44*time.Minute, audit.CodeConsentChange, A, "ehr", "", "", "Consent", "C1"),
		q,
		f.ev(30*time.Minute, audit.CodeReadFailed, audit.OutcomeError, "dr.ames", "", "TREAT", "Observation", "R1"),
	)
}

func export(t *testing.T, f *fixture, format report.Format, filter audit.Filter) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := report.NewEncoder(format, &buf, report.Observer{Instance: "hub-0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := report.Export(context.Background(), f.st, filter, enc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportCSV(t *testing.T) {
	f := newFixture(t)
	evs := exportFixture(t, f)
	out := export(t, f, report.FormatCSV, audit.Filter{PatientID: f.patient})
	if !bytes.Contains(out, []byte("\r\n")) {
		t.Error("CSV lines must end in CRLF (RFC 4180)")
	}
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], report.Columns) {
		t.Fatalf("header = %v", rows[0])
	}
	wantHeader := "id,time,code,action,outcome,actor,roles,organization,application,purpose,patient,recordType,recordIds," +
		"disclosed,masked,policyRevision,rules,consents,reason,requestId,shard,seq,hash"
	if strings.Join(report.Columns, ",") != wantHeader {
		t.Fatalf("column order changed: %s", strings.Join(report.Columns, ","))
	}
	if len(rows) != len(evs)+1 {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(evs))
	}
	col := func(name string) int { return slices.Index(report.Columns, name) }
	stored := f.events(t)
	for i, r := range rows[1:] {
		e := stored[i]
		if r[col("id")] != e.ID || r[col("code")] != e.Code || r[col("hash")] != e.Hash || r[col("seq")] != fmt.Sprint(e.Seq) ||
			r[col("recordIds")] != strings.Join(e.RecordIDs, ";") || r[col("time")] != e.Time.Format(time.RFC3339Nano) {
			t.Errorf("row %d = %v, event %+v", i, r, e)
		}
		if e.Code == audit.CodeBreakGlass && r[col("reason")] != "'"+e.Reason {
			t.Errorf("formula reason exported as %q", r[col("reason")])
		}
	}

	empty := export(t, f, report.FormatCSV, audit.Filter{PatientID: "P-NOBODY"})
	if string(empty) != wantHeader+"\r\n" {
		t.Errorf("empty export = %q, want the header only", empty)
	}
}

func TestExportNDJSON(t *testing.T) {
	f := newFixture(t)
	exportFixture(t, f)
	out := export(t, f, report.FormatNDJSON, audit.Filter{PatientID: f.patient})
	stored := f.events(t)
	sc := bufio.NewScanner(bytes.NewReader(out))
	i := 0
	for sc.Scan() {
		var got report.Row
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		want := report.RowOf(stored[i])
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if !bytes.Equal(wj, gj) {
			t.Errorf("line %d = %s\nwant %s", i, gj, wj)
		}
		i++
	}
	if i != len(stored) {
		t.Fatalf("%d lines, want %d", i, len(stored))
	}
	if !bytes.Contains(out, []byte(`"recordIds":["R1","R2"]`)) || bytes.Contains(out, []byte("null")) {
		t.Errorf("lists must be arrays, never null:\n%s", out)
	}
}

// checkAuditEvent validates a FHIR R4 AuditEvent structurally: the
// required elements (type, recorded, agent with requestor, source with
// observer) and the codes of action and outcome.
func checkAuditEvent(t *testing.T, r map[string]any) {
	t.Helper()
	id, _ := r["id"].(string)
	fail := func(format string, a ...any) { t.Errorf("AuditEvent %s: "+format, append([]any{id}, a...)...) }
	if r["resourceType"] != "AuditEvent" {
		fail("resourceType = %v", r["resourceType"])
	}
	typ, _ := r["type"].(map[string]any)
	if typ["system"] == nil || typ["code"] == nil {
		fail("type = %v", r["type"])
	}
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["recorded"])); err != nil {
		fail("recorded = %v", r["recorded"])
	}
	if a := fmt.Sprint(r["action"]); !strings.Contains("CRUDE", a) || len(a) != 1 {
		fail("action = %v", r["action"])
	}
	if o := fmt.Sprint(r["outcome"]); o != "0" && o != "4" && o != "8" {
		fail("outcome = %v", r["outcome"])
	}
	agents, _ := r["agent"].([]any)
	if len(agents) == 0 {
		fail("no agent")
	}
	requestors := 0
	for _, a := range agents {
		am := a.(map[string]any)
		req, ok := am["requestor"].(bool)
		if !ok {
			fail("agent without requestor: %v", am)
		}
		if req {
			requestors++
		}
		if am["who"] == nil {
			fail("agent without who: %v", am)
		}
	}
	if requestors == 0 {
		fail("no requestor agent")
	}
	src, _ := r["source"].(map[string]any)
	obs, _ := src["observer"].(map[string]any)
	if obs == nil || obs["identifier"].(map[string]any)["value"] != "hub-0" {
		fail("source.observer = %v", src["observer"])
	}
	sub, _ := r["subtype"].([]any)
	hub := false
	for _, s := range sub {
		if s.(map[string]any)["system"] == report.SysHubCode {
			hub = true
		}
	}
	if !hub {
		fail("subtype lacks the hub's event code: %v", sub)
	}
}

func TestExportFHIRBundle(t *testing.T) {
	f := newFixture(t)
	evs := exportFixture(t, f)
	out := export(t, f, report.FormatFHIR, audit.Filter{})
	var b struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		}
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("bundle is not JSON: %v\n%s", err, out)
	}
	if b.ResourceType != "Bundle" || b.Type != "collection" || len(b.Entry) != len(evs) {
		t.Fatalf("bundle %s/%s with %d entries, want %d", b.ResourceType, b.Type, len(b.Entry), len(evs))
	}
	byCode := map[string]map[string]any{}
	for _, e := range b.Entry {
		checkAuditEvent(t, e.Resource)
		for _, s := range e.Resource["subtype"].([]any) {
			if s.(map[string]any)["system"] == report.SysHubCode {
				byCode[s.(map[string]any)["code"].(string)] = e.Resource
			}
		}
	}
	read := byCode[audit.CodeRecordRead]
	if read["action"] != "R" || read["outcome"] != "0" || read["type"].(map[string]any)["code"] != "rest" {
		t.Errorf("read = %v", read)
	}
	ents := read["entity"].([]any)
	if ents[0].(map[string]any)["what"].(map[string]any)["reference"] != "Patient/"+f.patient ||
		ents[1].(map[string]any)["what"].(map[string]any)["reference"] != "Observation/R1" {
		t.Errorf("read entities = %v", ents)
	}
	agent := read["agent"].([]any)[0].(map[string]any)
	if agent["purposeOfUse"].([]any)[0].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "TREAT" ||
		agent["role"] == nil {
		t.Errorf("read agent = %v", agent)
	}
	if byCode[audit.CodeRecordReadDeny]["outcome"] != "4" || byCode[audit.CodeReadFailed]["outcome"] != "8" {
		t.Error("denied → 4, failed → 8")
	}
	if byCode[audit.CodeRecordWrite]["action"] != "C" || byCode[audit.CodeConsentChange]["action"] != "U" ||
		byCode[audit.CodeAuditQuery]["action"] != "E" || byCode[audit.CodeRouted]["type"].(map[string]any)["code"] != "110106" {
		t.Error("action or type codes wrong")
	}
	var query string
	for _, e := range byCode[audit.CodeAuditQuery]["entity"].([]any) {
		if q, ok := e.(map[string]any)["query"].(string); ok {
			raw, _ := base64.StdEncoding.DecodeString(q)
			query = string(raw)
		}
	}
	if query != "audit query patient="+f.patient {
		t.Errorf("query entity = %q", query)
	}

	nd := export(t, f, report.FormatFHIRNDJSON, audit.Filter{})
	lines := strings.Split(strings.TrimSpace(string(nd)), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("fhir-ndjson: %d lines", len(lines))
	}
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		checkAuditEvent(t, r)
	}

	empty := export(t, f, report.FormatFHIR, audit.Filter{PatientID: "P-NOBODY"})
	if err := json.Unmarshal(empty, &b); err != nil || len(b.Entry) != 0 {
		t.Errorf("empty bundle = %s, %v", empty, err)
	}
}

// countingQuerier counts queries, to show Each reads page by page.
type countingQuerier struct {
	audit.Querier
	calls int
}

func (c *countingQuerier) Query(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	c.calls++
	if f.Limit > report.PageSize {
		return nil, fmt.Errorf("page of %d", f.Limit)
	}
	return c.Querier.Query(ctx, f)
}

func TestExportStreamsPages(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 2.1 pages of events")
	}
	f := newFixture(t)
	n := 2*report.PageSize + 100
	evs := make([]audit.Event, n)
	for i := range evs {
		evs[i] = f.ev(time.Duration(n-i)*time.Second, audit.CodeRecordRead, audit.OutcomeAllow, "dr.ames", "", "TREAT", "Observation", fmt.Sprint("R", i))
	}
	f.append(t, evs...)
	q := &countingQuerier{Querier: f.st}
	var buf bytes.Buffer
	enc, _ := report.NewEncoder(report.FormatNDJSON, &buf, report.Observer{})
	got, err := report.Export(context.Background(), q, audit.Filter{}, enc)
	if err != nil || got != n {
		t.Fatalf("Export = %d, %v; want %d", got, err, n)
	}
	if q.calls != 3 {
		t.Errorf("%d queries, want 3 pages", q.calls)
	}
	if lines := bytes.Count(buf.Bytes(), []byte("\n")); lines != n {
		t.Errorf("%d lines, want %d", lines, n)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"csv", "ndjson", "fhir", "fhir-ndjson"} {
		if _, err := report.ParseFormat(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := report.ParseFormat("xlsx"); err == nil || !strings.Contains(err.Error(), "valid: csv, ndjson, fhir, fhir-ndjson") {
		t.Errorf("ParseFormat(xlsx) = %v", err)
	}
}
