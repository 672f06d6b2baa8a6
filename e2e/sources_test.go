package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/labels"
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
		msg("hub.in.ehr", ingest.ContentHL7v2, "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A04|R1|P|2.5.1\rPID|1||MRN55^^^H&1.2.3&ISO^MR||Rivera^Sam||19800202|M\r"),
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
	physician := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
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
	user := mintTB(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	if code := post(user, "/fhir/Observation", vitals); code != http.StatusForbidden {
		t.Fatalf("a user token posted: HTTP %d, want 403", code)
	}
	waitMessagesTB(t, h, 2)
	p := patientOf(t, gql(t, h, user, `{ patient(identifier: "urn:oid:1.2.3|MRN4242") { observations { valueQuantity { value unit } } } }`, nil))
	if obs, _ := p["observations"].([]any); len(obs) != 1 {
		t.Fatalf("observations = %v", p["observations"])
	}
}
