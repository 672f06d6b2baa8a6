package route_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
)

// inMessage sets the source message a fixture record came from.
func inMessage(s record.Sealed, msg string) record.Sealed {
	s.MessageID = msg
	return s
}

func bundleSub(base route.Subscriber, name, typ string) route.Subscriber {
	s := base
	s.Name, s.Format, s.BundleType = name, route.FormatBundle, typ
	return s
}

// entries returns a Bundle's entries.
func entries(t *testing.T, b map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range list(b["entry"]) {
		out = append(out, e.(map[string]any))
	}
	return out
}

var uuidURN = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestPlanBundleCollection: one Bundle per source message and patient, in
// the order of the batch, each entry masked as on its own, the part 2
// notice kept, every record audited with the Bundle id.
func TestPlanBundleCollection(t *testing.T) {
	hie := bundleSub(app, "hie", "")
	bill := bundleSub(billing, "billing", "")
	f := newFixture(t, hie, bill)
	f.consents.by["P2"] = []consent.Directive{{ID: "c-1", PatientID: "P2", Status: "active", Decision: consent.Deny}}
	recs := []record.Sealed{
		inMessage(f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()), "ADT-1"),
		inMessage(f.add("r-sud", "P1", "Observation", "ehr", []string{"ETH"}, obsPlain()), "ADT-1"),
		inMessage(f.add("r-glu", "P1", "Observation", "lis", nil, obsPlain()), "ORU-1"),
		// One HIE Bundle naming two patients: one Bundle each; P2 opted out.
		inMessage(f.add("r-p2", "P2", "Patient", "hie", nil, patientPlain()), "Bundle/b1"),
		inMessage(f.add("r-p3", "P3", "Patient", "hie", nil, patientPlain()), "Bundle/b1"),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	topics := byTopic(p)
	hm, bm := topics["hub.out.hie"], topics["hub.out.billing"]
	if len(hm) != 3 || len(bm) != 2 {
		t.Fatalf("hie got %d messages, billing %d; want 3 Bundles (ADT-1, ORU-1, P3) and 2 (P1, P3 Patients)", len(hm), len(bm))
	}
	wantKeys := []string{"P1", "P1", "P3"}
	for i, m := range hm {
		if string(m.Key) != wantKeys[i] {
			t.Errorf("hie message %d key %q, want %q", i, m.Key, wantKeys[i])
		}
	}

	first := body(t, hm[0])
	if first["resourceType"] != "Bundle" || first["type"] != "collection" || first["timestamp"] != now.Format("2006-01-02T15:04:05Z07:00") {
		t.Errorf("Bundle head %v %v %v", first["resourceType"], first["type"], first["timestamp"])
	}
	id, _ := first["id"].(string)
	if !strings.HasPrefix(id, "b-") || header(hm[0], route.HeaderBundleID) != id ||
		header(hm[0], route.HeaderRecordIDs) != "r-pat,r-sud" || header(hm[0], route.HeaderPurpose) != "TREAT" ||
		header(hm[0], route.HeaderContentType) != route.ContentFHIRJSON {
		t.Errorf("Bundle %s headers %v", id, hm[0].Headers)
	}
	es := entries(t, first)
	if len(es) != 2 {
		t.Fatalf("%d entries, want Patient and Observation of ADT-1", len(es))
	}
	urls := map[string]bool{}
	for _, e := range es {
		u, _ := e["fullUrl"].(string)
		if !uuidURN.MatchString(u) || urls[u] {
			t.Errorf("fullUrl %q not a unique urn:uuid", u)
		}
		urls[u] = true
		if _, ok := e["request"]; ok {
			t.Error("collection entry has a request")
		}
	}
	pat := es[0]["resource"].(map[string]any)
	if pat["resourceType"] != "Patient" || pat["id"] != "r-pat" || pat["telecom"] == nil {
		t.Errorf("HIE Patient entry %v", pat)
	}
	sud := es[1]["resource"].(map[string]any)
	if !slices.Contains(security(sud), "42CFRPart2") || !strings.Contains(string(hm[0].Value), route.Part2Notice) {
		t.Errorf("ETH entry lacks the part 2 marker and notice: %v", sud["meta"])
	}
	if !slices.Contains(security(first), "42CFRPart2") {
		t.Errorf("Bundle with a part 2 entry lacks the marker in Bundle.meta: %v", first["meta"])
	}
	if second := body(t, hm[1]); second["meta"] != nil || len(entries(t, second)) != 1 {
		t.Errorf("ORU-1 Bundle %v", second)
	}

	// Billing: minimum necessary, exactly as a single message would be.
	bp := entries(t, body(t, bm[0]))[0]["resource"].(map[string]any)
	if _, ok := bp["telecom"]; ok || !slices.Contains(security(bp), "REDACTED") || bp["name"] == nil {
		t.Errorf("billing Patient entry not masked: %v", bp)
	}
	if strings.Contains(string(bm[0].Value), "555-0100") {
		t.Error("billing Bundle carries the phone number")
	}
	for _, m := range p.Messages {
		if string(m.Key) == "P2" {
			t.Fatal("opted-out patient routed in a Bundle")
		}
	}

	// Audit: one event per record and subscriber, as for single messages,
	// the routed ones naming their Bundle.
	var routed, denied int
	for _, e := range p.Events {
		switch e.Code {
		case audit.CodeRouted:
			routed++
			if !strings.HasPrefix(e.RequestID, "b-") || len(e.RecordIDs) != 1 {
				t.Errorf("routed event %s %v request %q", e.ActorID, e.RecordIDs, e.RequestID)
			}
			if e.ActorID == "hie" && e.RecordIDs[0] == "r-sud" && e.RequestID != id {
				t.Errorf("r-sud event names Bundle %q, want %q", e.RequestID, id)
			}
		case audit.CodeRouteDeny:
			denied++
			if e.PatientID != "P2" || e.RequestID != "" {
				t.Errorf("deny event %+v", e)
			}
		}
	}
	if routed != 6 || denied != 2 {
		t.Errorf("%d routed and %d denied events, want 6 (hie 4, billing 2) and 2 (P2)", routed, denied)
	}

	// A retried batch plans the same Bundles, byte for byte.
	again, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Messages {
		if string(p.Messages[i].Value) != string(again.Messages[i].Value) {
			t.Errorf("message %d differs between plans", i)
		}
	}
}

