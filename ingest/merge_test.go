package ingest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
	"github.com/segmentio/kafka-go"
)

var offset int64

// message is an inbound message on topic hub.in.<source>, each at its own
// offset.
func message(source, contentType, value string) kafka.Message {
	offset++
	return kafka.Message{
		Topic: TopicPrefix + source, Offset: offset, Value: []byte(value),
		Headers: []kafka.Header{{Key: "content-type", Value: []byte(contentType)}},
	}
}

func hl7msg(id, typ string, segments ...string) kafka.Message {
	source := "ehr"
	if strings.HasPrefix(typ, "ORU") {
		source = "lis"
	}
	return message(source, ContentHL7v2, "MSH|^~\\&|EHR|H|HUB|H|20261125||"+typ+"|"+id+"|P|2.5.1\r"+strings.Join(segments, "\r")+"\r")
}

const (
	pidOld  = "PID|1||OLD-1^^^H&1.2.3&ISO^MR||Everyman^Adam||19610615|M|||2222 Home Street^^Greensboro^NC^27401"
	pidKeep = "PID|1||KEEP-1^^^H&1.2.3&ISO^MR||Everyman^Adam||19610615|M"
)

var (
	mrnOld  = record.Identifier{System: "urn:oid:1.2.3", Value: "OLD-1"}
	mrnKeep = record.Identifier{System: "urn:oid:1.2.3", Value: "KEEP-1"}
)

func (r *rig) pipeline(t *testing.T) (*Pipeline, *mpi.Index) {
	t.Helper()
	p, err := New(Config{}, r.deps)
	if err != nil {
		t.Fatal(err)
	}
	return p, r.deps.Resolver.(*mpi.Index)
}

