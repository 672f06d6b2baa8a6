package fhir_test

import (
	"fmt"
	"time"

	"github.com/carecrest/hub/fhir"
)

func ExampleDecode() {
	msg := []byte(`{
	  "resourceType": "Observation",
	  "id": "obs-1",
	  "status": "final",
	  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
	  "subject": {"reference": "Patient/pt-1"},
	  "valueQuantity": {"value": 5.50, "unit": "mmol/L"}
	}`)
	res, err := fhir.Decode("lis", msg, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	r := res.Records[0]
	fmt.Println(r.Type, r.MessageID, r.SourceID)
	fmt.Println(r.Subject)
	fmt.Println(r.Codes[0].System, r.Codes[0].Code)
	_, hasSubject := r.Resource["subject"]
	fmt.Println("subject kept:", hasSubject)
	// Output:
	// Observation Observation/obs-1 obs-1
	// [{urn:carecrest:source:lis:Patient pt-1}]
	// http://loinc.org 2345-7
	// subject kept: false
}

func ExampleDecode_error() {
	_, err := fhir.Decode("lis", []byte(`{"resourceType":"Observation","subject":{"display":"Jane Doe"}}`), time.Now())
	fmt.Println(err)
	// Output:
	// fhir: entry 0: unresolved-patient-reference: Observation.subject cannot be resolved to a Patient
}
