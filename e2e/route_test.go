package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/route"
	"github.com/segmentio/kafka-go"
)

// TestRoutingToTheHIE: the regional HIE subscribes to patients and
// observations for treatment. Every routed record passed the same policy
// and consent decision as a read and is audited as a disclosure; the
// patient who opted out is not routed (and the denial is audited).
func TestRoutingToTheHIE(t *testing.T) {
	cfg := testConfig(t)
	cfg.Route.Subscribers = []route.Subscriber{{
		Name: "hie", Kind: route.KindSystem, Roles: []string{"hie_participant"}, Purpose: "TREAT",
		Types: []string{"Patient", "Observation"},
	}}
	h := startWith(t, cfg)
	// The opt-out arrives first, so the opted-out patient's data is never
	// routed.
	traffic := demo.Generate(4, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	var consentMsgs, rest []kafka.Message
	for _, m := range traffic.Messages {
		if m.Topic == "hub.in.hie" {
			consentMsgs = append(consentMsgs, m)
		} else {
			rest = append(rest, m)
		}
	}
	// The consent names the patient by MRN; the patient index links it to
	// the patient the EHR registers afterwards.
	publishTB(t, h, consentMsgs)
	waitMessagesTB(t, h, 1)
	publishTB(t, h, rest)
	waitMessagesTB(t, h, len(traffic.Messages))

	// Routing follows the durable commit that waitMessages sees: wait for
	// the route decisions of every patient.
	var routedPatients, deniedPatients map[string]bool
	routedRecords := 0
	waitFor(t, 30*time.Second, "route decisions for every patient", func() bool {
		evs, err := h.Store.Query(context.Background(), audit.Filter{ActorID: "hie", Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		routedPatients, deniedPatients, routedRecords = map[string]bool{}, map[string]bool{}, 0
		for _, e := range evs {
			switch e.Code {
			case audit.CodeRouted:
				routedPatients[e.PatientID] = true
				routedRecords += len(e.RecordIDs)
			case audit.CodeRouteDeny:
				deniedPatients[e.PatientID] = true
			}
		}
		return len(routedPatients)+len(deniedPatients) >= 4
	})
	if len(deniedPatients) != 1 {
		t.Fatalf("route denials for %d patients, want the one who opted out", len(deniedPatients))
	}
	for p := range deniedPatients {
		if routedPatients[p] {
			t.Fatal("the opted-out patient's records were routed")
		}
	}
	if len(routedPatients) != 3 {
		t.Fatalf("routed patients = %d, want 3", len(routedPatients))
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.Brokers(), GroupID: "hie-consumer", GroupTopics: []string{"hub.out.hie"},
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for got := 0; got < routedRecords; got++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read hub.out.hie: %v (got %d of %d)", err, got, routedRecords)
		}
		var res map[string]any
		if err := json.Unmarshal(m.Value, &res); err != nil {
			t.Fatal(err)
		}
		if deniedPatients[string(m.Key)] {
			t.Fatal("a message for the opted-out patient reached the HIE")
		}
		if res["resourceType"] != "Patient" && res["resourceType"] != "Observation" {
			t.Fatalf("routed a %v", res["resourceType"])
		}
	}
}

// TestFHIRBundlesInAndOut: the HIE sends a document Bundle whose Consent
// (an opt-out) is registered as a consent version; the EHR sends a
// transaction Bundle. Out, the HIE receives each source message's records
// for a patient as one collection Bundle, billing as one transaction
// Bundle masked to minimum necessary, and the opted-out patient's later
// result reaches neither (the denial audited). Each routed record is
// audited as a disclosure naming its Bundle.
func TestFHIRBundlesInAndOut(t *testing.T) {
	cfg := testConfig(t)
	cfg.Route.Subscribers = []route.Subscriber{
		{Name: "hie", Kind: route.KindSystem, Roles: []string{"hie_participant"}, Purpose: "TREAT",
			Types: []string{"Patient", "Observation"}, Sources: []string{"ehr"}, Format: route.FormatBundle},
		{Name: "billing", Kind: route.KindSystem, Roles: []string{"billing_system"}, Purpose: "HPAYMT",
			Types: []string{"Patient", "Coverage", "Observation"}, Sources: []string{"ehr"}, Format: route.FormatBundle, BundleType: route.BundleTransaction},
	}
	h := startWith(t, cfg)
	fhirMsg := func(topic, body string) kafka.Message {
		return kafka.Message{Topic: topic, Key: []byte(topic), Value: []byte(body),
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentFHIRJSON)}}}
	}
	optOut := `{"resourceType":"Bundle","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:7d0c6a4e-0000-4000-8000-00000000d0c1"},
	  "timestamp":"2026-11-20T10:00:00Z","entry":[
	  {"fullUrl":"urn:uuid:7d0c6a4e-0000-4000-8000-000000000001","resource":{"resourceType":"Composition","status":"final",
	    "type":{"coding":[{"system":"http://loinc.org","code":"59284-0","display":"Consent"}]},"subject":{"reference":"urn:uuid:7d0c6a4e-0000-4000-8000-000000000002"},
	    "date":"2026-11-20T10:00:00Z","author":[{"display":"Regional HIE"}],"title":"Opt-out"}},
	  {"fullUrl":"urn:uuid:7d0c6a4e-0000-4000-8000-000000000002","resource":{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3","value":"MRN-B1"}]}},
	  {"fullUrl":"urn:uuid:7d0c6a4e-0000-4000-8000-000000000003","resource":{"resourceType":"Consent","id":"hie-optout-b1","status":"active",
	    "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
	    "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
	    "patient":{"reference":"urn:uuid:7d0c6a4e-0000-4000-8000-000000000002"},"dateTime":"2026-01-01T00:00:00Z",
	    "provision":{"type":"deny"}}}]}`
	ehrBundle := func(mrn, id string) string {
		return `{"resourceType":"Bundle","type":"transaction","id":"` + id + `","entry":[
		  {"fullUrl":"urn:uuid:5e1f0c2a-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3","value":"` + mrn + `"}],
		    "name":[{"family":"Ferreira","given":["Lu"]}],"telecom":[{"system":"phone","value":"555-0142"}]},"request":{"method":"PUT","url":"Patient?identifier=` + mrn + `"}},
		  {"fullUrl":"urn:uuid:5e1f0c2a-0000-4000-8000-000000000002","resource":{"resourceType":"Observation","status":"final",
		    "code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"urn:uuid:5e1f0c2a-0000-4000-8000-000000000001"},
		    "valueQuantity":{"value":13.2,"unit":"g/dL"}},"request":{"method":"POST","url":"Observation"}},
		  {"fullUrl":"urn:uuid:5e1f0c2a-0000-4000-8000-000000000003","resource":{"resourceType":"Coverage","status":"active",
		    "beneficiary":{"reference":"urn:uuid:5e1f0c2a-0000-4000-8000-000000000001"},"payor":[{"display":"Acme Health"}]},"request":{"method":"POST","url":"Coverage"}}]}`
	}
	publishTB(t, h, []kafka.Message{fhirMsg("hub.in.hie", optOut)})
	waitMessagesTB(t, h, 1)
	publishTB(t, h, []kafka.Message{fhirMsg("hub.in.ehr", ehrBundle("MRN-B2", "tx-b2")), fhirMsg("hub.in.ehr", ehrBundle("MRN-B1", "tx-b1"))})
	waitMessagesTB(t, h, 3)
	if rej := events(t, h, audit.Filter{Action: audit.ActionReject}, nil); len(rej) != 0 {
		t.Fatalf("rejected: %+v", rej)
	}
	for _, e := range events(t, h, audit.Filter{Codes: []string{audit.CodeRecordWriteDeny}}, nil) {
		t.Errorf("%s may not write %s: %s", e.ActorID, e.RecordType, e.Reason)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The Consent inside the document Bundle is a registered consent version.
	w := waitEvent(t, h, audit.Filter{ActorID: "hie", Action: audit.ActionConsent, RecordType: "Consent"}, nil, "Consent registered and audited")
	b1 := w.PatientID
	cs, err := h.Store.Consents(context.Background(), b1)
	if err != nil || len(cs) != 1 || cs[0].Decision != consent.Deny || cs[0].Status != "active" {
		t.Fatalf("consents of the opted-out patient: %+v, %v", cs, err)
	}

	// B2: one Bundle per subscriber for the EHR's transaction.
	routed := waitEvent(t, h, audit.Filter{ActorID: "billing", Codes: []string{audit.CodeRouted}, RecordType: "Coverage"}, nil, "Coverage routed to billing")
	b2 := routed.PatientID
	if b2 == b1 {
		t.Fatal("the two patients are one")
	}
	hie := waitOutbound(t, h, "hub.out.hie", b2, "Observation")
	if hie.bundle != route.BundleCollection {
		t.Errorf("HIE got a %q Bundle, want collection", hie.bundle)
	}
	var hieB map[string]any
	if err := json.Unmarshal(hie.msg.Value, &hieB); err != nil {
		t.Fatal(err)
	}
	if n := len(hieB["entry"].([]any)); n != 2 {
		t.Errorf("HIE Bundle has %d entries, want Patient and Observation", n)
	}
	bill := waitOutbound(t, h, "hub.out.billing", b2, "Coverage")
	if bill.bundle != route.BundleTransaction || strings.Contains(string(bill.msg.Value), "555-0142") {
		t.Errorf("billing got a %q Bundle; phone present: %v", bill.bundle, strings.Contains(string(bill.msg.Value), "555-0142"))
	}
	var billB map[string]any
	if err := json.Unmarshal(bill.msg.Value, &billB); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, e := range billB["entry"].([]any) {
		urls = append(urls, e.(map[string]any)["request"].(map[string]any)["url"].(string))
	}
	if len(urls) != 2 || urls[0] != "Patient/"+b2 || !strings.HasPrefix(urls[1], "Coverage/") {
		t.Errorf("billing transaction requests %v, want Patient/%s and the Coverage (the Observation is not billing's)", urls, b2)
	}
	for _, e := range events(t, h, audit.Filter{PatientID: b2, Codes: []string{audit.CodeRouted}}, nil) {
		want := ""
		for _, m := range []outbound{hie, bill} {
			if m.msg.Topic == e.Application {
				for _, hd := range m.msg.Headers {
					if hd.Key == route.HeaderBundleID {
						want = string(hd.Value)
					}
				}
			}
		}
		if e.RequestID != want {
			t.Errorf("%s %s disclosure names Bundle %q, want %q", e.ActorID, e.RecordType, e.RequestID, want)
		}
	}
	if denied := events(t, h, audit.Filter{ActorID: "billing", PatientID: b2, Codes: []string{audit.CodeRouteDeny}}, nil); len(denied) != 1 || denied[0].RecordType != "Observation" {
		t.Errorf("billing denials for B2: %+v, want the Observation", denied)
	}

	// B1 opted out: the EHR's data for B1 reaches no one, and says why.
	waitEvent(t, h, audit.Filter{ActorID: "hie", PatientID: b1, Codes: []string{audit.CodeRouteDeny}, RecordType: "Observation"},
		func(e audit.Event) bool { return strings.Contains(e.Reason, "opt") }, "opt-out denial audited")
	if ev := events(t, h, audit.Filter{PatientID: b1, Codes: []string{audit.CodeRouted}}, nil); len(ev) != 0 {
		t.Fatalf("opted-out patient routed: %+v", ev)
	}
	for _, topic := range []string{"hub.out.hie", "hub.out.billing"} {
		for _, o := range outboundResources(t, h, topic) {
			if o.patient == b1 {
				t.Errorf("%s received the opted-out patient's %v", topic, o.resource["resourceType"])
			}
		}
	}
}
