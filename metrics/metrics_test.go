package metrics

import (
	"github.com/carecrest/hub/fhir"

	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// value returns the value of the series name{labels...} gathered from g: a
// counter's or gauge's value, a histogram's sample count. labels are
// name, value pairs and must match the series' labels exactly. It fails
// the test if there is no such series.
//
// (prometheus/testutil would do, but it needs a module that is not in
// go.sum; this is the little of it these tests use.)
func value(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// series counts the series of a metric.
func series(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestIngest(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	m.IngestMessages("lis", ResultStored, 3)
	m.IngestMessages("lis", ResultStored, 2)
	m.IngestMessages("lis", ResultDuplicate, 1)
	m.IngestMessages("ehr", ResultRejected, 1)
	m.IngestMessages("ehr", ResultRejected, 0) // nothing
	m.RecordsStored("Observation", 7)
	m.RecordsStored("Patient", 1)
	m.ObserveBatch(6, 40*time.Millisecond)
	m.ObserveBatch(1, 2*time.Second)
	m.BatchFailed(CauseStore)
	m.BatchFailed(CauseKeys)
	m.BatchFailed(CauseKeys)
	m.DeadLetter("CC1002W")
	m.DeadLetter("CC1001W")
	m.DeadLetter("CC1002W")

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"carecrest_hub_ingest_messages_total", []string{"source", "lis", "result", "stored"}, 5},
		{"carecrest_hub_ingest_messages_total", []string{"source", "lis", "result", "duplicate"}, 1},
		{"carecrest_hub_ingest_messages_total", []string{"source", "ehr", "result", "rejected"}, 1},
		{"carecrest_hub_ingest_records_stored_total", []string{"type", "Observation"}, 7},
		{"carecrest_hub_ingest_records_stored_total", []string{"type", "Patient"}, 1},
		{"carecrest_hub_ingest_batch_size_messages", nil, 2},
		{"carecrest_hub_ingest_batch_duration_seconds", nil, 2},
		{"carecrest_hub_ingest_batches_failed_total", []string{"cause", "store"}, 1},
		{"carecrest_hub_ingest_batches_failed_total", []string{"cause", "keys"}, 2},
		{"carecrest_hub_ingest_dead_letters_total", []string{"reason_code", "CC1002W"}, 2},
		{"carecrest_hub_ingest_dead_letters_total", []string{"reason_code", "CC1001W"}, 1},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestObserveReaderStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	// A consumer-group reader: kafka-go reports no topic and partition -1.
	m.ObserveReaderStats(kafka.ReaderStats{Partition: "-1", Lag: 42, QueueLength: 7, Errors: 2, Rebalances: 1})
	// kafka-go resets its counters at each snapshot, so the next one holds
	// only what happened since.
	m.ObserveReaderStats(kafka.ReaderStats{Partition: "-1", Lag: 10, QueueLength: 3, Errors: 3, Timeouts: 4})
	// A partition reader.
	m.ObserveReaderStats(kafka.ReaderStats{Topic: "hub.in.lis", Partition: "2", Lag: 5})

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"carecrest_hub_ingest_consumer_lag_messages", []string{"topic", "all", "partition", "-1"}, 10},
		{"carecrest_hub_ingest_consumer_lag_messages", []string{"topic", "hub.in.lis", "partition", "2"}, 5},
		{"carecrest_hub_ingest_reader_queue_messages", nil, 0},
		{"carecrest_hub_ingest_reader_errors_total", nil, 5},
		{"carecrest_hub_ingest_reader_rebalances_total", nil, 1},
		{"carecrest_hub_ingest_reader_timeouts_total", nil, 4},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	m.SetConsumerLag("hub.in.ehr", 0, 3)
	m.SetConsumerLag("hub.in.ehr", 0, -1) // not yet known: never negative
	if got := value(t, reg, "carecrest_hub_ingest_consumer_lag_messages", "topic", "hub.in.ehr", "partition", "0"); got != 0 {
		t.Errorf("lag = %v, want 0", got)
	}
}

func TestPolicyAuditQuery(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	m.ObservePolicyDecision("read", true, nil, time.Millisecond)
	m.ObservePolicyDecision("read", false, nil, time.Millisecond)
	m.ObservePolicyDecision("read", false, nil, time.Millisecond)
	m.ObservePolicyDecision("write", true, errors.New("boom"), time.Millisecond)
	m.ObserveAuditAppend(3*time.Millisecond, nil)
	m.ObserveAuditAppend(5*time.Second, errors.New("disk full"))
	m.AuditEvent("CC2000I")
	m.AuditEvent("CC2000I")
	m.AuditEvent("CC2002W")
	m.ObserveGraphQL("patient", CodeOK, 20*time.Millisecond)
	m.ObserveGraphQL("patient", "FORBIDDEN", 5*time.Millisecond)
	m.ObserveGraphQL("auditEvents", "UNAVAILABLE", 5*time.Millisecond)
	m.Redacted("Patient", 2)
	m.Redacted("Observation", 0) // nothing

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"carecrest_hub_policy_decisions_total", []string{"action", "read", "result", "allow"}, 1},
		{"carecrest_hub_policy_decisions_total", []string{"action", "read", "result", "deny"}, 2},
		{"carecrest_hub_policy_decisions_total", []string{"action", "write", "result", "error"}, 1},
		{"carecrest_hub_policy_decision_duration_seconds", []string{"action", "read"}, 3},
		{"carecrest_hub_audit_append_duration_seconds", nil, 2},
		{"carecrest_hub_audit_append_failures_total", nil, 1},
		{"carecrest_hub_audit_events_total", []string{"code", "CC2000I"}, 2},
		{"carecrest_hub_audit_events_total", []string{"code", "CC2002W"}, 1},
		{"carecrest_hub_query_graphql_requests_total", []string{"operation", "patient", "code", "OK"}, 1},
		{"carecrest_hub_query_graphql_requests_total", []string{"operation", "patient", "code", "FORBIDDEN"}, 1},
		{"carecrest_hub_query_graphql_requests_total", []string{"operation", "auditEvents", "code", "UNAVAILABLE"}, 1},
		{"carecrest_hub_query_graphql_request_duration_seconds", []string{"operation", "patient"}, 2},
		{"carecrest_hub_query_redactions_total", []string{"type", "Patient"}, 2},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := series(t, reg, "carecrest_hub_query_redactions_total"); n != 1 {
		t.Errorf("redactions has %d series, want 1 (zero counts add none)", n)
	}
}

