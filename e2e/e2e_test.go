// Package e2e runs the whole hub in-process on embedded defaults: traffic is
// produced over the Kafka protocol to the embedded broker, ingested, and
// read back over GraphQL with tokens of different roles.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/server"
	"github.com/segmentio/kafka-go"
)

// startHub starts a hub on embedded defaults in a temporary directory.
func startHub(t *testing.T) *server.Hub { return startHubTB(t) }

func startHubTB(t testing.TB) *server.Hub { return startWith(t, testConfig(t)) }

// testConfig is the embedded defaults in a temporary directory, with the
// broker and the API on free loopback ports.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDataDir(t.TempDir())
	cfg.Kafka.Embedded.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

// startWith starts a hub and stops it when the test ends.
func startWith(t testing.TB, cfg *config.Config) *server.Hub {
	t.Helper()
	h, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func mint(t *testing.T, h *server.Hub, sub string, roles, purposes []string) string {
	return mintTB(t, h, sub, roles, purposes)
}

func mintTB(t testing.TB, h *server.Hub, sub string, roles, purposes []string) string {
	t.Helper()
	s, err := auth.LoadSigner(h.Config.Auth.DevSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Mint(auth.Claims{
		Subject: sub, Roles: roles, Purposes: purposes, Application: "e2e",
		Issuer: h.Config.Auth.Issuer, Audience: h.Config.Auth.Audience,
		FHIRUser: "Practitioner/" + sub, // the care relationship of demo traffic (PV1-7, Encounter.participant)
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func publish(t *testing.T, h *server.Hub, msgs []kafka.Message) { publishTB(t, h, msgs) }

func publishTB(t testing.TB, h *server.Hub, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(h.Brokers()...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitMessages waits until n distinct inbound messages have an audit event
// (stored or rejected).
func waitMessages(t *testing.T, h *server.Hub, n int) { waitMessagesTB(t, h, n) }

func waitMessagesTB(t testing.TB, h *server.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs, err := h.Store.Query(context.Background(), audit.Filter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range evs {
			if e.Action == audit.ActionWrite || e.Action == audit.ActionReject {
				seen[e.RequestID] = true
			}
		}
		if len(seen) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages ingested after 60s", len(seen), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type gqlResult struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	status int
}

func gql(t testing.TB, h *server.Hub, token, query string, vars map[string]any) gqlResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, h.GraphQLURL(), bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	r.status = resp.StatusCode
	return r
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func patientOf(t *testing.T, r gqlResult) map[string]any {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	p, ok := r.Data["patient"].(map[string]any)
	if !ok {
		t.Fatalf("no patient in %+v", r.Data)
	}
	return p
}

func strList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestHubEndToEnd(t *testing.T) {
	h := startHub(t)
	traffic := demo.Generate(9, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publish(t, h, traffic.Messages)
	waitMessages(t, h, len(traffic.Messages))

	physician := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT", "ETREAT"})
	billing := mint(t, h, "bc.ruiz", []string{"billing_clerk"}, []string{"HPAYMT"})
	officer := mint(t, h, "po.nakamura", []string{"privacy_officer"}, []string{"HOPERAT"})
	p0 := traffic.Patients[0]

	var patientID string
	t.Run("clinician sees everything", func(t *testing.T) {
		p := patientOf(t, gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": p0.Identifier()}))
		patientID, _ = p["id"].(string)
		names, _ := p["name"].([]any)
		if len(names) == 0 || names[0].(map[string]any)["family"] != p0.Family {
			t.Fatalf("name = %v, want family %s", p["name"], p0.Family)
		}
		if p["birthDate"] != p0.BirthDate.Format("2006-01-02") {
			t.Errorf("birthDate = %v", p["birthDate"])
		}
		if m := strList(p["masked"]); len(m) != 0 {
			t.Errorf("masked = %v, want none", m)
		}
		obs, _ := p["observations"].([]any)
		if len(obs) != 3 {
			t.Fatalf("observations = %d, want 3 (ORU^R01 with three OBX)", len(obs))
		}
		for _, o := range obs {
			vq, _ := o.(map[string]any)["valueQuantity"].(map[string]any)
			if _, ok := vq["value"].(float64); !ok {
				t.Errorf("observation value missing: %v", o)
			}
		}
	})

	t.Run("billing clerk gets minimum necessary", func(t *testing.T) {
		p := patientOf(t, gql(t, h, billing, demo.PatientQuery, map[string]any{"mrn": p0.Identifier()}))
		if p["name"] == nil {
			t.Error("billing clerk should see the name")
		}
		if p["telecom"] != nil {
			t.Errorf("telecom = %v, want null (masked)", p["telecom"])
		}
		if !slices.Contains(strList(p["masked"]), "telecom") {
			t.Errorf("masked = %v, want telecom listed", p["masked"])
		}
		if obs, _ := p["observations"].([]any); len(obs) != 0 {
			t.Errorf("billing clerk saw %d observations", len(obs))
		}
		withheld, _ := p["withheld"].([]any)
		if len(withheld) != 1 || withheld[0].(map[string]any)["resourceType"] != "Observation" {
			t.Errorf("withheld = %v, want Observation", withheld)
		}
	})

	t.Run("opt-out denies, break-glass overrides", func(t *testing.T) {
		q := traffic.OptedOut.Identifier()
		r := gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": q})
		if r.code() != "FORBIDDEN" || r.Data["patient"] != nil {
			t.Fatalf("opted-out read: code %q data %v, want FORBIDDEN and no data", r.code(), r.Data)
		}
		p := patientOf(t, gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": q, "purpose": "ETREAT", "reason": "unconscious in ED"}))
		if p["name"] == nil {
			t.Error("break-glass read returned no name")
		}
	})

	t.Run("purpose not granted by token", func(t *testing.T) {
		r := gql(t, h, billing, demo.PatientQuery, map[string]any{"mrn": p0.Identifier(), "purpose": "TREAT"})
		if r.code() != "FORBIDDEN" {
			t.Fatalf("code = %q, want FORBIDDEN", r.code())
		}
	})

	t.Run("authentication required", func(t *testing.T) {
		if r := gql(t, h, "", demo.PatientQuery, map[string]any{"mrn": p0.Identifier()}); r.status != http.StatusUnauthorized {
			t.Errorf("no token: HTTP %d", r.status)
		}
		if r := gql(t, h, physician+"x", demo.PatientQuery, map[string]any{"mrn": p0.Identifier()}); r.status != http.StatusUnauthorized {
			t.Errorf("tampered token: HTTP %d", r.status)
		}
	})

	t.Run("audit rows record exactly what was disclosed", func(t *testing.T) {
		evs, err := h.Store.Query(context.Background(), audit.Filter{PatientID: patientID, Action: audit.ActionRead})
		if err != nil {
			t.Fatal(err)
		}
		var sawPhysician, sawBilling, sawBillingDeny bool
		for _, e := range evs {
			switch {
			case e.ActorID == "dr.osei" && e.RecordType == "Patient":
				sawPhysician = slices.Contains(e.Disclosed, "name") && slices.Contains(e.Disclosed, "birthDate") && e.Purpose == "TREAT"
			case e.ActorID == "bc.ruiz" && e.RecordType == "Patient":
				sawBilling = slices.Contains(e.Masked, "telecom") && !slices.Contains(e.Disclosed, "telecom")
			case e.ActorID == "bc.ruiz" && e.RecordType == "Observation":
				sawBillingDeny = e.Outcome == audit.OutcomeDeny && e.Code == audit.CodeRecordReadDeny && len(e.Disclosed) == 0
			}
			if e.PolicyRevision == "" {
				t.Errorf("event %s has no policy revision", e.ID)
			}
		}
		if !sawPhysician || !sawBilling || !sawBillingDeny {
			t.Errorf("audit: physician read %v, billing masked %v, billing observation deny %v; events %+v", sawPhysician, sawBilling, sawBillingDeny, evs)
		}
		bg, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: "dr.osei"})
		var breakGlass, optOutDeny int
		for _, e := range bg {
			if e.Code == audit.CodeBreakGlass && e.Reason == "unconscious in ED" {
				breakGlass++
			}
			if e.Code == audit.CodeRecordReadDeny && slices.Contains(e.Rules, "consent.opt-out") {
				optOutDeny++
			}
		}
		if breakGlass == 0 || optOutDeny == 0 {
			t.Errorf("break-glass events %d, opt-out denials %d; want both", breakGlass, optOutDeny)
		}
	})

	t.Run("audit query is role-gated and audited", func(t *testing.T) {
		q := `query($p: ID) { auditEvents(patient: $p) { id code actor disclosed } }`
		if r := gql(t, h, billing, q, map[string]any{"p": patientID}); r.code() != "FORBIDDEN" {
			t.Fatalf("billing clerk audit query: code %q, want FORBIDDEN", r.code())
		}
		r := gql(t, h, officer, q, map[string]any{"p": patientID})
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		if evs, _ := r.Data["auditEvents"].([]any); len(evs) == 0 {
			t.Fatal("privacy officer got no events")
		}
		qs, _ := h.Store.Query(context.Background(), audit.Filter{Action: audit.ActionAuditQuery})
		var allow, deny int
		for _, e := range qs {
			switch e.Code {
			case audit.CodeAuditQuery:
				allow++
			case audit.CodeAuditQueryDeny:
				deny++
			}
		}
		if allow != 1 || deny != 1 {
			t.Errorf("audit-query events: %d allowed, %d denied; want 1 and 1", allow, deny)
		}
	})

	t.Run("dead letters carry a reason and no plaintext", func(t *testing.T) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.Brokers(), GroupID: "e2e-dlq", GroupTopics: []string{h.Config.Ingest.DeadLetterTopic},
			StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var got []ingest.DeadLetter
		for len(got) < traffic.Bad {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("read dead letters: %v (got %d of %d)", err, len(got), traffic.Bad)
			}
			var dl ingest.DeadLetter
			if err := json.Unmarshal(m.Value, &dl); err != nil {
				t.Fatal(err)
			}
			if dl.Reason == "" || dl.ReasonCode == "" || dl.Topic == "" {
				t.Errorf("dead letter without reason or origin: %+v", dl)
			}
			if bytes.Contains(dl.Payload, []byte("MSH|")) || bytes.Contains(dl.Payload, []byte("BAD0002")) || bytes.Contains(dl.Payload, []byte("resourceType")) {
				t.Errorf("dead letter payload is not encrypted: %q", dl.Reason)
			}
			opened, err := h.Sealer.OpenBlob(ctx, keys.OwnerDeadLetter, dl.Payload, ingest.DeadLetterAAD(dl.Topic, dl.Partition, dl.Offset))
			if err != nil || len(opened) == 0 {
				t.Errorf("dead letter payload does not open with the hub's key: %v", err)
			}
			got = append(got, dl)
		}
		rej, _ := h.Store.Query(context.Background(), audit.Filter{Action: audit.ActionReject})
		if len(rej) != traffic.Bad {
			t.Errorf("rejections audited = %d, want %d", len(rej), traffic.Bad)
		}
	})

	t.Run("audit chain verifies", func(t *testing.T) {
		rep, err := h.VerifyAudit(context.Background())
		if err != nil || !rep.OK() || rep.Events == 0 {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
	})

	t.Run("health, readiness and metrics, without PHI", func(t *testing.T) {
		base := strings.TrimSuffix(h.GraphQLURL(), "/graphql")
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: HTTP %d", path, resp.StatusCode)
			}
		}
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"carecrest_hub_ingest_messages_total", "carecrest_hub_query_graphql_requests_total", "carecrest_hub_policy_decisions_total"} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		for _, p := range traffic.Patients {
			for _, phi := range []string{p.Family, p.MRN, patientID} {
				if bytes.Contains(body, []byte(phi)) {
					t.Errorf("/metrics contains %q", phi)
				}
			}
		}
	})

	t.Run("no plaintext PHI at rest", func(t *testing.T) {
		var blob []byte
		files, _ := filepath.Glob(filepath.Join(h.Config.DataDir, "*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
				b, _ := os.ReadFile(f)
				blob = append(blob, b...)
			}
		}
		if len(blob) == 0 {
			t.Fatal("no data files found")
		}
		for _, p := range traffic.Patients {
			for _, phi := range []string{p.Family, p.Given, p.MRN, p.Phone, p.Street, p.BirthDate.Format("2006-01-02"), p.BirthDate.Format("20060102")} {
				if bytes.Contains(blob, []byte(phi)) {
					t.Errorf("plaintext PHI %q found in the data directory", phi)
				}
			}
		}
	})
}

// TestReadFailsClosedWhenAuditFails swaps the audit log for one that fails:
// the read must return no data.
func TestReadFailsClosedWhenAuditFails(t *testing.T) {
	h := startHub(t)
	traffic := demo.Generate(3, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publish(t, h, traffic.Messages)
	waitMessages(t, h, len(traffic.Messages))
	physician := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})

	h.Reader.Audit = failingAppender{}
	r := gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": traffic.Patients[0].Identifier()})
	if r.code() != "UNAVAILABLE" || r.Data["patient"] != nil {
		t.Fatalf("with audit down: code %q, data %v; want UNAVAILABLE and no data", r.code(), r.Data)
	}
	if strings.Contains(strings.ToLower(r.Errors[0].Message), strings.ToLower(traffic.Patients[0].Family)) {
		t.Error("error message leaks PHI")
	}
}

type failingAppender struct{}

func (failingAppender) Append(context.Context, []audit.Event) error { return audit.ErrUnavailable }

// TestReadFailsClosedWhenKeysFail: with the key manager down (and no cached
// keys), a read returns no data, says why, and the failure is audited.
func TestReadFailsClosedWhenKeysFail(t *testing.T) {
	h := startHub(t)
	traffic := demo.Generate(3, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publish(t, h, traffic.Messages)
	waitMessages(t, h, len(traffic.Messages))
	physician := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})

	h.Reader.Opener = failingOpener{}
	r := gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": traffic.Patients[0].Identifier()})
	if r.code() != "UNAVAILABLE" || r.Data["patient"] != nil {
		t.Fatalf("with keys down: code %q, data %v; want UNAVAILABLE and no data", r.code(), r.Data)
	}
	if !strings.Contains(r.Errors[0].Message, "key manager unavailable") {
		t.Errorf("message %q does not say why", r.Errors[0].Message)
	}
	evs, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: "dr.osei"})
	var failed int
	for _, e := range evs {
		if e.Code == audit.CodeReadFailed && e.Outcome == audit.OutcomeError && len(e.Disclosed) == 0 {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("read-failed audit events = %d, want 1", failed)
	}
}

type failingOpener struct{}

func (failingOpener) Open(context.Context, *record.Sealed, []string) (map[string]any, error) {
	return nil, fmt.Errorf("vault: %w", keys.ErrUnavailable)
}

// TestPatientViewShowsAndAuditsLatestDemographicsOnly: two registrations
// of one patient; the read shows the newer and the audit names only it.
func TestPatientViewShowsAndAuditsLatestDemographicsOnly(t *testing.T) {
	h := startHub(t)
	adt := func(id, family string) kafka.Message {
		return kafka.Message{Topic: "hub.in.ehr", Key: []byte("m"), Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentHL7v2)}},
			Value: fmt.Appendf(nil, "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A08|%s|P|2.5.1\rPID|1||MRN77^^^H&1.2.3&ISO^MR||%s^Ann||19700101|F\rPV1|1|I|||||dr.osei^Osei^Kwame\r", id, family)}
	}
	publish(t, h, []kafka.Message{adt("V1", "Maiden")})
	waitMessages(t, h, 1)
	publish(t, h, []kafka.Message{adt("V2", "Married")})
	waitMessages(t, h, 2)
	tok := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	p := patientOf(t, gql(t, h, tok, `{ patient(identifier: "urn:oid:1.2.3|MRN77") { name { family } } }`, nil))
	if fam := p["name"].([]any)[0].(map[string]any)["family"]; fam != "Married" {
		t.Fatalf("family = %v, want the latest registration", fam)
	}
	evs, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: "dr.osei", Action: audit.ActionRead})
	if len(evs) != 1 || len(evs[0].RecordIDs) != 1 {
		t.Fatalf("read audit %+v: want one event naming one Patient record", evs)
	}
}
