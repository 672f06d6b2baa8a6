package consent_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/carecrest/hub/consent"
)

func ExampleFromFHIR() {
	var res map[string]any
	_ = json.Unmarshal([]byte(`{
	  "resourceType": "Consent",
	  "status": "active",
	  "dateTime": "2016-05-11",
	  "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
	  "provision": {"period": {"start": "1964-01-01", "end": "2016-01-01"}}
	}`), &res)
	d, err := consent.FromFHIR(res, "P-1", "ehr", time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Decision, d.Start.Format(time.DateOnly), d.End.Format(time.DateOnly))
	fmt.Println(d.InForce(time.Date(2015, 6, 1, 0, 0, 0, 0, time.UTC)), d.InForce(time.Now()))
	// Output:
	// permit 1964-01-01 2016-01-02
	// true false
}
