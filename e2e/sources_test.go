package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/labels"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/route"
	"github.com/carecrest/hub/server"
	"github.com/segmentio/kafka-go"
)

// TestRadiologyDICOMAndSensitivityLabels: DICOM JSON study metadata from the
// RIS becomes an ImagingStudy linked to the patient the EHR registered, and
// a lab result coded as an HIV test is labelled at ingest.
func TestRadiologyDICOMAndSensitivityLabels(t *testing.T) {
	h := startHub(t)
	msg := func(topic, ct, v string) kafka.Message {
		return kafka.Message{Topic: topic, Key: []byte("MRN55"), Value: []byte(v),
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ct)}}}
	}
	publish(t, h, []kafka.Message{
		msg("hub.in.ehr", ingest.ContentHL7v2, "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A04|R1|P|2.5.1\rPID|1||MRN55^^^H&1.2.3&ISO^MR||Rivera^Sam||19800202|M\r"+
			"PV1|1|O|||||"+attending+"^Osei^Kwame\r"), // the attending doctor: a care relationship
		msg("hub.in.ris", ingest.ContentDICOMJSON, `[{
		  "0020000D": {"vr": "UI", "Value": ["1.2.840.113619.2.55.3.1234"]},
		  "0020000E": {"vr": "UI", "Value": ["1.2.840.113619.2.55.3.1234.1"]},
		  "00080018": {"vr": "UI", "Value": ["1.2.840.113619.2.55.3.1234.1.1"]},
		  "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
		  "00080060": {"vr": "CS", "Value": ["CT"]},
		  "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Rivera^Sam"}]},
		  "00100020": {"vr": "LO", "Value": ["MRN55"]},
		  "00100021": {"vr": "LO", "Value": ["1.2.3"]}
		}]`),
		msg("hub.in.lis", ingest.ContentHL7v2, "MSH|^~\\&|LIS|H|HUB|H|20261125||ORU^R01|R2|P|2.5.1\rPID|1||MRN55^^^H&1.2.3&ISO^MR||Rivera^Sam||19800202|M\r"+
			"OBR|1|X|Y|75622-1^HIV 1+2 Ab+HIV1 p24 Ag^LN|||20261125080000\rOBX|1|CE|75622-1^HIV 1+2 Ab+HIV1 p24 Ag^LN||NEG^Negative^L||||||F\r"),
	})
	waitMessages(t, h, 3)
	if rej, _ := h.Store.Query(context.Background(), audit.Filter{Action: audit.ActionReject}); len(rej) != 0 {
		t.Fatalf("rejected: %+v", rej)
	}
	writes, _ := h.Store.Query(context.Background(), audit.Filter{Action: audit.ActionWrite})
	patients := map[string]bool{}
	var study bool
	for _, e := range writes {
		patients[e.PatientID] = true
		study = study || (e.RecordType == "ImagingStudy" && e.ActorID == "ris")
	}
	if !study {
		t.Fatal("no ImagingStudy written by the RIS")
	}
	if len(patients) != 1 {
		t.Fatalf("the three systems' messages landed on %d patients, want 1", len(patients))
	}
	var pid string
	for p := range patients {
		pid = p
	}
	recs, err := h.Store.PatientRecords(context.Background(), pid, []string{"Observation"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("observations: %d, %v", len(recs), err)
	}
	if !slices.Contains(recs[0].Labels, labels.HIV) {
		t.Fatalf("HIV test labels = %v, want %s", recs[0].Labels, labels.HIV)
	}

	// The study is in the clinician's view; a billing clerk's view withholds it.
	q := `{ patient(identifier: "urn:oid:1.2.3|MRN55") { imagingStudies { modality { code } series { uid } masked } withheld { resourceType } } }`
	physician := mintUser(t, h, "dr.osei", "physician", "TREAT", "Practitioner/"+attending)
	p := patientOf(t, gql(t, h, physician, q, nil))
	studies, _ := p["imagingStudies"].([]any)
	if len(studies) != 1 {
		t.Fatalf("imagingStudies = %v, want the CT study", p["imagingStudies"])
	}
	billing := mint(t, h, "bc.ruiz", []string{"billing_clerk"}, []string{"HPAYMT"})
	b := patientOf(t, gql(t, h, billing, q, nil))
	if s, _ := b["imagingStudies"].([]any); len(s) != 0 {
		t.Fatal("billing clerk saw the imaging study")
	}
	if w, _ := b["withheld"].([]any); len(w) != 1 || w[0].(map[string]any)["resourceType"] != "ImagingStudy" {
		t.Fatalf("withheld = %v, want ImagingStudy", b["withheld"])
	}
}