// fakeManager is a keys.Rotator whose calls fail with err.
type fakeManager struct{ err error }

func (f fakeManager) GenerateDataKey(context.Context, string) ([]byte, []byte, error) {
	return make([]byte, 32), []byte("wrapped"), f.err
}
func (f fakeManager) UnwrapDataKey(context.Context, string, []byte) ([]byte, error) {
	return make([]byte, 32), f.err
}
func (f fakeManager) Rotate(context.Context) error { return f.err }
func (f fakeManager) Rewrap(context.Context, string, []byte) ([]byte, error) {
	return []byte("rewrapped"), f.err
}

// managerOnly hides Rotate and Rewrap.
type managerOnly struct{ keys.Manager }

func TestKeys(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	ctx := context.Background()

	m.KeyCacheHit()
	m.KeyCacheHit()
	m.KeyCacheMiss()

	ok := m.InstrumentKeyManager(fakeManager{})
	if _, isRotator := ok.(keys.Rotator); !isRotator {
		t.Fatal("instrumenting a Rotator lost Rotate and Rewrap")
	}
	if _, isRotator := m.InstrumentKeyManager(managerOnly{fakeManager{}}).(keys.Rotator); isRotator {
		t.Fatal("instrumenting a plain Manager made a Rotator")
	}
	ok.GenerateDataKey(ctx, "P1")
	ok.UnwrapDataKey(ctx, "P1", nil)
	ok.UnwrapDataKey(ctx, "P1", nil)
	ok.(keys.Rotator).Rotate(ctx)
	ok.(keys.Rotator).Rewrap(ctx, "P1", nil)

	for err, want := range map[error]string{
		fmt.Errorf("vault: %w", keys.ErrUnavailable): KeyResultUnavailable,
		context.DeadlineExceeded:                     KeyResultUnavailable,
		fmt.Errorf("vault: %w", keys.ErrDenied):      KeyResultDenied,
		keys.ErrInvalid:                              KeyResultInvalid,
		context.Canceled:                             KeyResultCanceled,
		errors.New("something else"):                 KeyResultError,
	} {
		m.InstrumentKeyManager(fakeManager{err: err}).UnwrapDataKey(ctx, "P1", nil)
		if got := value(t, reg, "carecrest_hub_keys_manager_calls_total", "operation", "unwrap", "result", want); got < 1 {
			t.Errorf("error %v: no call counted with result %s", err, want)
		}
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"carecrest_hub_keys_cache_hits_total", nil, 2},
		{"carecrest_hub_keys_cache_misses_total", nil, 1},
		{"carecrest_hub_keys_manager_calls_total", []string{"operation", "generate", "result", "ok"}, 1},
		{"carecrest_hub_keys_manager_calls_total", []string{"operation", "unwrap", "result", "ok"}, 2},
		{"carecrest_hub_keys_manager_calls_total", []string{"operation", "rotate", "result", "ok"}, 1},
		{"carecrest_hub_keys_manager_calls_total", []string{"operation", "rewrap", "result", "ok"}, 1},
		{"carecrest_hub_keys_manager_call_duration_seconds", []string{"operation", "unwrap"}, 8},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestLabelsAreClosed feeds every method values from outside its label's
// closed set (PHI-like strings among them) and checks that each lands as
// "other", then that every label value exported at all comes from the
// closed sets or matches its pattern, and that none of the inputs leaked.
func TestLabelsAreClosed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)

	hostile := []string{
		"P01JABCDEF0123456789", // an enterprise patient id
		"urn:oid:2.16.840.1.113883.19.5|MRN100001",
		"DOE^JANE^Q", "dr.lee", "jane.doe@example.org", "1970-01-01",
		"Patient; DROP TABLE", "", strings.Repeat("a", 100), "lis\n", "LIS", "other ",
	}
	for _, v := range hostile {
		m.IngestMessages(v, ResultStored, 1)
		m.IngestMessages("lis", v, 1)
		m.RecordsStored(v, 1)
		m.BatchFailed(v)
		m.DeadLetter(v)
		m.SetConsumerLag(v, 0, 1)
		m.ObservePolicyDecision(v, true, nil, 0)
		m.AuditEvent(v)
		m.ObserveKeyManagerCall(v, 0, nil)
		m.ObserveGraphQL(v, CodeOK, 0)
		m.ObserveGraphQL("patient", v, 0)
		m.Redacted(v, 1)
		m.MLLPConnection(v, "opened")
		m.MLLPConnection("lis", v)
		m.MLLPMessage(v, "AA", 0)
		m.MLLPMessage("lis", v, 0)
		m.MLLPFrameError(v, "timeout")
		m.MLLPFrameError("lis", v)
		m.ObserveHTTPIngest(v, 202, 0)
	}

	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"carecrest_hub_ingest_messages_total", []string{"source", "other", "result", "stored"}},
		{"carecrest_hub_ingest_messages_total", []string{"source", "lis", "result", "other"}},
		{"carecrest_hub_ingest_records_stored_total", []string{"type", "other"}},
		{"carecrest_hub_ingest_batches_failed_total", []string{"cause", "other"}},
		{"carecrest_hub_ingest_dead_letters_total", []string{"reason_code", "other"}},
		{"carecrest_hub_policy_decisions_total", []string{"action", "other", "result", "allow"}},
		{"carecrest_hub_audit_events_total", []string{"code", "other"}},
		{"carecrest_hub_keys_manager_calls_total", []string{"operation", "other", "result", "ok"}},
		{"carecrest_hub_query_graphql_requests_total", []string{"operation", "other", "code", "OK"}},
		{"carecrest_hub_query_graphql_requests_total", []string{"operation", "patient", "code", "other"}},
		{"carecrest_hub_query_redactions_total", []string{"type", "other"}},
		{"carecrest_hub_mllp_connections_total", []string{"source", "other", "event", "opened"}},
		{"carecrest_hub_mllp_connections_total", []string{"source", "lis", "event", "other"}},
		{"carecrest_hub_mllp_messages_total", []string{"source", "other", "ack", "AA"}},
		{"carecrest_hub_mllp_messages_total", []string{"source", "lis", "ack", "other"}},
		{"carecrest_hub_mllp_frame_errors_total", []string{"source", "other", "kind", "timeout"}},
		{"carecrest_hub_mllp_frame_errors_total", []string{"source", "lis", "kind", "other"}},
		{"carecrest_hub_http_ingest_requests_total", []string{"route", "other", "class", "2xx"}},
	} {
		if got := value(t, reg, c.name, c.labels...); got != float64(len(hostile)) {
			t.Errorf("%s%v = %v, want %d: every unknown value should count as other", c.name, c.labels, got, len(hostile))
		}
	}

	// Patterns: what a source may look like.
	for _, s := range []string{"ehr", "lis", "ris", "pharmacy", "registration", "scheduling", "billing", "telemedicine", "hie", "lab-2", "st_marys_hie"} {
		if got := m.sourceLabel(s); got != s {
			t.Errorf("source %q labelled %q", s, got)
		}
	}

	checkExportedLabels(t, reg)
	body := scrape(t, reg)
	for _, v := range hostile {
		if v != "" && strings.Contains(body, v) {
			t.Errorf("exposition contains input %q", v)
		}
	}
}

