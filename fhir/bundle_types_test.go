package fhir

import (
	"slices"
	"strings"
	"testing"

	"github.com/carecrest/hub/record"
)

// hieBundle is what an HIE sends: a Patient, the patient's Consent and a
// result, referencing the Patient by fullUrl. document Bundles start with
// their Composition.
func hieBundle(typ string) string {
	var first string
	if typ == "document" {
		first = `{"fullUrl":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000001","resource":{"resourceType":"Composition","status":"final",
		  "type":{"coding":[{"system":"http://loinc.org","code":"60591-5"}]},"subject":{"reference":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000002"},
		  "date":"2026-11-25T08:00:00Z","author":[{"display":"Regional HIE"}],"title":"Patient summary"}},`
	}
	req := func(method, url string) string {
		if typ != "transaction" && typ != "batch" {
			return ""
		}
		return `,"request":{"method":"` + method + `","url":"` + url + `"}`
	}
	return `{"resourceType":"Bundle","type":"` + typ + `","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:hie-` + typ + `"},"entry":[` + first +
		`{"fullUrl":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000002","resource":{"resourceType":"Patient",
		   "identifier":[{"system":"urn:oid:1.2.3.4.5","value":"MRN-0900"}],"name":[{"family":"Okafor"}]}` + req("PUT", "Patient?identifier=urn:oid:1.2.3.4.5|MRN-0900") + `},
		 {"fullUrl":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000003","resource":{"resourceType":"Consent","id":"hie-consent-1","status":"active",
		   "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
		   "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
		   "patient":{"reference":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000002"},"dateTime":"2026-11-01T00:00:00Z",
		   "provision":{"type":"deny"}}` + req("PUT", "Consent/hie-consent-1") + `},
		 {"fullUrl":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000004","resource":{"resourceType":"Observation","status":"final",
		   "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"urn:uuid:0a7b2c1e-0000-4000-8000-000000000002"},
		   "valueQuantity":{"value":72,"unit":"/min"}}` + req("POST", "Observation") + `}]}`
}

// TestInboundBundleTypes: the Bundle types an HIE sends (document,
// transaction, collection, batch) are all decoded, every entry linked to the
// Bundle's Patient, the Consent included.
func TestInboundBundleTypes(t *testing.T) {
	want := record.Identifier{System: "urn:oid:1.2.3.4.5", Value: "MRN-0900"}
	for _, typ := range []string{"document", "transaction", "collection", "batch"} {
		t.Run(typ, func(t *testing.T) {
			res, err := Decode("hie", []byte(hieBundle(typ)), received)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, r := range res.Records {
				types = append(types, r.Type)
				if !slices.Contains(r.Subject, want) {
					t.Errorf("%s not linked to the Bundle's Patient: %v", r.Type, r.Subject)
				}
				if r.MessageID != "urn:ietf:rfc:3986|urn:uuid:hie-"+typ {
					t.Errorf("%s message id %q", r.Type, r.MessageID)
				}
			}
			wantTypes := []string{"Patient", "Consent", "Observation"}
			if typ == "document" {
				wantTypes = append([]string{"Composition"}, wantTypes...)
			}
			if !slices.Equal(types, wantTypes) || len(res.Skipped) != 0 {
				t.Errorf("records %v skipped %v, want %v", types, res.Skipped, wantTypes)
			}
			for _, r := range res.Records {
				if r.Type == "Consent" && (r.SourceID != "hie-consent-1" || r.Resource["patient"] != nil) {
					t.Errorf("Consent source id %q, patient element %v", r.SourceID, r.Resource["patient"])
				}
			}
		})
	}
	// searchset and message are read too; history is not a submission.
	if _, err := Decode("hie", []byte(strings.Replace(hieBundle("collection"), `"type":"collection"`, `"type":"history"`, 1)), received); err == nil {
		t.Error("history Bundle accepted")
	}
}
