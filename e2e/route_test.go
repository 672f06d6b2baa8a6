package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/demo"
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

	evs, err := h.Store.Query(context.Background(), audit.Filter{ActorID: "hie", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	routedPatients, deniedPatients := map[string]bool{}, map[string]bool{}
	routedRecords := 0
	for _, e := range evs {
		switch e.Code {
		case audit.CodeRouted:
			routedPatients[e.PatientID] = true
			routedRecords += len(e.RecordIDs)
		case audit.CodeRouteDeny:
			deniedPatients[e.PatientID] = true
		}
	}
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
