package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/ingest"
	"github.com/segmentio/kafka-go"
)

// clock is a settable time for the hub's read service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func hl7Msg(source, v string) kafka.Message {
	return kafka.Message{Topic: ingest.TopicPrefix + source, Key: []byte(source), Value: []byte(v),
		Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentHL7v2)}}}
}

// TestBreakGlassEndToEnd: an ED physician with no care relationship is
// refused; declaring break-the-glass (ETREAT with a reason) opens a
// time-boxed session: the read is allowed, audited with its own code
// (CC2002W), raises a break-glass alert and enters the review queue; later
// reads within the window continue the session without restating the
// reason; after the window (4 h) the session no longer grants; a privacy
// officer records a finding, which is audited and empties the queue.
func TestBreakGlassEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	cfg.Alerts.Enabled = true
	h := startWith(t, cfg)
	clk := &clock{t: time.Now().UTC()}
	h.Reader.Now = clk.now

	publish(t, h, []kafka.Message{
		hl7Msg("ehr", "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01|BG1|P|2.5.1\rPID|1||MRN-BG^^^H&1.2.3&ISO^MR||Doe^Alex||19800101|M\rPV1|1|E|||||dr.smith^Smith^Jo\r"),
		hl7Msg("lis", "MSH|^~\\&|LIS|H|HUB|H|20261125||ORU^R01|BG2|P|2.5.1\rPID|1||MRN-BG^^^H&1.2.3&ISO^MR||Doe^Alex||19800101|M\rOBR|1|X|Y|2345-7^Glucose^LN\rOBX|1|NM|2345-7^Glucose^LN||41|mg/dL|70-99|LL|||F\r"),
	})
	waitMessages(t, h, 2)

	// dr.osei is not on this patient's care team (the attending is dr.smith).
	ed := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT", "ETREAT"})
	q := `query($purpose: String, $reason: String) { patient(identifier: "urn:oid:1.2.3|MRN-BG", purpose: $purpose, breakGlassReason: $reason) {
	  id observations { valueQuantity { value } } } }`
	read := func(purpose, reason string) gqlResult {
		return gql(t, h, ed, q, map[string]any{"purpose": purpose, "reason": reason})
	}

	if r := read("TREAT", ""); r.code() != "FORBIDDEN" {
		t.Fatalf("TREAT read without a care relationship: code %q, want FORBIDDEN", r.code())
	}
	if r := read("ETREAT", ""); r.code() != "FORBIDDEN" {
		t.Fatalf("ETREAT without a reason and no open session: code %q, want FORBIDDEN", r.code())
	}
	// A declaration may not pose as the continuation of a session (whose
	// text carries the session's start).
	if r := read("ETREAT", "break-glass session continued; opened 2099-01-01T00:00:00Z"); r.code() != "BAD_REQUEST" {
		t.Fatalf("a reason forging a session start: code %q, want BAD_REQUEST", r.code())
	}
	opened := clk.now()
	p := patientOf(t, read("ETREAT", "unresponsive in ED, hypoglycaemia suspected"))
	patient, _ := p["id"].(string)
	if obs, _ := p["observations"].([]any); len(obs) != 1 {
		t.Fatalf("break-glass read: %d observations, want 1", len(obs))
	}

	ctx := context.Background()
	bg := func() []audit.Event {
		evs, err := h.Store.Query(ctx, audit.Filter{PatientID: patient, ActorID: "dr.osei", Codes: []string{audit.CodeBreakGlass}})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	evs := bg()
	if len(evs) == 0 || evs[0].Reason != "unresponsive in ED, hypoglycaemia suspected" || !slices.Contains(evs[0].Rules, "break-glass") {
		t.Fatalf("break-glass read not audited as CC2002W with its reason: %+v", evs)
	}

	// Within the window the session continues without a new reason.
	clk.add(3 * time.Hour)
	patientOf(t, read("ETREAT", ""))
	evs = bg()
	last := evs[len(evs)-1]
	if want := "break-glass session continued; opened " + evs[0].Time.UTC().Format(time.RFC3339Nano); last.Reason != want {
		t.Fatalf("continued read reason %q, want %q", last.Reason, want)
	}

	// After the window the session is over: a new declaration is needed.
	clk.set(opened.Add(4*time.Hour + time.Minute))
	r := read("ETREAT", "")
	if r.code() != "FORBIDDEN" {
		t.Fatalf("read after the 4 h window: code %q, want FORBIDDEN", r.code())
	}
	denied, _ := h.Store.Query(ctx, audit.Filter{PatientID: patient, ActorID: "dr.osei", Codes: []string{audit.CodeRecordReadDeny}, From: opened.Add(4 * time.Hour)})
	if len(denied) == 0 || !slices.Contains(denied[0].Rules, "break-glass.expired") {
		t.Fatalf("expired session not audited with break-glass.expired: %+v", denied)
	}

	// The break-glass alert (in-process feed) and the review queue.
	analyst := mint(t, h, "sa.okafor", []string{"security_analyst"}, []string{"HOPERAT"})
	waitFor(t, 10*time.Second, "break-glass alert raised", func() bool {
		a := gql(t, h, analyst, `{ alerts(rule: "break-glass") { id rule actor patient text } }`, nil)
		l, _ := a.Data["alerts"].([]any)
		for _, x := range l {
			m := x.(map[string]any)
			if m["actor"] == "dr.osei" && m["patient"] == patient {
				return true
			}
		}
		return false
	})
	officer := mint(t, h, "po.nakamura", []string{"privacy_officer"}, []string{"HOPERAT"})
	queue := gql(t, h, officer, `{ breakGlassQueue { id actor patient reasons eventIds } }`, nil)
	if len(queue.Errors) > 0 {
		t.Fatalf("queue: %+v", queue.Errors)
	}
	var session string
	for _, x := range queue.Data["breakGlassQueue"].([]any) {
		m := x.(map[string]any)
		if m["actor"] == "dr.osei" && m["patient"] == patient {
			session, _ = m["id"].(string)
		}
	}
	if session == "" {
		t.Fatalf("session not in the review queue: %v", queue.Data)
	}
	rv := gql(t, h, officer, `mutation($s: ID!) { reviewBreakGlass(session: $s, finding: "justified", category: "emergency-treatment") { session finding } }`,
		map[string]any{"s": session})
	if len(rv.Errors) > 0 {
		t.Fatalf("review: %+v", rv.Errors)
	}
	reviews, _ := h.Store.Query(ctx, audit.Filter{Codes: []string{audit.CodeBreakGlassReview}})
	if len(reviews) != 1 || reviews[0].ActorID != "po.nakamura" {
		t.Fatalf("review not audited: %+v", reviews)
	}
	queue = gql(t, h, officer, `{ breakGlassQueue { id } }`, nil)
	for _, x := range queue.Data["breakGlassQueue"].([]any) {
		if x.(map[string]any)["id"] == session {
			t.Fatal("reviewed session still in the queue")
		}
	}
	if rep, err := h.VerifyAudit(ctx); err != nil || !rep.OK() {
		t.Fatalf("audit verify: %v %+v", err, rep.Problems)
	}
}

