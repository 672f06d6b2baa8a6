package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/carecrest/hub/audit"
	"github.com/segmentio/kafka-go"
)

// TestMergedPatientView: registration knows one person under two MRNs
// (two enterprise patients, each with its lab result); an ADT^A40 merges the
// old MRN into the surviving one. Afterwards the GraphQL view by either MRN
// is the survivor with both results, a new result sent under the retired
// MRN joins it, the merge is audited once (even when redelivered), and the
// audit names enterprise ids only.
func TestMergedPatientView(t *testing.T) {
	h := startHub(t)
	oru := func(id, mrn, value string) kafka.Message {
		return hl7Msg("lis", "MSH|^~\\&|LIS|H|HUB|H|20261125||ORU^R01|"+id+"|P|2.5.1\rPID|1||"+mrn+"^^^H&1.2.3&ISO^MR||Merge^Pat||19700101|F\r"+
			"OBR|1|X|Y|2345-7^Glucose^LN\rOBX|1|NM|2345-7^Glucose^LN||"+value+"|mg/dL|70-99|N|||F\r")
	}
	adt := func(id, mrn string) kafka.Message {
		return hl7Msg("registration", "MSH|^~\\&|REG|H|HUB|H|20261125||ADT^A04|"+id+"|P|2.5.1\rPID|1||"+mrn+"^^^H&1.2.3&ISO^MR||Merge^Pat||19700101|F\rPV1|1|O|||||dr.osei^Osei^Kwame\r")
	}
	publish(t, h, []kafka.Message{adt("R1", "MRN-KEEP"), adt("R2", "MRN-OLD"), oru("L1", "MRN-KEEP", "90"), oru("L2", "MRN-OLD", "110")})
	waitMessages(t, h, 4)
	doc := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	q := `query($mrn: String) { patient(identifier: $mrn) { id observations { valueQuantity { value } } } }`
	view := func(mrn string) (string, []float64) {
		p := patientOf(t, gql(t, h, doc, q, map[string]any{"mrn": "urn:oid:1.2.3|" + mrn}))
		var vals []float64
		for _, o := range p["observations"].([]any) {
			v, _ := o.(map[string]any)["valueQuantity"].(map[string]any)["value"].(float64)
			vals = append(vals, v)
		}
		return p["id"].(string), vals
	}
	keep, before := view("MRN-KEEP")
	old, _ := view("MRN-OLD")
	if keep == old || len(before) != 1 {
		t.Fatalf("before the merge: %s %v and %s", keep, before, old)
	}

	a40 := hl7Msg("registration", "MSH|^~\\&|REG|H|HUB|H|20261125||ADT^A40^ADT_A39|M1|P|2.5.1\rEVN|A40|20261125\r"+
		"PID|1||MRN-KEEP^^^H&1.2.3&ISO^MR||Merge^Pat\rMRG|MRN-OLD^^^H&1.2.3&ISO^MR\r")
	publish(t, h, []kafka.Message{a40, oru("L3", "MRN-OLD", "130")})
	waitMessages(t, h, 6)
	// Redelivered: merged once, audited once. It stores nothing, so wait for
	// the message behind it (same topic and key, so same partition).
	publish(t, h, []kafka.Message{a40, adt("R3", "MRN-SENTINEL")})
	waitMessages(t, h, 7)

	for _, mrn := range []string{"MRN-KEEP", "MRN-OLD"} {
		id, vals := view(mrn)
		if id != keep || len(vals) != 3 {
			t.Errorf("after the merge, %s reads as %s with %v; want %s with all 3 results", mrn, id, vals, keep)
		}
	}
	// The survivor's access report covers the person: the read of the
	// retired id before the merge is in it.
	officer := mint(t, h, "po.nakamura", []string{"privacy_officer"}, []string{"HOPERAT"})
	rep := gql(t, h, officer, `query($p: ID) { accessReport(patient: $p) { entries { eventId } } }`, map[string]any{"p": keep})
	if len(rep.Errors) > 0 {
		t.Fatal(rep.Errors)
	}
	oldReads, _ := h.Store.Query(context.Background(), audit.Filter{PatientID: old, Action: audit.ActionRead})
	listed := map[string]bool{}
	for _, e := range rep.Data["accessReport"].(map[string]any)["entries"].([]any) {
		listed[e.(map[string]any)["eventId"].(string)] = true
	}
	if len(oldReads) == 0 {
		t.Fatal("no read of the retired id before the merge")
	}
	for _, e := range oldReads {
		if !listed[e.ID] {
			t.Errorf("the survivor's access report misses the pre-merge read %s of the retired id", e.ID)
		}
	}

	merges, err := h.Store.Query(context.Background(), audit.Filter{Codes: []string{audit.CodePatientMerge}})
	if err != nil {
		t.Fatal(err)
	}
	if len(merges) != 1 || merges[0].PatientID != keep {
		t.Fatalf("merge audit events: %+v", merges)
	}
	for _, s := range []string{"MRN-OLD", "MRN-KEEP", "Merge"} {
		if containsText(merges[0], s) {
			t.Errorf("the merge event quotes %q (PHI)", s)
		}
	}
}

func containsText(e audit.Event, s string) bool {
	for _, f := range append([]string{e.Reason, e.ActorID, e.PatientID, e.RecordType}, e.RecordIDs...) {
		if strings.Contains(f, s) {
			return true
		}
	}
	return false
}
