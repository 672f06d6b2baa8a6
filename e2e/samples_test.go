package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/internal/samples"
	"github.com/segmentio/kafka-go"
)

// TestSourceSystemsWithSharedSamples sends real HL7 v2 samples from the
// scheduling, pharmacy, billing and EHR (documents) systems through the
// hub, then reads each patient as a clinician and as a billing clerk: each
// record type reaches the roles allowed to see it and is withheld from the
// others.
//
// The clinician reads under a care relationship: for each sample patient
// the EHR also sends an admission naming dr.osei as attending (PV1-7).
func TestSourceSystemsWithSharedSamples(t *testing.T) {
	cases := []struct {
		source, sample, field, resourceType string
		clinician, billing                  bool // visible to
	}{
		{"scheduling", "hl7v2/10_ms_SIU-S12_v2.8.hl7", "appointments", "Appointment", true, false},
		{"pharmacy", "hl7v2/09_ms_RDE-O11_v2.8.hl7", "medicationRequests", "MedicationRequest", true, false},
		{"billing", "hl7v2/11_ms_DFT-P03_v2.8.hl7", "chargeItems", "ChargeItem", false, true},
		{"ehr", "hl7v2/12_ms_MDM-T02_v2.8.hl7", "documentReferences", "DocumentReference", true, false},
	}
	var msgs []kafka.Message
	assigned := map[string]bool{}
	for _, c := range cases {
		b, err := os.ReadFile(samples.Path(t, c.sample))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: ingest.TopicPrefix + c.source, Key: []byte(c.source), Value: b,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentHL7v2)}}})
		if care := careAssignment(t, b, "dr.osei"); !assigned[string(care.Key)] { // samples may share a patient
			assigned[string(care.Key)] = true
			msgs = append(msgs, care)
		}
	}
	h := startHub(t)
	publish(t, h, msgs)
	waitMessages(t, h, len(msgs))
	if rej, _ := h.Store.Query(context.Background(), audit.Filter{Action: audit.ActionReject}); len(rej) != 0 {
		t.Fatalf("rejected: %+v", rej)
	}
	clinician := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	billing := mint(t, h, "bc.ruiz", []string{"billing_clerk"}, []string{"HPAYMT"})
	for _, c := range cases {
		t.Run(c.source, func(t *testing.T) {
			writes, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: c.source, Action: audit.ActionWrite})
			var patient string
			for _, e := range writes {
				if e.RecordType == c.resourceType {
					patient = e.PatientID
				}
			}
			if patient == "" {
				t.Fatalf("no %s written by %s", c.resourceType, c.source)
			}
			q := `query($id: ID, $purpose: String) { patient(id: $id, purpose: $purpose) { ` + c.field + ` { id masked } } }`
			for _, who := range []struct {
				token, purpose string
				visible        bool
			}{{clinician, "TREAT", c.clinician}, {billing, "HPAYMT", c.billing}} {
				p := patientOf(t, gql(t, h, who.token, q, map[string]any{"id": patient, "purpose": who.purpose}))
				got, _ := p[c.field].([]any)
				if (len(got) > 0) != who.visible {
					t.Errorf("%s for purpose %s: %d records, want visible=%v", c.field, who.purpose, len(got), who.visible)
				}
			}
		})
	}
}

// careAssignment is an ADT^A01 from the EHR for the patient of the HL7 v2
// message msg (its PID segment) with practitioner as attending physician
// (PV1-7): it gives the practitioner a care relationship with the patient.
func careAssignment(t *testing.T, msg []byte, practitioner string) kafka.Message {
	t.Helper()
	var pid string
	for _, seg := range strings.FieldsFunc(string(msg), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if strings.HasPrefix(seg, "PID|") {
			pid = seg
			break
		}
	}
	if pid == "" {
		t.Fatal("careAssignment: message has no PID segment")
	}
	id := fmt.Sprintf("CARE%x", sha256.Sum256([]byte(pid+practitioner)))[:20]
	v := "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01^ADT_A01|" + id + "|P|2.5.1\r" + pid + "\rPV1|1|I|||||" + practitioner + "^Care^Team\r"
	return kafka.Message{Topic: ingest.TopicPrefix + "ehr", Key: []byte(id), Value: []byte(v),
		Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentHL7v2)}}}
}