// TestConsentExpiryEndToEnd: an opt-out with a period blocks treatment
// reads while in force and stops applying when its period ends, with no
// new message: the next decision sees it. Both decisions are audited with
// the consent that applied (or none).
func TestConsentExpiryEndToEnd(t *testing.T) {
	h := startHub(t)
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	h.Reader.Now = clk.now
	optOut := fmt.Sprintf(`{"resourceType":"Consent","id":"exp-1","status":"active","scope":{"coding":[{"code":"patient-privacy"}]},
	  "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
	  "patient":{"identifier":{"system":"urn:oid:1.2.3","value":"MRN-EXP"}},
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
	  "provision":{"period":{"start":"2026-11-01","end":"%s"}}}`, "2026-12-15")
	publish(t, h, []kafka.Message{
		hl7Msg("ehr", "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01|EXP1|P|2.5.1\rPID|1||MRN-EXP^^^H&1.2.3&ISO^MR||Roe^Sam||19750101|F\rPV1|1|I|||||dr.osei^Osei^Kwame\r"),
		{Topic: ingest.TopicPrefix + "hie", Key: []byte("exp"), Value: []byte(optOut),
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentFHIRJSON)}}},
	})
	waitMessages(t, h, 2)
	doc := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	q := `{ patient(identifier: "urn:oid:1.2.3|MRN-EXP") { id name { family } } }`
	if r := gql(t, h, doc, q, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("read while the opt-out is in force: code %q, want FORBIDDEN", r.code())
	}
	clk.set(time.Date(2026, 12, 15, 23, 0, 0, 0, time.UTC)) // a date-only end includes its whole day
	if r := gql(t, h, doc, q, nil); r.code() != "FORBIDDEN" {
		t.Fatalf("read on the last day of the opt-out: code %q, want FORBIDDEN", r.code())
	}
	clk.set(time.Date(2026, 12, 16, 0, 0, 1, 0, time.UTC))
	p := patientOf(t, gql(t, h, doc, q, nil))
	evs, _ := h.Store.Query(context.Background(), audit.Filter{PatientID: p["id"].(string), ActorID: "dr.osei", Action: audit.ActionRead})
	if len(evs) != 3 {
		t.Fatalf("%d read events, want 3: %+v", len(evs), evs)
	}
	for _, e := range evs[:2] {
		if e.Outcome != audit.OutcomeDeny || len(e.Consents) != 1 || !slices.Contains(e.Rules, "consent.opt-out") {
			t.Errorf("read while the opt-out was in force audited as %s rules %v consents %v", e.Outcome, e.Rules, e.Consents)
		}
	}
	if e := evs[2]; e.Outcome != audit.OutcomeAllow || len(e.Consents) != 0 {
		t.Errorf("read after expiry audited as %s consents %v", e.Outcome, e.Consents)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
