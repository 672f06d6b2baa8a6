package route_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeDecider implements a few rules of the shipped policy: a grant per
// role and purpose lists fields per record type; an opt-out in force that
// covers the purpose denies; errType makes evaluation fail for one type.
type fakeDecider struct {
	grants  map[string]map[string][]string // role|purpose → type → fields
	errType string

	mu    sync.Mutex
	calls []policy.Input
}

func (f *fakeDecider) Decide(_ context.Context, in policy.Input) (policy.Decision, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	f.mu.Unlock()
	const rev = "sha256:fake"
	if in.RecordType == f.errType {
		return policy.Decision{Revision: rev, Reasons: []string{policy.ReasonEvalError}}, policy.ErrEvaluation
	}
	if in.Action != policy.ActionRoute {
		return policy.Decision{Revision: rev, Reasons: []string{"unknown action"}}, nil
	}
	for _, c := range in.Consents {
		if c.Decision == consent.Deny && (len(c.Purposes) == 0 || slices.Contains(c.Purposes, in.Subject.Purpose)) {
			return policy.Decision{Revision: rev, Rules: []string{"consent.opt-out"},
				Reasons: []string{"patient opted out for this purpose"}, Consents: []string{c.ID}}, nil
		}
	}
	for _, role := range in.Subject.Roles {
		if fs, ok := f.grants[role+"|"+in.Subject.Purpose][in.RecordType]; ok {
			return policy.Decision{Allow: true, Fields: fs, Revision: rev, Rules: []string{"read.role-purpose"},
				Reasons: []string{"role and purpose permit this record type"}}, nil
		}
	}
	return policy.Decision{Revision: rev, Rules: []string{"read.type-not-permitted"},
		Reasons: []string{"record type not permitted for role and purpose"}}, nil
}

func (f *fakeDecider) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// memConsents is an in-memory store.ConsentReader.
type memConsents struct {
	by  map[string][]consent.Directive
	err error

	mu    sync.Mutex
	loads map[string]int
}

func (m *memConsents) Consents(_ context.Context, patientID string) ([]consent.Directive, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loads == nil {
		m.loads = map[string]int{}
	}
	m.loads[patientID]++
	return slices.Clone(m.by[patientID]), m.err
}

// fakeOpener returns a record's clear elements plus fixed plaintext for the
// requested elements, and remembers what was requested.
type fakeOpener struct {
	plain map[string]map[string]any // record id → element → value
	err   error

	mu        sync.Mutex
	requested map[string][]string // record id → elements
}

func (o *fakeOpener) Open(_ context.Context, s *record.Sealed, elements []string) (map[string]any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	if o.requested == nil {
		o.requested = map[string][]string{}
	}
	o.requested[s.ID] = slices.Clone(elements)
	out := map[string]any{}
	if err := json.Unmarshal(s.Clear, &out); err != nil {
		return nil, err
	}
	for _, el := range elements {
		if v, ok := o.plain[s.ID][el]; ok {
			out[el] = v
		}
	}
	return out, nil
}

// Invented PHI of the fixtures; none of it may reach an audit event.
var phiValues = []string{"Doe", "Jane", "555-0100", "1970-01-02", "MRN100001", "1 Main St", "7.25"}

