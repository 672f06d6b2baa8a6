package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/record"
)

// FuzzDecode checks that Decode never panics, that every error is a
// *DecodeError and that every record keeps the record invariants.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	if d := samples.Dir(); d != "" {
		more, _ := filepath.Glob(filepath.Join(d, "fhir-r4", "*.json"))
		seeds = append(seeds, more...)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil || len(b) > 64<<10 { // large seeds slow the fuzzer down
			continue
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Observation","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","identifier":[{"value":"1"}]}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"1"}},{"resource":{"resourceType":"Claim","patient":{"reference":"urn:uuid:1"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Decode("fuzz", data, received)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if len(res.Records) != 0 || len(res.Skipped) != 0 {
				t.Fatal("result not empty on error")
			}
			return
		}
		for _, r := range res.Records {
			if len(r.Subject) == 0 || r.ID != record.IDFromKey(r.Key) || !resourceTypes[r.Type] {
				t.Fatalf("bad record %+v", r)
			}
			if _, ok := r.Resource["id"]; ok {
				t.Fatal("record keeps id")
			}
			if _, err := json.Marshal(r.Resource); err != nil {
				t.Fatalf("resource does not marshal: %v", err)
			}
		}
		for _, s := range res.Skipped {
			if s.ResourceType != "" && !resourceTypes[s.ResourceType] {
				t.Fatalf("skip names a type outside R4: %q", s.ResourceType)
			}
		}
	})
}
