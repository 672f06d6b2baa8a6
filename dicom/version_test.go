package dicom

import (
	"regexp"
	"strings"
	"testing"
)

var historyRE = regexp.MustCompile(`^ImagingStudy/(.+)/_history/[0-9a-f]{16}$`)

// versionOf reports whether mid is a versioned message id of study uid.
func versionOf(mid, uid string) bool {
	m := historyRE.FindStringSubmatch(mid)
	return m != nil && m[1] == uid
}

// TestResentStudyIsANewVersion: the same metadata again is the same
// message (a duplicate downstream); metadata of the same study with a new
// series or instance, or another patient identifier, is a new version of
// it: same SourceID, new message id, key and record id.
func TestResentStudyIsANewVersion(t *testing.T) {
	base := string(readFile(t, "testdata/ct-instances.json"))
	first, err := Decode(src, []byte(base), received)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(src, []byte(base), received.Add(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Key != again[0].Key || first[0].MessageID != again[0].MessageID {
		t.Fatalf("redelivered metadata has a new id: %s, %s", first[0].MessageID, again[0].MessageID)
	}
	const uid = "1.2.826.0.1.3680043.8.498.1001"
	changed := map[string]string{
		// A further instance of the study's series.
		"new instance": strings.Replace(base, "1.2.826.0.1.3680043.8.498.1001.1.1", "1.2.826.0.1.3680043.8.498.1001.1.9", 1),
		// A series renumbered (a corrected acquisition).
		"new series": strings.Replace(base, `"1.2.826.0.1.3680043.8.498.1001.1"`, `"1.2.826.0.1.3680043.8.498.1001.7"`, 1),
		// The patient identifier corrected.
		"new patient id": strings.ReplaceAll(base, "MRN-SYNTH-0042", "MRN-SYNTH-0043"),
	}
	for name, body := range changed {
		t.Run(name, func(t *testing.T) {
			if body == base {
				t.Fatal("fixture not changed: the replacement did not match")
			}
			recs, err := Decode(src, []byte(body), received)
			if err != nil {
				t.Fatal(err)
			}
			r := recs[0]
			if r.SourceID != uid || !versionOf(r.MessageID, uid) {
				t.Errorf("SourceID %q MessageID %q", r.SourceID, r.MessageID)
			}
			if r.MessageID == first[0].MessageID || r.Key == first[0].Key || r.ID == first[0].ID {
				t.Errorf("changed metadata kept the id %s", r.MessageID)
			}
		})
	}
}