func process(t *testing.T, p *Pipeline, msgs ...kafka.Message) Stats {
	t.Helper()
	st, err := p.Process(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func lookup(t *testing.T, x *mpi.Index, id record.Identifier) string {
	t.Helper()
	p, ok, err := x.Lookup(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("Lookup: %v %v", ok, err)
	}
	return p
}

func mergeEventsOf(t *testing.T, r *rig) []audit.Event {
	t.Helper()
	evs, err := r.store.Query(context.Background(), audit.Filter{Codes: []string{audit.CodePatientMerge}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestMergeThenRetiredIdentifier: ADT A40 merges OLD-1 into KEEP-1; a later
// ORU for OLD-1 links to the survivor; the merge is audited once, even on
// redelivery.
func TestMergeThenRetiredIdentifier(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	p, x := r.pipeline(t)
	process(t, p, hl7msg("A1", "ADT^A01", pidOld), hl7msg("A2", "ADT^A01", pidKeep))
	retired, survivor := lookup(t, x, mrnOld), lookup(t, x, mrnKeep)
	if retired == survivor {
		t.Fatal("two patients before the merge are one")
	}

	a40 := hl7msg("M1", "ADT^A40", pidKeep, "MRG|OLD-1^^^H&1.2.3&ISO^MR")
	if st := process(t, p, a40); st.Rejected != 0 {
		t.Fatalf("merge rejected: %+v", st)
	}
	if got := lookup(t, x, mrnOld); got != survivor {
		t.Fatalf("Lookup(retired MRN) = %s, want the survivor %s", got, survivor)
	}
	s, members, err := x.Group(ctx, retired)
	if err != nil || s != survivor || !slices.Equal(members, []string{survivor, retired}) {
		t.Fatalf("Group = %s %v %v", s, members, err)
	}

	oru := hl7msg("R1", "ORU^R01", pidOld, "OBR|1||F1|24331-1^Lipid panel^LN", "OBX|1|NM|2093-3^Cholesterol^LN||182|mg/dL|<200||||F")
	process(t, p, oru)
	recs, err := r.store.PatientRecords(ctx, survivor, []string{"Observation"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("survivor's Observations = %d, %v; want the new ORU's", len(recs), err)
	}

	// Redelivery: the merge is neither repeated nor audited again.
	process(t, p, a40)
	p2, _ := New(Config{}, Deps{Decode: r.deps.Decode, Resolver: mpi.New(testIndexKey(t, r), r.store),
		Decider: r.deps.Decider, Sealer: r.deps.Sealer, Store: r.deps.Store, DeadLetter: r.deps.DeadLetter})
	process(t, p2, a40)
	evs := mergeEventsOf(t, r)
	if len(evs) != 1 {
		t.Fatalf("%d merge events, want 1", len(evs))
	}
	e := evs[0]
	if e.PatientID != survivor || !strings.Contains(e.Reason, retired) || !strings.Contains(e.Reason, survivor) ||
		e.Action != ActionMerge || e.Outcome != audit.OutcomeAllow || len(e.RecordIDs) != 1 {
		t.Errorf("merge event = %+v", e)
	}
	for _, s := range []string{e.Reason, e.PatientID, strings.Join(e.RecordIDs, ",")} {
		if strings.Contains(s, "OLD-1") || strings.Contains(s, "KEEP-1") || strings.Contains(s, "Everyman") {
			t.Errorf("merge event carries PHI: %q", s)
		}
	}
	if al, _ := x.Aliases(ctx, survivor); len(al) != 1 {
		t.Errorf("aliases after redelivery = %v", al)
	}
}

// testIndexKey returns the index key the rig's MPI uses.
func testIndexKey(t *testing.T, r *rig) []byte {
	t.Helper()
	type dataKeyer interface {
		DataKey(ctx context.Context, owner string) ([]byte, error)
	}
	k, err := r.deps.Sealer.(dataKeyer).DataKey(context.Background(), "hub:index")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMergeInOneBatch: the merge and records of both sides in one batch.
func TestMergeInOneBatch(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	p, x := r.pipeline(t)
	st := process(t, p,
		hl7msg("B1", "ADT^A01", pidOld),
		hl7msg("B2", "ADT^A40", pidKeep, "MRG|OLD-1^^^H&1.2.3&ISO^MR"),
		hl7msg("B3", "ORU^R01", pidOld, "OBR|1||F1|24331-1^Lipid panel^LN", "OBX|1|NM|2093-3^Cholesterol^LN||182|mg/dL|<200||||F"))
	if st.Rejected != 0 || st.Records != 4 {
		t.Fatalf("stats = %+v", st)
	}
	survivor := lookup(t, x, mrnKeep)
	if got := lookup(t, x, mrnOld); got != survivor {
		t.Fatalf("Lookup(retired) = %s, want %s", got, survivor)
	}
	_, members, err := x.Group(ctx, survivor)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, m := range members {
		recs, _ := r.store.PatientRecords(ctx, m, nil)
		n += len(recs)
	}
	if n != 4 {
		t.Fatalf("the merged patient's group holds %d records, want 4", n)
	}
}

// TestMergeCycleRejected: merging the survivor back into the retired
// patient is refused and dead-lettered with its reason.
func TestMergeCycleRejected(t *testing.T) {
	r := newRig(t)
	p, x := r.pipeline(t)
	process(t, p, hl7msg("C1", "ADT^A01", pidOld), hl7msg("C2", "ADT^A01", pidKeep))
	process(t, p, hl7msg("C3", "ADT^A40", pidKeep, "MRG|OLD-1^^^H&1.2.3&ISO^MR"))
	st := process(t, p, hl7msg("C4", "ADT^A40", pidOld, "MRG|KEEP-1^^^H&1.2.3&ISO^MR"))
	if st.Rejected != 1 {
		t.Fatalf("reverse merge: %+v, want it rejected", st)
	}
	evs, err := r.store.Query(context.Background(), audit.Filter{Codes: []string{audit.CodeIngestRejected}, Limit: 10})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Reason, "merge refused") {
		t.Fatalf("reject events = %+v, %v", evs, err)
	}
	if got := lookup(t, x, mrnKeep); got != lookup(t, x, mrnOld) {
		t.Fatal("the refused merge split the patient")
	}
	if n := len(mergeEventsOf(t, r)); n != 1 {
		t.Fatalf("%d merge events, want 1", n)
	}
}

func TestMergeSamples(t *testing.T) {
	data, err := os.ReadFile(samples.Path(t, "hl7v2/05_ms_ADT-A40_two-merges_v2.8.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	p, x := r.pipeline(t)
	if st := process(t, p, message("ehr", ContentHL7v2, string(data))); st.Rejected != 0 {
		t.Fatalf("%+v", st)
	}
	for _, pair := range [][2]string{{"56789", "12345"}, {"569", "145"}} {
		old := lookup(t, x, record.Identifier{System: "BCBS", Value: pair[0]})
		keep := lookup(t, x, record.Identifier{System: "BCBS", Value: pair[1]})
		if old != keep {
			t.Errorf("MRG %s not merged into PID %s", pair[0], pair[1])
		}
	}
	if n := len(mergeEventsOf(t, r)); n != 2 {
		t.Errorf("%d merge events, want 2", n)
	}
}

// TestFHIRPatientLinkReplaces: a FHIR Patient whose link replaces another
// merges it.
func TestFHIRPatientLinkReplaces(t *testing.T) {
	r := newRig(t)
	p, x := r.pipeline(t)
	process(t, p, message("ehr", ContentFHIRJSON, `{"resourceType":"Patient","id":"old","identifier":[{"system":"urn:oid:9.9","value":"F-OLD"}]}`))
	process(t, p, message("ehr", ContentFHIRJSON, `{"resourceType":"Patient","id":"new","identifier":[{"system":"urn:oid:9.9","value":"F-NEW"}],
		"link":[{"other":{"reference":"Patient/old"},"type":"replaces"}]}`))
	if lookup(t, x, record.Identifier{System: "urn:oid:9.9", Value: "F-OLD"}) != lookup(t, x, record.Identifier{System: "urn:oid:9.9", Value: "F-NEW"}) {
		t.Fatal("Patient.link replaces did not merge")
	}
	if n := len(mergeEventsOf(t, r)); n != 1 {
		t.Fatalf("%d merge events", n)
	}
}

func TestRelationshipsFromIngest(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	p, x := r.pipeline(t)
	process(t, p,
		hl7msg("E1", "ADT^A01", pidOld, "PV1|1|I|W^1^1||||dr-osei^Osei^Kwame|||MED"),
		message("ehr", ContentFHIRJSON, `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
			"subject":{"reference":"Patient?identifier=urn:oid:1.2.3|KEEP-1"},
			"participant":[{"individual":{"reference":"Practitioner/f002","display":"P. Voigt"}},
				{"individual":{"reference":"PractitionerRole/r1"}}]}`))
	old, keep := lookup(t, x, mrnOld), lookup(t, x, mrnKeep)
	for _, c := range []struct {
		who, epi string
		want     bool
	}{
		{"Practitioner/dr-osei", old, true},
		{"https://fhir.carecrest.example/Practitioner/dr-osei", old, true},
		{"Practitioner/dr-osei", keep, false},
		{"Practitioner/f002", keep, true},
		{"Practitioner/f002", old, false},
		{"PractitionerRole/r1", keep, false},
	} {
		if got, err := x.HasRelationship(ctx, c.who, c.epi); err != nil || got != c.want {
			t.Errorf("HasRelationship(%s, %s) = %v, %v; want %v", c.who, c.epi, got, err, c.want)
		}
	}
	// Demographic match keys from the Patient.
	if ok, err := x.SharesSurname(ctx, old, "EVERYMAN"); !ok || err != nil {
		t.Errorf("SharesSurname = %v, %v", ok, err)
	}
	if ok, err := x.SharesAddress(ctx, old, "2222 home street", "27401"); !ok || err != nil {
		t.Errorf("SharesAddress = %v, %v", ok, err)
	}
	// After a merge the relationship counts for the survivor.
	process(t, p, hl7msg("E2", "ADT^A40", pidKeep, "MRG|OLD-1^^^H&1.2.3&ISO^MR"))
	if ok, _ := x.HasRelationship(ctx, "Practitioner/dr-osei", keep); !ok {
		t.Error("the retired patient's relationship does not count for the survivor")
	}
}

// TestRelationshipsFromSamples: the shared FHIR samples, including a
// Synthea Bundle whose Encounters name their Practitioner by urn:uuid.
func TestRelationshipsFromSamples(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	p, x := r.pipeline(t)
	for _, c := range []struct {
		source, sample, practitioner string
		patient                      record.Identifier
	}{
		{"ehr", "fhir-r4/encounter-example-f001-heart.json", "Practitioner/f002", record.Identifier{System: "urn:carecrest:source:ehr:Patient", Value: "f001"}},
		// Encounter.participant.individual is urn:uuid:6d705d81-...: the
		// Bundle's Practitioner entry, by its id and its NPI.
		{"hie", "fhir-r4/Abdul_Koepp_e925b0f3-8006-43f6-aa31-94bd215e55e7.json", "Practitioner/6d705d81-8546-43b2-b336-31a282128f2d", record.Identifier{System: "https://github.com/synthetichealth/synthea", Value: "e925b0f3-8006-43f6-aa31-94bd215e55e7"}},
		{"hie", "fhir-r4/Abdul_Koepp_e925b0f3-8006-43f6-aa31-94bd215e55e7.json", record.SystemNPI + "|160", record.Identifier{System: "https://github.com/synthetichealth/synthea", Value: "e925b0f3-8006-43f6-aa31-94bd215e55e7"}},
	} {
		t.Run(c.sample, func(t *testing.T) {
			data, err := os.ReadFile(samples.Path(t, c.sample))
			if err != nil {
				t.Fatal(err)
			}
			if st := process(t, p, message(c.source, ContentFHIRJSON, string(data))); st.Rejected != 0 {
				t.Fatalf("%+v", st)
			}
			epi := lookup(t, x, c.patient)
			if ok, err := x.HasRelationship(ctx, c.practitioner, epi); !ok || err != nil {
				t.Errorf("HasRelationship(%s) = %v, %v", c.practitioner, ok, err)
			}
		})
	}
}

func Example_fhirPractitioners() {
	recs := []record.Record{{Type: "ServiceRequest", Resource: map[string]any{
		"requester": map[string]any{"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893"},
	}}}
	addFHIRPractitioners(recs, nil)
	fmt.Println(recs[0].Practitioners)
	// Output: [http://hl7.org/fhir/sid/us-npi|1234567893]
}