func patientPlain() map[string]any {
	return map[string]any{
		"name":       []any{map[string]any{"family": "Doe", "given": []any{"Jane"}}},
		"telecom":    []any{map[string]any{"system": "phone", "value": "555-0100"}},
		"birthDate":  "1970-01-02",
		"identifier": []any{map[string]any{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN100001"}},
		"address":    []any{map[string]any{"line": []any{"1 Main St"}}},
		"gender":     "female",
	}
}

func obsPlain() map[string]any {
	return map[string]any{
		"valueQuantity": map[string]any{"value": 7.25, "unit": "%"},
		"subject":       map[string]any{"reference": "Patient/P1"},
	}
}

// sealed returns a stored record whose sealed elements are the keys of
// plain (ciphertexts are placeholders: the fake opener holds the values).
func sealed(id, patient, typ, source string, labels []string, plain map[string]any) record.Sealed {
	clear := map[string]any{"resourceType": typ, "id": id}
	if typ == "Observation" {
		clear["status"] = "final"
		clear["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "4548-4"}}}
	}
	b, _ := json.Marshal(clear)
	fields := map[string][]byte{}
	for k := range plain {
		fields[k] = []byte("ciphertext")
	}
	return record.Sealed{
		ID: id, Type: typ, Source: source, Key: "key-" + id, PatientID: patient,
		Labels: labels, Clear: b, Fields: fields, Received: now,
	}
}

var (
	app = route.Subscriber{
		Name: "carecrest-app", Kind: route.KindApplication, Roles: []string{"application"},
		Org: "carecrest", Purpose: "TREAT", Types: []string{"Patient", "Observation"},
	}
	billing = route.Subscriber{
		Name: "billing", Kind: route.KindSystem, Roles: []string{"billing_system"},
		Org: "carecrest-rcm", Purpose: "HPAYMT", Types: []string{"Patient", "Coverage"},
	}
	grants = map[string]map[string][]string{
		"application|TREAT":     {"Patient": {"*"}, "Observation": {"*"}, "Encounter": {"*"}},
		"billing_system|HPAYMT": {"Patient": {"name", "identifier", "birthDate", "address"}, "Coverage": {"*"}},
	}
)

type fixture struct {
	dec      *fakeDecider
	consents *memConsents
	opener   *fakeOpener
	router   *route.Router
}

func newFixture(t *testing.T, subs ...route.Subscriber) *fixture {
	t.Helper()
	f := &fixture{
		dec:      &fakeDecider{grants: grants},
		consents: &memConsents{by: map[string][]consent.Directive{}},
		opener:   &fakeOpener{plain: map[string]map[string]any{}},
	}
	r, err := route.New(route.Config{Subscribers: subs}, route.Deps{
		Decider: f.dec, Consents: f.consents, Opener: f.opener, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.router = r
	return f
}

// add registers plaintext for a record and returns its sealed form.
func (f *fixture) add(id, patient, typ, source string, labels []string, plain map[string]any) record.Sealed {
	f.opener.plain[id] = plain
	return sealed(id, patient, typ, source, labels, plain)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func body(t *testing.T, m kafka.Message) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(m.Value, &v); err != nil {
		t.Fatalf("message value is not JSON: %v", err)
	}
	return v
}

func security(res map[string]any) []string {
	meta, _ := res["meta"].(map[string]any)
	var codes []string
	for _, c := range list(meta["security"]) {
		codes = append(codes, c.(map[string]any)["code"].(string))
	}
	return codes
}

func list(v any) []any { l, _ := v.([]any); return l }

func byTopic(p route.Plan) map[string][]kafka.Message {
	out := map[string][]kafka.Message{}
	for _, m := range p.Messages {
		out[m.Topic] = append(out[m.Topic], m)
	}
	return out
}

func TestPlanClinicalAndBilling(t *testing.T) {
	f := newFixture(t, app, billing)
	recs := []record.Sealed{
		f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()),
		f.add("r-obs", "P1", "Observation", "lis", nil, obsPlain()),
		f.add("r-enc", "P1", "Encounter", "ehr", nil, map[string]any{"participant": []any{}}),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	topics := byTopic(p)
	if got := len(topics["hub.out.carecrest-app"]); got != 2 {
		t.Fatalf("carecrest-app got %d messages, want Patient and Observation", got)
	}
	if got := len(topics["hub.out.billing"]); got != 1 {
		t.Fatalf("billing got %d messages, want Patient only", got)
	}
	if len(p.Messages) != 3 || len(p.Events) != 3 {
		t.Fatalf("plan has %d messages and %d events, want 3 and 3 (Encounter taken by no one)", len(p.Messages), len(p.Events))
	}

	// The app: everything, no marker.
	full := topics["hub.out.carecrest-app"][0]
	if string(full.Key) != "P1" || header(full, "content-type") != "application/fhir+json" ||
		header(full, "hub-record-id") != "r-pat" || header(full, "hub-purpose") != "TREAT" {
		t.Errorf("app message key %q headers %v", full.Key, full.Headers)
	}
	res := body(t, full)
	for _, el := range []string{"resourceType", "id", "name", "telecom", "birthDate", "identifier", "address", "gender"} {
		if _, ok := res[el]; !ok {
			t.Errorf("app Patient lacks %s", el)
		}
	}
	if slices.Contains(security(res), "REDACTED") {
		t.Error("unmasked resource carries REDACTED")
	}

	// Billing: minimum necessary for HPAYMT, telecom and gender never opened.
	bm := topics["hub.out.billing"][0]
	res = body(t, bm)
	for _, el := range []string{"name", "identifier", "birthDate", "address"} {
		if _, ok := res[el]; !ok {
			t.Errorf("billing Patient lacks %s", el)
		}
	}
	for _, el := range []string{"telecom", "gender"} {
		if _, ok := res[el]; ok {
			t.Errorf("billing Patient carries masked %s", el)
		}
	}
	if !slices.Contains(security(res), "REDACTED") {
		t.Errorf("masked resource lacks REDACTED: %v", res["meta"])
	}
	if strings.Contains(string(bm.Value), "555-0100") {
		t.Error("billing message carries the phone number")
	}
	if header(bm, "hub-purpose") != "HPAYMT" {
		t.Errorf("billing purpose header %q", header(bm, "hub-purpose"))
	}

	// Audit: one disclosure per subscriber and record.
	var bev audit.Event
	for _, e := range p.Events {
		if e.Code != audit.CodeRouted || e.Outcome != audit.OutcomeAllow || e.Action != "route" {
			t.Errorf("event %s %s %s, want routed allow", e.Code, e.Action, e.Outcome)
		}
		if e.ActorID == "billing" {
			bev = e
		}
	}
	want := audit.Event{
		Time: now, Code: audit.CodeRouted, Action: "route", Outcome: audit.OutcomeAllow,
		ActorID: "billing", ActorRoles: []string{"billing_system"}, ActorOrg: "carecrest-rcm",
		Application: "hub.out.billing", Purpose: "HPAYMT", PatientID: "P1", RecordType: "Patient",
		RecordIDs: []string{"r-pat"}, Disclosed: []string{"address", "birthDate", "identifier", "name"},
		Masked: []string{"gender", "telecom"}, PolicyRevision: "sha256:fake",
		Rules: []string{"read.role-purpose"}, Key: "r|billing|key-r-pat",
	}
	if !eventEqual(bev, want) {
		t.Errorf("billing event\n got %+v\nwant %+v", bev, want)
	}
}

func eventEqual(a, b audit.Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestPlanOpensOnlyAllowedElements(t *testing.T) {
	f := newFixture(t, billing)
	recs := []record.Sealed{f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain())}
	if _, err := f.router.Plan(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	got := f.opener.requested["r-pat"]
	if want := []string{"address", "birthDate", "identifier", "name"}; !slices.Equal(got, want) {
		t.Errorf("opened %v, want %v", got, want)
	}
}

func TestPlanOptOut(t *testing.T) {
	f := newFixture(t, app, billing)
	f.consents.by["P2"] = []consent.Directive{{ID: "consent:hie:1", PatientID: "P2", Status: "active", Decision: consent.Deny, Recorded: now}}
	// P3's opt-out ended: not in force, so P3 is routed.
	f.consents.by["P3"] = []consent.Directive{{ID: "consent:hie:2", PatientID: "P3", Status: "active", Decision: consent.Deny,
		Start: now.AddDate(-1, 0, 0), End: now.AddDate(0, -1, 0), Recorded: now}}
	recs := []record.Sealed{
		f.add("r-p2", "P2", "Patient", "ehr", nil, patientPlain()),
		f.add("r-o2", "P2", "Observation", "lis", nil, obsPlain()),
		f.add("r-p3", "P3", "Patient", "ehr", nil, patientPlain()),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Messages {
		if string(m.Key) == "P2" {
			t.Errorf("opted-out patient routed to %s", m.Topic)
		}
	}
	if len(p.Messages) != 2 {
		t.Errorf("%d messages, want P3's Patient to app and billing", len(p.Messages))
	}
	if _, ok := f.opener.requested["r-p2"]; ok {
		t.Error("opted-out patient's record was decrypted")
	}
	var denies []string
	for _, e := range p.Events {
		if e.PatientID != "P2" {
			continue
		}
		if e.Code != audit.CodeRouteDeny || e.Outcome != audit.OutcomeDeny || e.Disclosed != nil ||
			!strings.Contains(e.Reason, "opted out") || !slices.Equal(e.Consents, []string{"consent:hie:1"}) {
			t.Errorf("P2 event %+v, want an opt-out deny", e)
		}
		denies = append(denies, e.Key)
	}
	want := []string{"rd|carecrest-app|key-r-p2", "rd|billing|key-r-p2", "rd|carecrest-app|key-r-o2"}
	if !slices.Equal(denies, want) {
		t.Errorf("deny keys %v, want %v", denies, want)
	}
}

func TestPlanPart2Notice(t *testing.T) {
	f := newFixture(t, app)
	recs := []record.Sealed{
		f.add("r-sud", "P1", "Observation", "lis", []string{"ETH"}, obsPlain()),
		f.add("r-glu", "P1", "Observation", "lis", nil, obsPlain()),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 2 {
		t.Fatalf("%d messages, want 2", len(p.Messages))
	}
	notice := func(res map[string]any) string {
		meta, _ := res["meta"].(map[string]any)
		for _, x := range list(meta["extension"]) {
			e := x.(map[string]any)
			if e["url"] == route.ExtensionRedisclosureNotice {
				return e["valueString"].(string)
			}
		}
		return ""
	}
	sud := body(t, p.Messages[0])
	if got := notice(sud); got != route.Part2Notice || !strings.Contains(got, "42 CFR part 2") {
		t.Errorf("ETH record notice %q", got)
	}
	if !slices.Contains(security(sud), "42CFRPart2") {
		t.Errorf("ETH record security %v", security(sud))
	}
	if !strings.Contains(p.Events[0].Reason, "42 CFR part 2") {
		t.Errorf("ETH disclosure event reason %q", p.Events[0].Reason)
	}
	plain := body(t, p.Messages[1])
	if notice(plain) != "" || len(security(plain)) != 0 || p.Events[1].Reason != "" {
		t.Errorf("unlabelled record carries part 2 markers: %v", plain["meta"])
	}
}

func TestPlanIdempotentAcrossPlans(t *testing.T) {
	f := newFixture(t, app, billing)
	f.consents.by["P2"] = []consent.Directive{{ID: "c-1", Status: "active", Decision: consent.Deny}}
	recs := []record.Sealed{
		f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()),
		f.add("r-obs", "P1", "Observation", "lis", []string{"ETH"}, obsPlain()),
		f.add("r-p2", "P2", "Patient", "ehr", nil, patientPlain()),
	}
	p1, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(p route.Plan) (out []string) {
		for _, e := range p.Events {
			out = append(out, e.Key)
		}
		return out
	}
	want := []string{
		"r|carecrest-app|key-r-pat", "r|billing|key-r-pat", "r|carecrest-app|key-r-obs",
		"rd|carecrest-app|key-r-p2", "rd|billing|key-r-p2",
	}
	if !slices.Equal(keys(p1), want) || !slices.Equal(keys(p2), want) {
		t.Errorf("keys\n%v\n%v\nwant %v", keys(p1), keys(p2), want)
	}
	if len(p1.Messages) != len(p2.Messages) {
		t.Fatal("plans differ in size")
	}
	for i := range p1.Messages {
		if p1.Messages[i].Topic != p2.Messages[i].Topic || string(p1.Messages[i].Value) != string(p2.Messages[i].Value) {
			t.Errorf("message %d differs between plans", i)
		}
	}
}

func TestPlanCachesDecisionsAndConsents(t *testing.T) {
	f := newFixture(t, app)
	var recs []record.Sealed
	for _, id := range []string{"o1", "o2", "o3"} {
		recs = append(recs, f.add(id, "P1", "Observation", "lis", []string{"BH", "ETH"}, obsPlain()))
	}
	recs = append(recs, f.add("o4", "P1", "Observation", "lis", []string{"ETH", "BH"}, obsPlain())) // same set
	recs = append(recs, f.add("o5", "P1", "Observation", "lis", nil, obsPlain()))                   // other set
	recs = append(recs, f.add("o6", "P2", "Observation", "lis", nil, obsPlain()))                   // other patient
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 6 {
		t.Errorf("%d messages, want 6", len(p.Messages))
	}
	if got := f.dec.count(); got != 3 {
		t.Errorf("%d decisions, want 3 (per subscriber, patient, type and label set)", got)
	}
	if f.consents.loads["P1"] != 1 || f.consents.loads["P2"] != 1 {
		t.Errorf("consent loads %v, want one per patient", f.consents.loads)
	}
	in := f.dec.calls[0]
	wantSubj := policy.Subject{ID: "carecrest-app", Kind: "application", Roles: []string{"application"}, Org: "carecrest", Purpose: "TREAT"}
	if in.Action != "route" || in.PatientID != "P1" || in.RecordType != "Observation" || !in.Now.Equal(now) ||
		in.Subject.ID != wantSubj.ID || in.Subject.Kind != wantSubj.Kind || !slices.Equal(in.Subject.Roles, wantSubj.Roles) ||
		in.Subject.Org != wantSubj.Org || in.Subject.Purpose != wantSubj.Purpose || !slices.Equal(in.Labels, []string{"BH", "ETH"}) {
		t.Errorf("policy input %+v", in)
	}
}

func TestPlanSkipsUnwantedTypesAndSources(t *testing.T) {
	labOnly := app
	labOnly.Name, labOnly.Types, labOnly.Sources = "lab-feed", []string{"Observation"}, []string{"lis"}
	f := newFixture(t, labOnly)
	recs := []record.Sealed{
		f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()),
		f.add("r-ehr-obs", "P1", "Observation", "ehr", nil, obsPlain()),
		f.add("r-lis-obs", "P1", "Observation", "lis", nil, obsPlain()),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 || header(p.Messages[0], "hub-record-id") != "r-lis-obs" || len(p.Events) != 1 {
		t.Errorf("plan %d messages, %d events; want only the lis Observation", len(p.Messages), len(p.Events))
	}
	if f.dec.count() != 1 {
		t.Errorf("%d decisions for records the subscriber does not take", f.dec.count())
	}
}

func TestPlanPolicyErrorDenies(t *testing.T) {
	f := newFixture(t, app)
	f.dec.errType = "Observation"
	recs := []record.Sealed{
		f.add("r-obs", "P1", "Observation", "lis", nil, obsPlain()),
		f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 || header(p.Messages[0], "hub-record-id") != "r-pat" {
		t.Fatalf("messages %d, want only the Patient", len(p.Messages))
	}
	e := p.Events[0]
	if e.Code != audit.CodeRouteDeny || e.Reason != policy.ReasonEvalError || e.PolicyRevision != "sha256:fake" || e.Key != "rd|carecrest-app|key-r-obs" {
		t.Errorf("event %+v, want a fail-closed deny", e)
	}
	if _, ok := f.opener.requested["r-obs"]; ok {
		t.Error("record decrypted despite a policy error")
	}
}

func TestPlanCancelledIsAnError(t *testing.T) {
	f := newFixture(t, app)
	f.dec.errType = "Observation"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.router.Plan(ctx, []record.Sealed{f.add("r-obs", "P1", "Observation", "lis", nil, obsPlain())})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled (retry, not deny)", err)
	}
}

func TestPlanFailuresRouteNothing(t *testing.T) {
	boom := errors.New("keys: key manager unavailable")
	for name, setup := range map[string]func(*fixture){
		"opener":   func(f *fixture) { f.opener.err = boom },
		"consents": func(f *fixture) { f.consents.err = boom },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, app)
			recs := []record.Sealed{f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain())}
			setup(f)
			p, err := f.router.Plan(context.Background(), recs)
			if !errors.Is(err, boom) {
				t.Errorf("err %v, want the cause", err)
			}
			if len(p.Messages) != 0 || len(p.Events) != 0 {
				t.Error("a failed plan routes or audits something")
			}
		})
	}
}

func TestAuditEventsCarryNoPHI(t *testing.T) {
	f := newFixture(t, app, billing)
	f.consents.by["P2"] = []consent.Directive{{ID: "c-1", Status: "active", Decision: consent.Deny}}
	recs := []record.Sealed{
		f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()),
		f.add("r-obs", "P1", "Observation", "lis", []string{"ETH"}, obsPlain()),
		f.add("r-p2", "P2", "Patient", "ehr", nil, patientPlain()),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p.Events)
	for _, v := range phiValues {
		if strings.Contains(string(b), v) {
			t.Errorf("audit events carry PHI value %q", v)
		}
	}
	names := slices.Collect(maps.Keys(patientPlain()))
	names = append(names, slices.Collect(maps.Keys(obsPlain()))...)
	for _, e := range p.Events {
		for _, el := range append(slices.Clone(e.Disclosed), e.Masked...) {
			if !slices.Contains(names, el) {
				t.Errorf("event names %q, not an element name", el)
			}
		}
	}
}

func TestPlanDoesNotModifyOpenedData(t *testing.T) {
	meta := map[string]any{"security": []any{map[string]any{"code": "N"}}}
	shared := &sharedOpener{data: map[string]any{"resourceType": "Observation", "id": "r-sud", "meta": meta}}
	r, err := route.New(route.Config{Subscribers: []route.Subscriber{billing, app}}, route.Deps{
		Decider: &fakeDecider{grants: map[string]map[string][]string{
			"application|TREAT": {"Observation": {}}, "billing_system|HPAYMT": {"Observation": {}},
		}},
		Consents: &memConsents{}, Opener: shared,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := sealed("r-sud", "P1", "Observation", "lis", []string{"ETH"}, obsPlain())
	p, err := r.Plan(context.Background(), []record.Sealed{rec})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 {
		t.Fatalf("%d messages", len(p.Messages))
	}
	if strings.Contains(string(p.Messages[0].Value), "leaked") {
		t.Error("an element the decision does not allow was sent")
	}
	if len(list(meta["security"])) != 1 || meta["extension"] != nil {
		t.Errorf("opener's data modified: %v", meta)
	}
	if got := security(body(t, p.Messages[0])); !slices.Equal(got, []string{"N", "REDACTED", "42CFRPart2"}) {
		t.Errorf("security %v", got)
	}
}

// sharedOpener returns the same map on every call (and, misbehaving, every
// element whether requested or not).
type sharedOpener struct{ data map[string]any }

func (o *sharedOpener) Open(context.Context, *record.Sealed, []string) (map[string]any, error) {
	m := maps.Clone(o.data)
	m["valueQuantity"] = "leaked"
	return m, nil
}

func TestNewValidates(t *testing.T) {
	deps := route.Deps{Decider: &fakeDecider{}, Consents: &memConsents{}, Opener: &fakeOpener{}}
	if _, err := route.New(route.Config{Subscribers: []route.Subscriber{app, app}}, deps); err == nil {
		t.Error("duplicate subscriber accepted")
	}
	if _, err := route.New(route.Config{}, route.Deps{}); err == nil {
		t.Error("missing deps accepted")
	}
	r, err := route.New(route.Config{Subscribers: []route.Subscriber{app, billing}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Topics(); !slices.Equal(got, []string{"hub.out.carecrest-app", "hub.out.billing"}) {
		t.Errorf("topics %v", got)
	}
}
