package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/report"
)

// tokenFrom returns the bearer token of --token, --token-file or
// $CARECREST_TOKEN.
func tokenFrom(tok, file string) (string, error) {
	if tok == "" && file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		tok = os.Getenv("CARECREST_TOKEN")
	}
	if tok == "" {
		return "", errors.New("a token is required (--token, --token-file or $CARECREST_TOKEN)")
	}
	return tok, nil
}

// auditFilter holds the AuditFilter flags shared by audit query and export.
type auditFilter struct {
	patient, identifier, actor, action, outcome, codes, purpose, recordType, application, from, to *string
	breakGlass, denied                                                                             *bool
}

func filterFlags(fs *flag.FlagSet) *auditFilter {
	return &auditFilter{
		patient:     fs.String("patient", "", "enterprise patient id (P...)"),
		identifier:  fs.String("identifier", "", "patient identifier as system|value (e.g. an MRN)"),
		actor:       fs.String("actor", "", "actor (user, application or source system)"),
		action:      fs.String("action", "", "read, write, route, reject, consent, audit.query, ..."),
		outcome:     fs.String("outcome", "", "allow, deny or error"),
		codes:       fs.String("codes", "", "event codes, comma-separated (CC2000I read, CC2002W break-glass, CC5000I routed, ...)"),
		purpose:     fs.String("purpose", "", "purpose of use of the events (TREAT, HPAYMT, ...)"),
		recordType:  fs.String("record-type", "", "record type (Observation, Patient, ...)"),
		application: fs.String("application", "", "client application or topic"),
		from:        fs.String("from", "", "RFC 3339 start (inclusive)"),
		to:          fs.String("to", "", "RFC 3339 end (exclusive)"),
		breakGlass:  fs.Bool("break-glass", false, "only break-the-glass reads"),
		denied:      fs.Bool("denied", false, "only denials"),
	}
}

// vars is the GraphQL AuditFilter.
func (f *auditFilter) vars() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]*string{
		"patient": f.patient, "identifier": f.identifier, "actor": f.actor, "action": f.action, "outcome": f.outcome,
		"purpose": f.purpose, "recordType": f.recordType, "application": f.application, "from": f.from, "to": f.to,
	} {
		if *v != "" {
			m[k] = *v
		}
	}
	if codes := splitList(*f.codes); len(codes) > 0 {
		m["codes"] = codes
	}
	if *f.breakGlass {
		m["breakGlass"] = true
	}
	if *f.denied {
		m["denied"] = true
	}
	return m
}

// params is the filter as /audit/export query parameters.
func (f *auditFilter) params() neturl.Values {
	q := neturl.Values{}
	for k, v := range f.vars() {
		switch x := v.(type) {
		case string:
			q.Set(k, x)
		case []string:
			q.Set(k, strings.Join(x, ","))
		case bool:
			q.Set(k, "true")
		}
	}
	return q
}

// exportURL is the export endpoint beside the GraphQL endpoint.
func exportURL(graphqlURL string) (string, error) {
	u, err := neturl.Parse(graphqlURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("--url %q is not an http(s) URL", graphqlURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/graphql") + "/audit/export"
	u.RawQuery = ""
	return u.String(), nil
}

func auditExport(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit export", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint (the export is served beside it at /audit/export)")
	tok := fs.String("token", "", "bearer token (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	format := fs.String("format", "csv", "csv, ndjson, fhir (Bundle of AuditEvent) or fhir-ndjson")
	out := fs.String("out", "", "write to this file (default stdout)")
	filter := filterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, err error) int { fmt.Fprintf(os.Stderr, "hubctl audit export: %v\n", err); return code }
	t, err := tokenFrom(*tok, *tokFile)
	if err != nil {
		return fail(2, err)
	}
	if _, err := report.ParseFormat(*format); err != nil {
		return fail(2, err)
	}
	base, err := exportURL(*url)
	if err != nil {
		return fail(2, err)
	}
	q := filter.params()
	q.Set("format", *format)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), nil)
	if err != nil {
		return fail(2, err)
	}
	req.Header.Set("Authorization", "Bearer "+t)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(1, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fail(1, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b))))
	}
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // audit data: owner only
		if err != nil {
			return fail(1, err)
		}
		defer f.Close()
		w = f
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		// The hub aborts the response when an export fails midway.
		return fail(1, fmt.Errorf("export incomplete after %d bytes: %v", n, err))
	}
	if *out != "" {
		fmt.Fprintf(os.Stderr, "wrote %d bytes to %s\n", n, *out)
	}
	return 0
}

