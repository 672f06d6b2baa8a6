package httpingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/internal/samples"
	"github.com/segmentio/kafka-go"
)

// planted are values of the synthetic fixtures that must never appear in a
// response or a log line.
var planted = []string{"Quixotesque", "Zebulon", "MRN-ZQ-7781", "1971-03-09"}

// memPublisher records messages; when fail is set it fails instead.
type memPublisher struct {
	mu   sync.Mutex
	msgs []kafka.Message
	fail error
}

func (p *memPublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *memPublisher) published() []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]kafka.Message(nil), p.msgs...)
}

// fakeAuth maps tokens to sources; "not-a-system" is forbidden.
type fakeAuth map[string]string

func (a fakeAuth) Authenticate(token string) (string, error) {
	if token == "not-a-system" {
		return "", fmt.Errorf("%w: role missing", ErrForbidden)
	}
	if s, ok := a[token]; ok {
		return s, nil
	}
	return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
}

var testAuth = fakeAuth{"ehr-token": "ehr", "pacs-token": "pacs", "bad-source": "EHR.prod", "slash": "ehr/x"}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	h    *Handler
	pub  *memPublisher
	logs *syncBuffer
}

func newEnv(t testing.TB, cfg Config) env {
	t.Helper()
	e := env{pub: &memPublisher{}, logs: &syncBuffer{}}
	h, err := New(cfg, Deps{
		Publisher: e.pub, Auth: testAuth,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

type response struct {
	status  int
	header  http.Header
	body    string
	outcome operationOutcome
}

func (e env) post(t testing.TB, path, contentType, token string, body []byte) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return decodeResponse(t, rec.Result())
}

func decodeResponse(t testing.TB, res *http.Response) response {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, body: string(b)}
	if err := json.Unmarshal(b, &r.outcome); err != nil || r.outcome.ResourceType != "OperationOutcome" || len(r.outcome.Issue) != 1 {
		t.Fatalf("status %d: body is not an OperationOutcome: %q", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != ContentTypeOutcome {
		t.Fatalf("Content-Type %q", ct)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	return r
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixture(t testing.TB, name string) []byte { return read(t, filepath.Join("testdata", name)) }

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestAcceptSamples posts the shared samples that the hub can ingest and
// checks the published message.
func TestAcceptSamples(t *testing.T) {
	cases := []struct {
		name, path, contentType, sample, wantCT string
	}{
		{"patient", "/fhir/Patient", "application/fhir+json", "fhir-r4/patient-example.json", "application/fhir+json"},
		{"observation", "/fhir/Observation", "application/json", "fhir-r4/observation-example-f001-glucose.json", "application/fhir+json"},
		{"transaction bundle", "/fhir", "application/fhir+json; fhirVersion=4.0", "fhir-r4/Abdul_Koepp_e925b0f3-8006-43f6-aa31-94bd215e55e7.json", "application/fhir+json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			body := read(t, samples.Path(t, c.sample))
			r := e.post(t, c.path, c.contentType, "ehr-token", body)
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if is := r.outcome.Issue[0]; is.Severity != "information" || is.Diagnostics != TextAccepted {
				t.Fatalf("outcome %+v", is)
			}
			msgs := e.pub.published()
			if len(msgs) != 1 {
				t.Fatalf("published %d messages", len(msgs))
			}
			m := msgs[0]
			if m.Topic != "hub.in.ehr" || string(m.Key) != "ehr" || !bytes.Equal(m.Value, body) {
				t.Fatalf("message topic %q key %q, value unchanged %v", m.Topic, m.Key, bytes.Equal(m.Value, body))
			}
			if header(m, HeaderContentType) != c.wantCT ||
				header(m, HeaderRequestID) != r.header.Get("X-Request-Id") ||
				header(m, HeaderReceived) != "2026-03-01T12:00:00Z" || !m.Time.Equal(fixedNow) {
				t.Fatalf("headers %v time %v", m.Headers, m.Time)
			}
		})
	}
}

// TestDICOM: a study with a PatientID is accepted on both routes; the shared
// DICOMweb samples have none and are 422 with the decoder's reason.
func TestDICOM(t *testing.T) {
	for _, path := range []string{"/dicom/studies", "/dicom"} {
		e := newEnv(t, Config{})
		r := e.post(t, path, "application/dicom+json", "pacs-token", fixture(t, "dicom-study.json"))
		if r.status != http.StatusAccepted {
			t.Fatalf("%s: status %d: %s", path, r.status, r.body)
		}
		m := e.pub.published()[0]
		if m.Topic != "hub.in.pacs" || header(m, HeaderContentType) != "application/dicom+json" {
			t.Fatalf("%s: topic %q headers %v", path, m.Topic, m.Headers)
		}
	}
	for _, s := range []string{"dicom/dicomweb-client_search_for_studies.json", "dicom/dicomweb-client_retrieve_instance_metadata.json"} {
		e := newEnv(t, Config{})
		r := e.post(t, "/dicom/studies", "application/json", "pacs-token", read(t, samples.Path(t, s)))
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.outcome.Issue[0].Diagnostics, "no-patient-id") {
			t.Fatalf("%s: status %d: %s", s, r.status, r.body)
		}
		if n := len(e.pub.published()); n != 0 {
			t.Fatalf("%s: published %d", s, n)
		}
	}
}

// TestBundleTransactionSample: the shared transaction Bundle's Patient has
// neither identifier nor id, so the hub could never link it: 422 at once
// instead of a dead letter later.
func TestBundleTransactionSample(t *testing.T) {
	e := newEnv(t, Config{})
	r := e.post(t, "/fhir", "application/fhir+json", "ehr-token", read(t, samples.Path(t, "fhir-r4/bundle-transaction.json")))
	if r.status != http.StatusUnprocessableEntity || r.outcome.Issue[0].Diagnostics != "fhir: entry 0: no-patient-identifier: Patient has neither identifier nor id" {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if n := len(e.pub.published()); n != 0 {
		t.Fatalf("published %d", n)
	}
}

// TestReject covers every refusal: nothing is published, the body is an
// OperationOutcome, and no planted value is echoed.
func TestReject(t *testing.T) {
	patient := fixture(t, "patient-planted.json")
	cases := []struct {
		name, method, path, contentType, token string
		body                                   []byte
		status                                 int
		diag                                   string // substring of diagnostics
		header, headerValue                    string
	}{
		{"resourceType mismatch", "POST", "/fhir/Observation", "application/fhir+json", "ehr-token", patient, 400, TextTypeMismatch, "", ""},
		{"resource to bundle route", "POST", "/fhir", "application/fhir+json", "ehr-token", patient, 400, TextTypeMismatch, "", ""},
		{"case-smuggled type", "POST", "/fhir/Observation", "application/fhir+json", "ehr-token", fixture(t, "patient-case-smuggled.json"), 400, TextTypeMismatch, "", ""},
		{"not json", "POST", "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "not-json.txt"), 400, "invalid-json", "", ""},
		{"empty body", "POST", "/fhir/Patient", "application/fhir+json", "ehr-token", nil, 400, "invalid-json", "", ""},
		{"no patient identifier", "POST", "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-no-identifier.json"), 422, "no-patient-identifier", "", ""},
		{"searchset bundle", "POST", "/fhir", "application/fhir+json", "ehr-token", fixture(t, "bundle-searchset.json"), 422, TextBundleType, "", ""},
		{"dicom to fhir route", "POST", "/fhir/Patient", "application/fhir+json", "pacs-token", fixture(t, "dicom-study.json"), 400, "not-an-object", "", ""},
		{"fhir to dicom route", "POST", "/dicom/studies", "application/dicom+json", "pacs-token", patient, 400, "not-dicom-json", "", ""},
		{"unknown type", "POST", "/fhir/Zebulon", "application/fhir+json", "ehr-token", patient, 404, TextUnknownType, "", ""},
		{"unknown route", "POST", "/fhir/Patient/zq-1", "application/fhir+json", "ehr-token", patient, 404, TextNotFound, "", ""},
		{"xml", "POST", "/fhir/Patient", "application/fhir+xml", "ehr-token", patient, 415, TextFHIRMedia, "", ""},
		{"no content type", "POST", "/fhir/Patient", "", "ehr-token", patient, 415, TextFHIRMedia, "", ""},
		{"latin-1", "POST", "/fhir/Patient", "application/fhir+json; charset=iso-8859-1", "ehr-token", patient, 415, TextFHIRMedia, "", ""},
		{"fhir type on dicom", "POST", "/dicom/studies", "application/fhir+json", "pacs-token", fixture(t, "dicom-study.json"), 415, TextDICOMMedia, "", ""},
		{"no token", "POST", "/fhir/Patient", "application/fhir+json", "", patient, 401, TextUnauthorized, "WWW-Authenticate", `Bearer realm="carecrest-hub"`},
		{"bad token", "POST", "/fhir/Patient", "application/fhir+json", "forged", patient, 401, TextUnauthorized, "WWW-Authenticate", `Bearer realm="carecrest-hub", error="invalid_token"`},
		{"not a source system", "POST", "/fhir/Patient", "application/fhir+json", "not-a-system", patient, 403, TextForbidden, "", ""},
		{"source not a topic name", "POST", "/fhir/Patient", "application/fhir+json", "bad-source", patient, 403, TextForbidden, "", ""},
		{"source with slash", "POST", "/fhir/Patient", "application/fhir+json", "slash", patient, 403, TextForbidden, "", ""},
		{"GET", "GET", "/fhir/Patient", "", "ehr-token", nil, 405, TextNotAllowed, "Allow", "POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			req := httptest.NewRequest(c.method, c.path, bytes.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			r := decodeResponse(t, rec.Result())
			if r.status != c.status || !strings.Contains(r.outcome.Issue[0].Diagnostics, c.diag) || r.outcome.Issue[0].Severity != "error" {
				t.Fatalf("status %d (want %d), outcome %s", r.status, c.status, r.body)
			}
			if c.header != "" && r.header.Get(c.header) != c.headerValue {
				t.Fatalf("%s: %q", c.header, r.header.Get(c.header))
			}
			if n := len(e.pub.published()); n != 0 {
				t.Fatalf("published %d", n)
			}
			noPlanted(t, "response", r.body)
			noPlanted(t, "logs", e.logs.String())
		})
	}
}

func noPlanted(t testing.TB, where, s string) {
	t.Helper()
	for _, p := range planted {
		if strings.Contains(s, p) {
			t.Fatalf("%s contains planted value %q: %s", where, p, s)
		}
	}
}

// TestAcceptPlanted: an accepted message is published, and neither the
// response nor the logs carry its content.
func TestAcceptPlanted(t *testing.T) {
	e := newEnv(t, Config{})
	r := e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-planted.json"))
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r2 := e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-case-smuggled.json"))
	if r2.status != http.StatusAccepted {
		t.Fatalf("exact-key resourceType: status %d: %s", r2.status, r2.body)
	}
	noPlanted(t, "response", r.body+r2.body)
	noPlanted(t, "logs", e.logs.String())
	if len(e.pub.published()) != 2 {
		t.Fatal("not published")
	}
}

// TestTooLarge: a declared or streamed body over MaxBody is 413.
func TestTooLarge(t *testing.T) {
	patient := fixture(t, "patient-planted.json")
	e := newEnv(t, Config{MaxBody: int64(len(patient) - 1)})
	r := e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", patient)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	// Without Content-Length: MaxBytesReader stops the read.
	req := httptest.NewRequest(http.MethodPost, "/fhir/Patient", io.MultiReader(bytes.NewReader(patient)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer ehr-token")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if r := decodeResponse(t, rec.Result()); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d: %s", r.status, r.body)
	}
	if n := len(e.pub.published()); n != 0 {
		t.Fatalf("published %d", n)
	}
	noPlanted(t, "logs", e.logs.String())
}

// TestPublishFailure: a failed publish is 503 with Retry-After, and a
// message Kafka refuses as too large is 413 (resending will not help).
func TestPublishFailure(t *testing.T) {
	e := newEnv(t, Config{RetryAfter: 1500 * time.Millisecond})
	e.pub.fail = errors.New("kafka: leader not available")
	r := e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-planted.json"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "2" ||
		r.outcome.Issue[0].Diagnostics != TextUnavailable || r.outcome.Issue[0].Code != "transient" {
		t.Fatalf("status %d Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	e.pub.fail = kafka.MessageTooLargeError{}
	r = e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-planted.json"))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large for Kafka: status %d", r.status)
	}
	e.pub.fail = kafka.WriteErrors{kafka.MessageSizeTooLarge}
	r = e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-planted.json"))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("broker too large: status %d", r.status)
	}
	if n := len(e.pub.published()); n != 0 {
		t.Fatalf("published %d", n)
	}
	noPlanted(t, "logs", e.logs.String())
}

// blockingPublisher waits for its context: the publish timeout applies.
type blockingPublisher struct{}

func (blockingPublisher) WriteMessages(ctx context.Context, _ ...kafka.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestPublishTimeout(t *testing.T) {
	h, err := New(Config{PublishTimeout: 20 * time.Millisecond}, Deps{Publisher: blockingPublisher{}, Auth: testAuth, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := env{h: h}
	if r := e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", fixture(t, "patient-planted.json")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d", r.status)
	}
}

// TestMount serves the routes below a prefix of a shared mux.
func TestMount(t *testing.T) {
	e := newEnv(t, Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {})
	e.h.Mount(mux, "/ingest/")
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ingest/fhir/Patient", bytes.NewReader(fixture(t, "patient-planted.json")))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer ehr-token")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if r := decodeResponse(t, res); r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	res2, err := srv.Client().Post(srv.URL+"/ingest/nowhere", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusNotFound {
		t.Fatalf("outside the mounted routes: %d", res2.StatusCode)
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.Defaults()
	if err := c.Validate(); err != nil || c.MaxBody != 8<<20 || c.PublishTimeout != DefaultPublishTimeout {
		t.Fatalf("defaults %+v: %v", c, err)
	}
	for _, bad := range []Config{
		{MaxBody: -1, PublishTimeout: time.Second, RetryAfter: time.Second},
		{MaxBody: 1 << 30, PublishTimeout: time.Second, RetryAfter: time.Second},
		{MaxBody: 1, PublishTimeout: -1, RetryAfter: time.Second},
		{MaxBody: 1, PublishTimeout: time.Second, RetryAfter: -1},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := New(Config{}, Deps{Auth: testAuth}); err == nil {
		t.Error("no publisher: no error")
	}
	if _, err := New(Config{}, Deps{Publisher: &memPublisher{}}); err == nil {
		t.Error("no authenticator: no error")
	}
}