// TestTelemedicineOverHTTP: a telemedicine platform posts FHIR over HTTP
// with a source-system token; the gateway answers 202 only after Kafka has
// it; the observation is then visible to a clinician. A user token cannot
// post.
func TestTelemedicineOverHTTP(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateways.HTTP.Enabled = true
	h := startWith(t, cfg)
	signer, err := auth.LoadSigner(h.Config.Auth.DevSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	source, _ := signer.Mint(auth.Claims{Subject: "telemedicine", Roles: []string{"source-system"}, Kind: "application",
		Issuer: h.Config.Auth.Issuer, Audience: h.Config.Auth.Audience}, time.Hour)
	base := strings.TrimSuffix(h.GraphQLURL(), "/graphql")
	post := func(token, path, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	patient := `{"resourceType":"Patient","id":"tm-1","identifier":[{"system":"urn:oid:1.2.3","value":"MRN4242"}],"name":[{"family":"Quispe","given":["Mateo"]}]}`
	vitals := `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/tm-1"},` +
		`"effectiveDateTime":"2026-11-25T08:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`
	if code := post(source, "/fhir/Patient", patient); code != http.StatusAccepted {
		t.Fatalf("POST Patient: HTTP %d", code)
	}
	if code := post(source, "/fhir/Observation", vitals); code != http.StatusAccepted {
		t.Fatalf("POST Observation: HTTP %d", code)
	}
	// The virtual visit puts the clinician in a care relationship.
	visit := `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR"},` +
		`"subject":{"reference":"Patient/tm-1"},"participant":[{"individual":{"reference":"Practitioner/` + attending + `"}}]}`
	if code := post(source, "/fhir/Encounter", visit); code != http.StatusAccepted {
		t.Fatalf("POST Encounter: HTTP %d", code)
	}
	user := mintUser(t, h, "dr.osei", "physician", "TREAT", "Practitioner/"+attending)
	if code := post(user, "/fhir/Observation", vitals); code != http.StatusForbidden {
		t.Fatalf("a user token posted: HTTP %d, want 403", code)
	}
	waitMessagesTB(t, h, 3)
	p := patientOf(t, gql(t, h, user, `{ patient(identifier: "urn:oid:1.2.3|MRN4242") { observations { valueQuantity { value unit } } } }`, nil))
	if obs, _ := p["observations"].([]any); len(obs) != 1 {
		t.Fatalf("observations = %v", p["observations"])
	}
	// The gateway's metrics: three accepted, one refused (403).
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`carecrest_hub_http_ingest_requests_total{class="2xx",route="fhir-resource"} 3`,
		`carecrest_hub_http_ingest_requests_total{class="4xx",route="fhir-resource"} 1`,
		`carecrest_hub_http_ingest_request_duration_seconds_count{route="fhir-resource"} 4`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// everyType is what the test subscribers take: the policy decides.
var everyType = []string{"Patient", "Encounter", "Observation", "DiagnosticReport", "ServiceRequest", "ImagingStudy",
	"MedicationRequest", "MedicationDispense", "Appointment", "DocumentReference", "Coverage", "ChargeItem", "Claim"}

// sourceCase is one source system's traffic and who may see it.
type sourceCase struct {
	name, source string
	transport    string // mllp, http or kafka
	typ          string // the record type its message becomes
	field        string // GraphQL selection showing it
	// send delivers the message for a patient registered with mrn.
	send func(t *testing.T, h *server.Hub, mrn string)
	// allowed and denied are a reader (role|purpose) and a subscriber
	// whose policy allows the record type, and ones whose policy does not.
	reader, otherReader         [2]string
	subscriber, otherSubscriber string
}

const (
	mrnSystem = "urn:oid:1.2.3"
	attending = "D-701" // the registered patients' attending doctor (PV1-7)
)

func pidSegment(mrn string) string {
	return "PID|1||" + mrn + "^^^H&1.2.3&ISO^MR||Case^Pat||19800101|F\r"
}

func hl7Over(addr func(*server.Hub, string) string, source, header, body string) func(*testing.T, *server.Hub, string) {
	return func(t *testing.T, h *server.Hub, mrn string) {
		msg := "MSH|^~\\&|" + strings.ToUpper(source) + "|H|HUB|H|20261125093000||" + header + "|" + source + "-" + mrn + "|P|2.5.1\r" +
			strings.ReplaceAll(body, "{PID}", pidSegment(mrn))
		if ack := mllpSend(t, addr(h, source), msg); !strings.Contains(ack, "MSA|AA|"+source+"-"+mrn) {
			t.Fatalf("%s over MLLP: ACK %q, want AA", header, ack)
		}
	}
}

func kafkaFHIR(source, body string) func(*testing.T, *server.Hub, string) {
	return func(t *testing.T, h *server.Hub, mrn string) {
		publishTB(t, h, []kafka.Message{{Topic: ingest.TopicPrefix + source, Key: []byte(source),
			Value:   []byte(strings.ReplaceAll(body, "{MRN}", mrn)),
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentFHIRJSON)}}}})
	}
}