// TestPlanBundleTransaction: PUT entries; the Patient entry is the
// enterprise patient, so the other entries' subject references resolve in
// the transaction.
func TestPlanBundleTransaction(t *testing.T) {
	f := newFixture(t, bundleSub(app, "hie", route.BundleTransaction))
	recs := []record.Sealed{
		inMessage(f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()), "ADT-1"),
		inMessage(f.add("r-obs", "P1", "Observation", "ehr", nil, obsPlain()), "ADT-1"),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 {
		t.Fatalf("%d messages, want one transaction", len(p.Messages))
	}
	b := body(t, p.Messages[0])
	if b["type"] != "transaction" {
		t.Errorf("type %v", b["type"])
	}
	es := entries(t, b)
	req := func(e map[string]any) string {
		r, _ := e["request"].(map[string]any)
		return r["method"].(string) + " " + r["url"].(string)
	}
	if got := req(es[0]); got != "PUT Patient/P1" {
		t.Errorf("Patient request %q", got)
	}
	if got := req(es[1]); got != "PUT Observation/r-obs" {
		t.Errorf("Observation request %q", got)
	}
	if id := es[0]["resource"].(map[string]any)["id"]; id != "P1" {
		t.Errorf("Patient entry id %v, want the enterprise id", id)
	}
	ref := es[1]["resource"].(map[string]any)["subject"].(map[string]any)["reference"]
	if ref != "Patient/P1" {
		t.Errorf("Observation subject %v", ref)
	}
	if header(p.Messages[0], route.HeaderRecordIDs) != "r-pat,r-obs" {
		t.Errorf("record ids %q", header(p.Messages[0], route.HeaderRecordIDs))
	}
}

// TestPlanBundleSplitsLargeMessages: a source message whose records exceed
// MaxBundleBytes becomes several complete Bundles, every record in exactly
// one of them.
func TestPlanBundleSplitsLargeMessages(t *testing.T) {
	f := newFixture(t, bundleSub(app, "hie", ""))
	big := strings.Repeat("x", 300<<10)
	var recs []record.Sealed
	for _, id := range []string{"o1", "o2", "o3", "o4", "o5"} {
		plain := obsPlain()
		plain["note"] = []any{map[string]any{"text": big}}
		recs = append(recs, inMessage(f.add(id, "P1", "Observation", "lis", nil, plain), "ORU-big"))
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) < 2 {
		t.Fatalf("%d messages, want the records split over several Bundles", len(p.Messages))
	}
	var got []string
	ids := map[string]bool{}
	for _, m := range p.Messages {
		if len(m.Value) > route.MaxBundleBytes {
			t.Errorf("Bundle of %d bytes exceeds %d", len(m.Value), route.MaxBundleBytes)
		}
		b := body(t, m)
		ids[b["id"].(string)] = true
		for _, e := range entries(t, b) {
			got = append(got, e["resource"].(map[string]any)["id"].(string))
		}
	}
	if !slices.Equal(got, []string{"o1", "o2", "o3", "o4", "o5"}) || len(ids) != len(p.Messages) {
		t.Errorf("entries %v in %d Bundles with %d ids", got, len(p.Messages), len(ids))
	}
}