// checkExportedLabels checks every label value of every hub metric in g
// against the label's closed set or pattern.
func checkExportedLabels(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	union := func(sets ...map[string]bool) map[string]bool {
		u := map[string]bool{Other: true}
		for _, s := range sets {
			for k := range s {
				u[k] = true
			}
		}
		return u
	}
	allowed := map[string]func(string) bool{
		"source":    func(v string) bool { return v == Other || sourcePattern.MatchString(v) },
		"topic":     func(v string) bool { return v == Other || topicPattern.MatchString(v) },
		"partition": func(v string) bool { _, err := strconv.Atoi(v); return v == Other || err == nil },
		"result": func(v string) bool {
			return union(ingestResults, set(DecisionAllow, DecisionDeny, DecisionError), keyResults)[v]
		},
		"type":        func(v string) bool { return v == Other || fhir.IsResourceType(v) },
		"cause":       func(v string) bool { return union(batchCauses)[v] },
		"reason_code": func(v string) bool { return union(eventCodes)[v] },
		"code":        func(v string) bool { return union(eventCodes, graphqlCodes)[v] },
		"action":      func(v string) bool { return union(policyActions)[v] },
		"operation":   func(v string) bool { return union(keyOps, graphqlOperations)[v] },
		"event":       func(v string) bool { return union(mllpConnEvents)[v] },
		"ack":         func(v string) bool { return union(mllpAcks)[v] },
		"kind":        func(v string) bool { return union(mllpFrameErrors)[v] },
		"route":       func(v string) bool { return union(httpRoutes)[v] },
		"class":       func(v string) bool { return v == Other || (len(v) == 3 && v[0] >= '1' && v[0] <= '5' && v[1:] == "xx") },
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), Namespace+"_") {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				ok, known := allowed[lp.GetName()]
				if !known {
					t.Errorf("%s: label %q has no closed set in this test", mf.GetName(), lp.GetName())
					continue
				}
				if !ok(lp.GetValue()) {
					t.Errorf("%s: label %s=%q is outside its closed set", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

var keyResults = set(KeyResultOK, KeyResultUnavailable, KeyResultDenied, KeyResultInvalid, KeyResultCanceled, KeyResultError)

func TestSourceCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	for i := range 2 * maxSources {
		m.IngestMessages(fmt.Sprintf("sys%d", i), ResultStored, 1)
	}
	if n := series(t, reg, "carecrest_hub_ingest_messages_total"); n != maxSources+1 {
		t.Errorf("%d series, want %d sources + other", n, maxSources)
	}
	if got := value(t, reg, "carecrest_hub_ingest_messages_total", "source", "other", "result", "stored"); got != maxSources {
		t.Errorf("other = %v, want %d", got, maxSources)
	}
	// Sources seen before the cap keep their label.
	m.IngestMessages("sys0", ResultStored, 1)
	if got := value(t, reg, "carecrest_hub_ingest_messages_total", "source", "sys0", "result", "stored"); got != 2 {
		t.Errorf("sys0 = %v, want 2", got)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.IngestMessages("lis", ResultStored, 1)
	m.RecordsStored("Patient", 1)
	m.ObserveBatch(1, time.Second)
	m.BatchFailed(CauseStore)
	m.DeadLetter("CC1002W")
	m.ObserveReaderStats(kafka.ReaderStats{})
	m.SetConsumerLag("t", 0, 1)
	m.ObservePolicyDecision("read", true, nil, 0)
	m.ObserveAuditAppend(0, nil)
	m.AuditEvent("CC2000I")
	m.KeyCacheHit()
	m.KeyCacheMiss()
	m.ObserveKeyManagerCall(KeyOpUnwrap, 0, nil)
	m.ObserveGraphQL("patient", CodeOK, 0)
	m.Redacted("Patient", 1)
	m.MLLPConnection("lis", "opened")
	m.MLLPMessage("lis", "AA", time.Millisecond)
	m.MLLPFrameError("lis", "timeout")
	m.ObserveHTTPIngest("dicom", 202, time.Millisecond)
	mgr := fakeManager{}
	if got := m.InstrumentKeyManager(mgr); got != keys.Manager(mgr) {
		t.Error("a nil *Metrics should return the manager unchanged")
	}
}

func TestNewNilRegistry(t *testing.T) {
	m := New(nil) // registers nothing; still usable
	m.IngestMessages("lis", ResultStored, 1)
}

func TestNewTwicePanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering the hub's collectors twice should panic")
		}
	}()
	New(reg)
}