func httpPost(source, path, contentType, body string) func(*testing.T, *server.Hub, string) {
	return func(t *testing.T, h *server.Hub, mrn string) {
		if code := postIngest(t, h, sourceToken(t, h, source), path, contentType, strings.ReplaceAll(body, "{MRN}", mrn)); code != http.StatusAccepted {
			t.Fatalf("POST %s: HTTP %d, want 202", path, code)
		}
	}
}

// TestEverySourceEndToEnd: for each source system, its message comes in
// through its real transport (MLLP for HL7 v2, HTTP for the telemedicine
// platform's FHIR and the RIS's DICOM JSON, Kafka for FHIR from the EHR,
// insurance and the HIE), is linked to the patient registration created
// over MLLP, is visible in GraphQL to a role allowed to see it and hidden
// from one that is not, is routed to a subscriber whose policy allows it
// and not to one whose policy does not, and every step is audited (write,
// read, read denial, route, route denial).
func TestEverySourceEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	for _, s := range []string{"registration", "lis", "pharmacy", "scheduling", "billing", "ehr"} {
		cfg.Gateways.MLLP = append(cfg.Gateways.MLLP, mllp.Config{Addr: "127.0.0.1:0", Source: s})
	}
	cfg.Gateways.HTTP.Enabled = true
	cfg.Route.Subscribers = []route.Subscriber{
		// The HIE takes FHIR transaction Bundles; billing single resources.
		{Name: "hie", Kind: route.KindSystem, Roles: []string{"hie_participant"}, Purpose: "TREAT", Types: everyType,
			Format: route.FormatBundle, BundleType: route.BundleTransaction},
		{Name: "billing", Kind: route.KindSystem, Roles: []string{"billing_system"}, Purpose: "HPAYMT", Types: everyType},
		// A research feed the policy grants nothing.
		{Name: "research", Kind: route.KindSystem, Roles: []string{"hie_participant"}, Purpose: "HRESCH", Types: everyType},
	}
	h := startWith(t, cfg)
	addrs := map[string]string{}
	for i, g := range cfg.Gateways.MLLP {
		addrs[g.Source] = h.MLLPAddrs()[i]
	}
	addr := func(_ *server.Hub, source string) string { return addrs[source] }

	clinician, clerk := [2]string{"physician", "TREAT"}, [2]string{"billing_clerk", "HPAYMT"}
	dicomStudy := `[{"0020000D":{"vr":"UI","Value":["1.2.840.99.7.{UID}"]},"0020000E":{"vr":"UI","Value":["1.2.840.99.7.{UID}.1"]},
	  "00080018":{"vr":"UI","Value":["1.2.840.99.7.{UID}.1.1"]},"00080016":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},
	  "00080060":{"vr":"CS","Value":["CT"]},"00100020":{"vr":"LO","Value":["{MRN}"]},"00100021":{"vr":"LO","Value":["1.2.3"]}}]`
	cases := []sourceCase{
		{name: "registration", source: "registration", transport: "mllp", typ: "Patient", field: "name { family }",
			reader: [2]string{"registration_clerk", "HOPERAT"}, otherReader: [2]string{"privacy_officer", "HOPERAT"},
			subscriber: "hie", otherSubscriber: "research"},
		{name: "ehr", source: "ehr", transport: "kafka", typ: "Encounter", field: "encounters { id }",
			send: kafkaFHIR("ehr", `{"resourceType":"Encounter","id":"enc-{MRN}","status":"finished",
			  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
			  "subject":{"type":"Patient","identifier":{"system":"`+mrnSystem+`","value":"{MRN}"}}}`),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "laboratory", source: "lis", transport: "mllp", typ: "Observation", field: "observations { id }",
			send: hl7Over(addr, "lis", "ORU^R01^ORU_R01", "{PID}OBR|1|PL-1|FI-1|24323-8^Comprehensive metabolic panel^LN|||20261125083000+0000\r"+
				"OBX|1|NM|2345-7^Glucose^LN||105|mg/dL^^UCUM|70-99|H|||F\r"),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "radiology", source: "ris", transport: "http", typ: "ImagingStudy", field: "imagingStudies { id }",
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "pharmacy", source: "pharmacy", transport: "mllp", typ: "MedicationRequest", field: "medicationRequests { id }",
			send: hl7Over(addr, "pharmacy", "RDS^O13^RDS_O13", "{PID}ORC|RE|RXP-1^H|RXF-1^PHARM|||||20261125090000+0100\r"+
				"RXE|^^^^^R|197361^Amlodipine 5 MG Oral Tablet^RXNORM|5||mg^milligram^UCUM|TAB^Tablet^HL70292\r"+
				"RXR|PO^Oral^HL70162\rRXD|1|197361^Amlodipine 5 MG Oral Tablet^RXNORM|20261125120000+0100|30|TAB^Tablet^HL70292\r"),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "scheduling", source: "scheduling", transport: "mllp", typ: "Appointment", field: "appointments { id }",
			send:   hl7Over(addr, "scheduling", "SIU^S12^SIU_S12", "SCH|1|2\r{PID}"),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "billing", source: "billing", transport: "mllp", typ: "ChargeItem", field: "chargeItems { id }",
			send: hl7Over(addr, "billing", "DFT^P03^DFT_P03", "EVN|P03|20261125\r{PID}"+
				"FT1|1|TX-1||20261125083000^20261125090000||CG|99213^Office visit^CPT|||1|75.00&USD\r"),
			reader: clerk, otherReader: clinician, subscriber: "billing", otherSubscriber: "hie"},
		{name: "insurance", source: "billing", transport: "kafka", typ: "Coverage", field: "coverages { id }",
			send: kafkaFHIR("billing", `{"resourceType":"Coverage","id":"cov-{MRN}","status":"active",
			  "beneficiary":{"type":"Patient","identifier":{"system":"`+mrnSystem+`","value":"{MRN}"}},"payor":[{"display":"Acme Health"}]}`),
			reader: clerk, otherReader: clinician, subscriber: "billing", otherSubscriber: "hie"},
		{name: "documents", source: "ehr", transport: "mllp", typ: "DocumentReference", field: "documentReferences { id }",
			send: hl7Over(addr, "ehr", "MDM^T02^MDM_T02", "EVN|T02|20261125\r{PID}"+
				"TXA|1|DS^Discharge summary^L|TX|20261124120000+0100||20261125090000+0100|||D-5^Okafor^Chi|||DOC-2^H|DOC-1^H||||LA|R|AV\r"+
				"OBX|1|TX|DS^Discharge summary^L||Discharged home in good condition.\r"),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "telemedicine", source: "telemedicine", transport: "http", typ: "Observation", field: "observations { id }",
			send: httpPost("telemedicine", "/fhir/Observation", "application/fhir+json", `{"resourceType":"Observation","status":"final",
			  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
			  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
			  "subject":{"type":"Patient","identifier":{"system":"`+mrnSystem+`","value":"{MRN}"}},
			  "effectiveDateTime":"2026-11-25T08:00:00Z","valueQuantity":{"value":72,"unit":"/min"}}`),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
		{name: "hie", source: "hie", transport: "kafka", typ: "Observation", field: "observations { id }",
			send: kafkaFHIR("hie", `{"resourceType":"Bundle","type":"collection","entry":[
			  {"fullUrl":"urn:uuid:1b0c6d1e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","identifier":[{"system":"`+mrnSystem+`","value":"{MRN}"}]}},
			  {"fullUrl":"urn:uuid:1b0c6d1e-0000-4000-8000-000000000002","resource":{"resourceType":"Observation","status":"final",
			    "code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin"}]},
			    "subject":{"reference":"urn:uuid:1b0c6d1e-0000-4000-8000-000000000001"},"valueQuantity":{"value":13.2,"unit":"g/dL"}}}]}`),
			reader: clinician, otherReader: clerk, subscriber: "hie", otherSubscriber: "billing"},
	}
	for i, c := range cases {
		if c.name == "radiology" {
			cases[i].send = func(t *testing.T, h *server.Hub, mrn string) {
				body := strings.ReplaceAll(dicomStudy, "{UID}", "1"+strings.TrimPrefix(mrn, "MRNS")) // no leading zero in a UID part
				httpPost("ris", "/dicom/studies", "application/dicom+json", body)(t, h, mrn)
			}
		}
	}

	// Real interfaces' messages (shared samples) over each source's MLLP
	// listener: acknowledged AA, then stored (not dead-lettered).
	t.Run("shared samples over MLLP", func(t *testing.T) {
		for _, c := range []struct{ source, sample, typ string }{
			{"registration", "hl7v2/01_ms_ADT-A01_v2.8.hl7", "Patient"},
			{"lis", "hl7v2/07_ms_ORU-R01_ELR_v2.5.1.hl7", "Observation"},
			{"pharmacy", "hl7v2/09_ms_RDE-O11_v2.8.hl7", "MedicationRequest"},
			{"scheduling", "hl7v2/10_ms_SIU-S12_v2.8.hl7", "Appointment"},
			{"billing", "hl7v2/11_ms_DFT-P03_v2.8.hl7", "ChargeItem"},
			{"ehr", "hl7v2/12_ms_MDM-T02_v2.8.hl7", "DocumentReference"},
		} {
			b, err := os.ReadFile(samples.Path(t, c.sample))
			if err != nil {
				t.Fatal(err)
			}
			if ack := mllpSend(t, addrs[c.source], string(b)); !strings.Contains(ack, "MSA|AA|") {
				t.Fatalf("%s over MLLP: ACK %q", c.sample, ack)
			}
			waitEvent(t, h, audit.Filter{ActorID: c.source, Action: audit.ActionWrite, RecordType: c.typ}, nil, c.sample+" stored")
		}
		if rej := events(t, h, audit.Filter{Action: audit.ActionReject}, nil); len(rej) != 0 {
			t.Fatalf("samples dead-lettered: %+v", rej)
		}
	})

	registerQ := `query($i: String) { patient(identifier: $i, purpose: "HOPERAT") { id } }`
	registrar := mint(t, h, "rc.ward", []string{"registration_clerk"}, []string{"HOPERAT"})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mrn := fmt.Sprintf("MRNS%03d", i+1)
			ident := mrnSystem + "|" + mrn
			// Registration over MLLP creates the patient every source's
			// message must link to.
			// PV1-7 names the attending doctor, who thereby has a care
			// relationship with the patient (the clinician reading below).
			hl7Over(addr, "registration", "ADT^A04^ADT_A01", "{PID}PV1|1|O|||||"+attending+"^Osei^Kwame\r")(t, h, mrn)
			var pid string
			deadline := time.Now().Add(60 * time.Second)
			for pid == "" {
				r := gql(t, h, registrar, registerQ, map[string]any{"i": ident})
				if p, ok := r.Data["patient"].(map[string]any); ok {
					pid, _ = p["id"].(string)
				}
				if pid == "" && time.Now().After(deadline) {
					t.Fatalf("registered patient not readable after 60s: %+v", r.Errors)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if c.send != nil {
				c.send(t, h, mrn)
			}

			// Stored and linked to the registered patient, the write audited.
			w := waitEvent(t, h, audit.Filter{ActorID: c.source, Action: audit.ActionWrite, PatientID: pid, RecordType: c.typ}, nil,
				c.typ+" written by "+c.source+" for the registered patient")
			if w.Outcome != audit.OutcomeAllow || len(w.RecordIDs) == 0 {
				t.Fatalf("write event %+v", w)
			}
			if rej := events(t, h, audit.Filter{ActorID: c.source, Action: audit.ActionReject}, nil); len(rej) != 0 {
				t.Fatalf("%s messages rejected: %+v", c.source, rej)
			}

			// GraphQL: visible to the allowed role, hidden from the other.
			q := `query($i: String, $p: String) { patient(identifier: $i, purpose: $p) { id ` + c.field + ` withheld { resourceType } } }`
			field := strings.Fields(c.field)[0]
			read := func(role [2]string, actor string) (visible bool) {
				tok := mintUser(t, h, actor, role[0], role[1], "Practitioner/"+attending)
				r := gql(t, h, tok, q, map[string]any{"i": ident, "p": role[1]})
				p, ok := r.Data["patient"].(map[string]any)
				if !ok {
					if r.code() != "FORBIDDEN" {
						t.Errorf("%s read: no patient and code %q", role[0], r.code())
					}
					return false
				}
				if p["id"] != pid {
					t.Errorf("%s read patient %v, want %s", role[0], p["id"], pid)
				}
				switch v := p[field].(type) {
				case []any:
					return len(v) > 0
				case nil:
					return false
				default:
					return true
				}
			}
			if !read(c.reader, "allowed."+c.name) {
				t.Errorf("%s (%s) does not see the %s", c.reader[0], c.reader[1], c.typ)
			}
			if read(c.otherReader, "other."+c.name) {
				t.Errorf("%s (%s) sees the %s", c.otherReader[0], c.otherReader[1], c.typ)
			}
			waitEvent(t, h, audit.Filter{ActorID: "allowed." + c.name, Action: audit.ActionRead, PatientID: pid, RecordType: c.typ},
				func(e audit.Event) bool { return e.Outcome == audit.OutcomeAllow && len(e.RecordIDs) > 0 }, "read of "+c.typ+" audited")
			if c.typ != "Patient" { // a denied Patient read is denied as a whole, before any record
				waitEvent(t, h, audit.Filter{ActorID: "other." + c.name, PatientID: pid, RecordType: c.typ},
					func(e audit.Event) bool { return e.Outcome == audit.OutcomeDeny }, "read denial of "+c.typ+" audited")
			} else {
				waitEvent(t, h, audit.Filter{ActorID: "other." + c.name},
					func(e audit.Event) bool { return e.Outcome == audit.OutcomeDeny }, "read denial audited")
			}

			// Routed to the subscriber whose policy allows it, audited first;
			// not to the one whose policy does not, the denial audited.
			routed := waitEvent(t, h, audit.Filter{ActorID: c.subscriber, PatientID: pid, RecordType: c.typ, Codes: []string{audit.CodeRouted}}, nil,
				c.typ+" routed to "+c.subscriber)
			if routed.Purpose == "" || len(routed.RecordIDs) != 1 {
				t.Errorf("route event %+v", routed)
			}
			waitEvent(t, h, audit.Filter{ActorID: c.otherSubscriber, PatientID: pid, RecordType: c.typ, Codes: []string{audit.CodeRouteDeny}}, nil,
				c.typ+" denied to "+c.otherSubscriber)
			if n := len(events(t, h, audit.Filter{ActorID: c.otherSubscriber, PatientID: pid, RecordType: c.typ, Codes: []string{audit.CodeRouted}}, nil)); n != 0 {
				t.Errorf("%d %s records routed to %s", n, c.typ, c.otherSubscriber)
			}
			o := waitOutbound(t, h, route.TopicPrefix+c.subscriber, pid, c.typ)
			if c.subscriber == "hie" && o.bundle != route.BundleTransaction {
				t.Errorf("the HIE received a %q Bundle, want transaction", o.bundle)
			}
			for _, x := range outboundResources(t, h, route.TopicPrefix+c.otherSubscriber) {
				if x.patient == pid && x.resource["resourceType"] == c.typ {
					t.Errorf("%s received the %s", c.otherSubscriber, c.typ)
				}
			}
			if x := outboundResources(t, h, route.TopicPrefix+"research"); len(x) != 0 {
				t.Errorf("the research feed, granted nothing, received %d resources", len(x))
			}
		})
	}
}

