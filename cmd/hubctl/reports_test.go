package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/report"
	"github.com/carecrest/hub/server"
	"github.com/carecrest/hub/store/sqlite"
)

type tokens map[string]query.Identity

func (a tokens) Authenticate(tok string) (query.Identity, error) {
	if id, ok := a[tok]; ok {
		return id, nil
	}
	return query.Identity{}, query.ErrUnauthenticated
}

// reportsServer serves the reports API over a real SQLite store holding n
// reads of patient P1 (one in ten routed to a research registry) and two
// break-glass reads.
func reportsServer(t *testing.T, n int) string {
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
	now := time.Now().UTC()
	var evs []audit.Event
	for i := range n {
		e := audit.Event{Time: now.Add(-time.Duration(n-i) * time.Second), Code: audit.CodeRecordRead, Action: "read", Outcome: "allow",
			ActorID: "dr.ames", Purpose: "TREAT", PatientID: "P1", RecordType: "Observation", RecordIDs: []string{fmt.Sprint("R", i)}}
		if i%10 == 0 {
			e.Code, e.Action, e.ActorID, e.ActorOrg, e.Purpose = audit.CodeRouted, "route", "research", "university", "HRESCH"
		}
		evs = append(evs, e)
	}
	for _, ago := range []time.Duration{time.Hour, 59 * time.Minute} {
		evs = append(evs, audit.Event{Time: now.Add(-ago), Code: audit.CodeBreakGlass, Action: "read", Outcome: "allow",
			ActorID: "dr.ames", Purpose: "ETREAT", PatientID: "P1", RecordType: "Patient", RecordIDs: []string{"RP"}, Reason: "ED"})
	}
	if err := st.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	pd, _ := report.LoadPolicyData(nil)
	cfg := report.Config{}
	cfg.Defaults()
	r := &query.Reader{Records: st, Consents: st, Decider: eng, Audit: st, Querier: st}
	rp := &query.Reports{Reader: r, Processing: report.ProcessingInputs{Config: cfg, Policy: pd}, Observer: report.Observer{Instance: "hub-0"}}
	schema, err := query.Schema(r, rp.Extension())
	if err != nil {
		t.Fatal(err)
	}
	auth := tokens{
		"po": {Subject: "po.ines", Kind: "user", Roles: []string{"privacy_officer"}, Purposes: []string{"HOPERAT"}},
		"rn": {Subject: "rn.dale", Kind: "user", Roles: []string{"nurse"}, Purposes: []string{"TREAT"}},
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &query.Handler{Schema: schema, Auth: auth})
	server.MountReports(mux, rp, auth)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/graphql"
}

// capture runs hubctl with args and returns its exit code and stdout.
func capture(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	code := run(context.Background(), args)
	w.Close()
	os.Stdout = stdout
	return code, <-done
}

func TestReportCommands(t *testing.T) {
	url := reportsServer(t, 2500)

	// audit query follows cursors across pages of 1000
	code, out := capture(t, "audit", "query", "--url", url, "--token", "po", "--patient", "P1", "--codes", "CC2000I,CC5000I", "--all", "--format", "ndjson")
	if code != 0 || strings.Count(out, "\n") != 2500 {
		t.Fatalf("audit query --all: exit %d, %d lines", code, strings.Count(out, "\n"))
	}
	code, out = capture(t, "audit", "query", "--url", url, "--token", "po", "--break-glass", "--format", "json")
	var evs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil || len(evs) != 2 {
		t.Fatalf("audit query --break-glass: exit %d: %s", code, out)
	}

	// audit export streams every event to a file, owner-only
	file := filepath.Join(t.TempDir(), "audit.csv")
	if code, _ := capture(t, "audit", "export", "--url", url, "--token", "po", "--patient", "P1", "--codes", "CC2000I", "--format", "csv", "--out", file); code != 0 {
		t.Fatalf("audit export: exit %d", code)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 2251 || rows[0][0] != "id" {
		t.Fatalf("export: %d rows, %v", len(rows), err)
	}
	if st, _ := f.Stat(); st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v", st.Mode().Perm())
	}
	if code, _ := capture(t, "audit", "export", "--url", url, "--token", "rn", "--format", "csv"); code != 1 {
		t.Errorf("nurse export: exit %d, want 1", code)
	}

	// reports, as text and JSON
	code, out = capture(t, "report", "accounting", "--url", url, "--token", "po", "--patient", "P1")
	if code != 0 || !strings.Contains(out, "250 disclosure(s)") {
		t.Fatalf("report accounting: exit %d\n%.300s", code, out)
	}
	code, out = capture(t, "report", "access", "--url", url, "--token", "po", "--patient", "P1", "--format", "json")
	var acc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &acc) != nil || acc["breakGlass"] != float64(2) {
		t.Fatalf("report access: exit %d\n%.300s", code, out)
	}
	for _, args := range [][]string{{"report", "gdpr", "--patient", "P1"}, {"report", "processing"}} {
		code, out = capture(t, append(args, "--url", url, "--token", "po")...)
		if code != 0 || !strings.Contains(out, "GDPR Article") {
			t.Errorf("%v: exit %d\n%.300s", args, code, out)
		}
	}
	if code, _ := capture(t, "report", "accounting", "--url", url, "--token", "po"); code != 2 {
		t.Errorf("report without a patient: exit %d, want 2", code)
	}

	// break-glass queue and review
	code, out = capture(t, "audit", "breakglass", "--url", url, "--token", "po", "--format", "json")
	var sessions []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &sessions) != nil || len(sessions) != 1 {
		t.Fatalf("audit breakglass: exit %d: %s", code, out)
	}
	id := sessions[0]["id"].(string)
	if code, _ := capture(t, "audit", "review", "--url", url, "--token", "po", "--session", id, "--finding", "justified", "--category", "free text"); code != 2 {
		t.Errorf("review with a free-text category: exit %d, want 2", code)
	}
	code, out = capture(t, "audit", "review", "--url", url, "--token", "po", "--session", id, "--finding", "justified", "--category", "emergency-treatment")
	if code != 0 || !strings.Contains(out, "recorded: session "+id) {
		t.Fatalf("audit review: exit %d: %s", code, out)
	}
	code, out = capture(t, "audit", "breakglass", "--url", url, "--token", "po", "--format", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("queue after review: %s", out)
	}
}