func scrape(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	srv := httptest.NewServer(Handler(g))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	m.IngestMessages("lis", ResultStored, 1)
	body := scrape(t, reg)
	for _, want := range []string{
		"# HELP carecrest_hub_ingest_messages_total ",
		"# TYPE carecrest_hub_ingest_messages_total counter",
		`carecrest_hub_ingest_messages_total{result="stored",source="lis"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestEventCodesMatchAudit keeps eventCodes in step with the Code*
// constants of audit/event.go.
func TestEventCodesMatchAudit(t *testing.T) {
	codes := stringConsts(t, "../audit/event.go", func(name string) bool { return strings.HasPrefix(name, "Code") })
	if len(codes) == 0 {
		t.Fatal("found no Code* constants in audit/event.go")
	}
	for _, c := range codes {
		if !eventCodes[c] {
			t.Errorf("audit code %s is not in eventCodes: add it to metrics/labels.go", c)
		}
	}
	if len(eventCodes) != len(codes) {
		t.Errorf("eventCodes has %d codes, audit/event.go %d", len(eventCodes), len(codes))
	}
}

func parse(t *testing.T, path string) *ast.File {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not found: %v", path, err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// stringConsts returns the values of the string constants of a file whose
// names match.
func stringConsts(t *testing.T, path string, match func(string) bool) []string {
	var out []string
	for _, d := range parse(t, path).Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !match(n.Name) || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// stringLits returns every string literal inside the declaration of a
// package-level variable.
func stringLits(t *testing.T, path, variable string) []string {
	var out []string
	for _, d := range parse(t, path).Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if !slices.ContainsFunc(vs.Names, func(n *ast.Ident) bool { return n.Name == variable }) {
				continue
			}
			ast.Inspect(vs, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, v)
				}
				return true
			})
		}
	}
	return out
}