// TestDICOMStudyUpdateIsANewVersion: the RIS posts a study's metadata,
// then the same metadata again (a redelivery: nothing new is stored), then
// the metadata with a second and then a third series (updates: each stored
// as a new version of the study).
func TestDICOMStudyUpdateIsANewVersion(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateways.HTTP.Enabled = true
	h := startWith(t, cfg)
	tok := sourceToken(t, h, "ris")
	series := func(n int) string {
		return fmt.Sprintf(`{"0020000D":{"vr":"UI","Value":["1.2.840.99.8.1"]},"0020000E":{"vr":"UI","Value":["1.2.840.99.8.1.%d"]},
		  "00080018":{"vr":"UI","Value":["1.2.840.99.8.1.%d.1"]},"00080016":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},
		  "00080060":{"vr":"CS","Value":["CT"]},"00100020":{"vr":"LO","Value":["MRN-DV-1"]},"00100021":{"vr":"LO","Value":["1.2.3"]}}`, n, n)
	}
	v1 := "[" + series(1) + "]"
	v2 := "[" + series(1) + "," + series(2) + "]"
	v3 := "[" + series(1) + "," + series(2) + "," + series(3) + "]"
	for i, body := range []string{v1, v1, v2, v3} {
		if code := postIngest(t, h, tok, "/dicom/studies", "application/dicom+json", body); code != http.StatusAccepted {
			t.Fatalf("post %d: HTTP %d", i, code)
		}
	}
	// One sender's messages keep their order (one partition): once three
	// versions are stored, every message before the last was processed, so
	// a stored redelivery would already show as a fourth.
	deadline := time.Now().Add(60 * time.Second)
	var writes []audit.Event
	for len(writes) < 3 {
		writes = events(t, h, audit.Filter{ActorID: "ris", Action: audit.ActionWrite, RecordType: "ImagingStudy"}, nil)
		if time.Now().After(deadline) {
			t.Fatalf("%d ImagingStudy writes after 60s, want 3", len(writes))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(writes) != 3 {
		t.Fatalf("%d ImagingStudy writes, want 3: two updates, not the redelivery", len(writes))
	}
	recs, err := h.Store.PatientRecords(context.Background(), writes[0].PatientID, []string{"ImagingStudy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d ImagingStudy records stored, want 3 versions", len(recs))
	}
	if writes[0].PatientID != writes[1].PatientID || writes[1].PatientID != writes[2].PatientID {
		t.Error("the versions landed on several patients")
	}
}