// gqlRun posts a GraphQL request and returns the data of field, or prints
// the errors.
func gqlRun(ctx context.Context, name, url, tok, q string, vars map[string]any, field string) (map[string]any, any, int) {
	res, err := query.Post(ctx, url, tok, q, vars)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", name, err)
		return nil, nil, 1
	}
	if errs, ok := res["errors"].([]any); ok && len(errs) > 0 {
		b, _ := json.Marshal(errs)
		fmt.Fprintf(os.Stderr, "hubctl %s: %s\n", name, b)
		return nil, nil, 1
	}
	data, _ := res["data"].(map[string]any)
	return data, data[field], 0
}

const (
	accountingReportGQL = `query($patient: ID, $identifier: String, $from: String, $to: String) {
  accountingOfDisclosures(patient: $patient, identifier: $identifier, from: $from, to: $to) {
    patient window { from to capped } generated
    disclosures { eventId date recipient { id org application roles } description recordType recordIds elements purpose purposeDisplay code }
    excluded { reason count } text
  }
}`
	accessReportGQL = `query($patient: ID, $identifier: String, $from: String, $to: String) {
  accessReport(patient: $patient, identifier: $identifier, from: $from, to: $to) {
    patient window { from to } generated uses disclosures denials breakGlass failures
    entries { eventId time code kind outcome denied breakGlass actor roles org application purpose recordType recordIds disclosed masked reason }
    text
  }
}`
	gdprReportGQL = `query($patient: ID, $identifier: String) {
  gdprSubjectAccess(patient: $patient, identifier: $identifier) {
    patient controller generated purposes { code display accesses } categories { class recordTypes }
    recipients { name kind org purposes } retention { records audit } sources automatedDecisionMaking text
  }
}`
	processingReportGQL = `{
  recordOfProcessing {
    controller generated purposes { code display breakGlass roles recipients } dataSubjects
    dataCategories { class recordTypes } sources { name recordTypes }
    recipients { name kind org purpose recordTypes external } roles { name kinds purposes breakGlass governance }
    transfers retention { records audit } security text
  }
}`
)

// reportCmd runs one of the compliance reports over GraphQL.
func reportCmd(kind string) func(ctx context.Context, args []string) int {
	reports := map[string]struct{ gql, field string }{
		"accounting": {accountingReportGQL, "accountingOfDisclosures"},
		"access":     {accessReportGQL, "accessReport"},
		"gdpr":       {gdprReportGQL, "gdprSubjectAccess"},
		"processing": {processingReportGQL, "recordOfProcessing"},
	}
	gql, field := reports[kind].gql, reports[kind].field
	return func(ctx context.Context, args []string) int {
		name := "report " + kind
		fs := flag.NewFlagSet("hubctl "+name, flag.ContinueOnError)
		url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
		tok := fs.String("token", "", "bearer token of a privacy officer (or --token-file, or $CARECREST_TOKEN)")
		tokFile := fs.String("token-file", "", "file holding the bearer token")
		format := fs.String("format", "text", "text or json")
		var patient, identifier, from, to *string
		if kind != "processing" {
			patient = fs.String("patient", "", "enterprise patient id (P...)")
			identifier = fs.String("identifier", "", "patient identifier as system|value")
		}
		if kind == "accounting" || kind == "access" {
			from = fs.String("from", "", "RFC 3339 start (default: six years back)")
			to = fs.String("to", "", "RFC 3339 end (default: now)")
		}
		if err := fs.Parse(args); err != nil {
			return 2
		}
		t, err := tokenFrom(*tok, *tokFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", name, err)
			return 2
		}
		vars := map[string]any{}
		for k, v := range map[string]*string{"patient": patient, "identifier": identifier, "from": from, "to": to} {
			if v != nil && *v != "" {
				vars[k] = *v
			}
		}
		if kind != "processing" && vars["patient"] == nil && vars["identifier"] == nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: --patient or --identifier is required\n", name)
			return 2
		}
		_, rep, code := gqlRun(ctx, name, *url, t, gql, vars, field)
		if code != 0 {
			return code
		}
		return printReport(rep, *format)
	}
}

