package dicom

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
// *DecodeError, and that every record keeps the record invariants.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	if d := samples.Dir(); d != "" {
		more, _ := filepath.Glob(filepath.Join(d, "dicom", "*.json"))
		seeds = append(seeds, more...)
	}
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) <= 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"0020000D":{"vr":"UI","Value":["1.2"]},"00100020":{"vr":"LO","Value":[7]},"00080020":{"vr":"DA","Value":["20240229"]},"00080030":{"vr":"TM","Value":["1"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode("fuzz", data, received)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if recs != nil {
				t.Fatal("records on error")
			}
			return
		}
		if len(recs) == 0 {
			t.Fatal("no records and no error")
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if len(r.Subject) == 0 || r.Type != "ImagingStudy" || r.ID != record.IDFromKey(r.Key) ||
				!validUID(r.SourceID) || !versionOf(r.MessageID, r.SourceID) || seen[r.Key] {
				t.Fatalf("bad record %+v", r)
			}
			seen[r.Key] = true
			for _, k := range []string{"subject", "patient", "id"} {
				if _, ok := r.Resource[k]; ok {
					t.Fatalf("resource sets %q", k)
				}
			}
			if _, err := json.Marshal(r.Resource); err != nil {
				t.Fatalf("resource does not marshal: %v", err)
			}
		}
	})
}