// TestPlanMixedFormats: a resource subscriber and a bundle subscriber of
// the same records get their own shapes.
func TestPlanMixedFormats(t *testing.T) {
	f := newFixture(t, app, bundleSub(app, "hie", ""))
	recs := []record.Sealed{
		inMessage(f.add("r-pat", "P1", "Patient", "ehr", nil, patientPlain()), "ADT-1"),
		inMessage(f.add("r-obs", "P1", "Observation", "ehr", nil, obsPlain()), "ADT-1"),
	}
	p, err := f.router.Plan(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	topics := byTopic(p)
	if len(topics["hub.out.carecrest-app"]) != 2 || len(topics["hub.out.hie"]) != 1 {
		t.Fatalf("app %d, hie %d messages", len(topics["hub.out.carecrest-app"]), len(topics["hub.out.hie"]))
	}
	for _, m := range topics["hub.out.carecrest-app"] {
		if body(t, m)["resourceType"] == "Bundle" || header(m, route.HeaderRecordID) == "" {
			t.Error("resource subscriber got a Bundle")
		}
	}
	var kinds []string
	for _, m := range p.Messages {
		kinds = append(kinds, m.Topic)
	}
	// The Bundle sits where its first record is: after the app's Patient.
	if !slices.Equal(kinds, []string{"hub.out.carecrest-app", "hub.out.hie", "hub.out.carecrest-app"}) {
		t.Errorf("message order %v", kinds)
	}
}

func TestBundleConfig(t *testing.T) {
	ok := route.Subscriber{Name: "hie", Kind: "system", Roles: []string{"hie_participant"}, Purpose: "TREAT", Types: []string{"Patient"}}
	with := func(f func(*route.Subscriber)) route.Config {
		s := ok
		f(&s)
		return route.Config{Subscribers: []route.Subscriber{s}}
	}
	for _, tt := range []struct {
		name string
		cfg  route.Config
		want string
	}{
		{"bundle", with(func(s *route.Subscriber) { s.Format = "bundle" }), ""},
		{"transaction", with(func(s *route.Subscriber) { s.Format, s.BundleType = "bundle", "transaction" }), ""},
		{"unknown format", with(func(s *route.Subscriber) { s.Format = "hl7" }), `format "hl7" unknown`},
		{"document", with(func(s *route.Subscriber) { s.Format, s.BundleType = "bundle", "document" }), "Composition"},
		{"batch", with(func(s *route.Subscriber) { s.Format, s.BundleType = "bundle", "batch" }), `bundle_type "batch" unknown`},
		{"type without bundle", with(func(s *route.Subscriber) { s.BundleType = "collection" }), "only valid with format bundle"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	c := with(func(s *route.Subscriber) { s.Format = "bundle" })
	c.Defaults()
	if c.Subscribers[0].BundleType != route.BundleCollection {
		t.Errorf("default bundle type %q", c.Subscribers[0].BundleType)
	}
	c = with(func(*route.Subscriber) {})
	c.Defaults()
	if c.Subscribers[0].Format != route.FormatResource || c.Subscribers[0].BundleType != "" {
		t.Errorf("defaults %+v", c.Subscribers[0])
	}
	// New does not write its defaults into the caller's configuration.
	c = with(func(s *route.Subscriber) { s.Format = "bundle" })
	if _, err := route.New(c, route.Deps{Decider: &fakeDecider{}, Consents: &memConsents{}, Opener: &fakeOpener{}}); err != nil {
		t.Fatal(err)
	}
	if c.Subscribers[0].BundleType != "" {
		t.Error("New modified the caller's subscribers")
	}
}

// BenchmarkPlan plans a batch of 10 messages of 10 Observations each for
// one subscriber, as single resources and as Bundles.
func BenchmarkPlan(b *testing.B) {
	for _, format := range []string{route.FormatResource, route.FormatBundle} {
		b.Run(format, func(b *testing.B) {
			sub := app
			sub.Format = format
			f := &fixture{dec: &fakeDecider{grants: grants}, consents: &memConsents{}, opener: &fakeOpener{plain: map[string]map[string]any{}}}
			r, err := route.New(route.Config{Subscribers: []route.Subscriber{sub}}, route.Deps{
				Decider: f.dec, Consents: f.consents, Opener: f.opener, Now: func() time.Time { return now },
			})
			if err != nil {
				b.Fatal(err)
			}
			var recs []record.Sealed
			for m := range 10 {
				for o := range 10 {
					id := "r-" + string(rune('a'+m)) + string(rune('a'+o))
					recs = append(recs, inMessage(f.add(id, "P1", "Observation", "lis", nil, obsPlain()), "ORU-"+string(rune('a'+m))))
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Plan(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