func printReport(rep any, format string) int {
	m, _ := rep.(map[string]any)
	if format == "json" {
		delete(m, "text")
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(m)
		return 0
	}
	fmt.Print(m["text"])
	return 0
}

const breakGlassQueueGQL = `query($from: String, $to: String) {
  breakGlassQueue(from: $from, to: $to) { id actor roles org application patient start end eventIds recordTypes records reasons }
}`

func auditBreakGlass(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit breakglass", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
	tok := fs.String("token", "", "bearer token of a privacy officer (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	from := fs.String("from", "", "RFC 3339 start (default: one year back)")
	to := fs.String("to", "", "RFC 3339 end")
	format := fs.String("format", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	t, err := tokenFrom(*tok, *tokFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl audit breakglass: %v\n", err)
		return 2
	}
	vars := map[string]any{}
	if *from != "" {
		vars["from"] = *from
	}
	if *to != "" {
		vars["to"] = *to
	}
	_, q, code := gqlRun(ctx, "audit breakglass", *url, t, breakGlassQueueGQL, vars, "breakGlassQueue")
	if code != 0 {
		return code
	}
	sessions, _ := q.([]any)
	if *format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sessions)
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tACTOR\tROLES\tPATIENT\tSTART\tEND\tEVENTS\tTYPES\tREASONS")
	for _, s := range sessions {
		m, _ := s.(map[string]any)
		ev, _ := m["eventIds"].([]any)
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%d\t%v\t%v\n", m["id"], m["actor"], m["roles"], m["patient"], m["start"], m["end"],
			len(ev), m["recordTypes"], m["reasons"])
	}
	_ = tw.Flush()
	fmt.Fprintf(os.Stderr, "%d session(s) awaiting review; record a finding with: hubctl audit review --session ID --finding justified|unjustified --category C\n", len(sessions))
	return 0
}

const reviewBreakGlassGQL = `mutation($session: ID!, $finding: String!, $category: String!) {
  reviewBreakGlass(session: $session, finding: $finding, category: $category) { session finding category reviewer patient actor eventIds recorded }
}`

func auditReview(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit review", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
	tok := fs.String("token", "", "bearer token of a privacy officer (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	session := fs.String("session", "", "session id (from hubctl audit breakglass)")
	finding := fs.String("finding", "", "justified or unjustified")
	category := fs.String("category", "", "justified: "+strings.Join(report.Categories[report.Justified], ", ")+
		"; unjustified: "+strings.Join(report.Categories[report.Unjustified], ", "))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := (report.Finding{Finding: *finding, Category: *category}).Validate(); err != nil || *session == "" {
		if err == nil {
			err = errors.New("--session is required")
		}
		fmt.Fprintf(os.Stderr, "hubctl audit review: %v\n", err)
		return 2
	}
	t, err := tokenFrom(*tok, *tokFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl audit review: %v\n", err)
		return 2
	}
	_, rv, code := gqlRun(ctx, "audit review", *url, t, reviewBreakGlassGQL,
		map[string]any{"session": *session, "finding": *finding, "category": *category}, "reviewBreakGlass")
	if code != 0 {
		return code
	}
	m, _ := rv.(map[string]any)
	ev, _ := m["eventIds"].([]any)
	fmt.Printf("recorded: session %v (%v, patient %v, %d event(s)) %v / %v by %v at %v\n", m["session"], m["actor"], m["patient"],
		len(ev), m["finding"], m["category"], m["reviewer"], m["recorded"])
	return 0
}
