package fhir

import (
	"encoding/json"
	"fmt"
	"testing"
)

func BenchmarkDecodeObservation(b *testing.B) {
	data := readFile(b, "testdata/observation.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(src, data, received); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBundle decodes a transaction of one Patient and 500
// Observations linked through urn:uuid, like a Synthea export.
func BenchmarkDecodeBundle(b *testing.B) {
	entries := []any{map[string]any{
		"fullUrl":  "urn:uuid:p",
		"resource": map[string]any{"resourceType": "Patient", "identifier": []any{map[string]any{"system": "urn:oid:1.2.3.4.5", "value": "MRN-1"}}},
		"request":  map[string]any{"method": "POST", "url": "Patient"},
	}}
	for i := range 500 {
		entries = append(entries, map[string]any{
			"fullUrl": fmt.Sprintf("urn:uuid:o%d", i),
			"resource": map[string]any{
				"resourceType":  "Observation",
				"status":        "final",
				"code":          map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8302-2"}}},
				"subject":       map[string]any{"reference": "urn:uuid:p"},
				"valueQuantity": map[string]any{"value": 170 + i%10, "unit": "cm"},
			},
			"request": map[string]any{"method": "POST", "url": "Observation"},
		})
	}
	data, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		res, err := Decode(src, data, received)
		if err != nil || len(res.Records) != 501 {
			b.Fatal(err, len(res.Records))
		}
	}
}
