package dicom

import (
	"errors"
	"strings"
	"testing"

	"github.com/carecrest/hub/internal/samples"
)

// The two shared samples (ImagingDataCommons/dicomweb-client test data) are
// real DICOM JSON without any patient attribute: the WADO-RS instance
// metadata of one slide-microscopy (SM) instance whose PixelData is a
// BulkDataURI, and a QIDO-RS search result of four SM studies. With no
// PatientID (00100020) a study cannot be linked, so both are rejected with
// no-patient-id; once a PatientID is added they decode.

func TestSampleInstanceMetadata(t *testing.T) {
	data := readFile(t, samples.Path(t, "dicom/dicomweb-client_retrieve_instance_metadata.json"))
	if !Sniff(data) {
		t.Error("Sniff = false")
	}
	_, err := Decode(src, data, received)
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason != ReasonNoPatientID {
		t.Fatalf("err = %v, want %s", err, ReasonNoPatientID)
	}
	if strings.Contains(err.Error(), "1.2.826") {
		t.Errorf("error echoes a UID: %v", err)
	}

	recs, err := Decode(src, withPatientID(t, data), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	r := recs[0]
	const study = "1.2.826.0.1.3680043.8.498.66601875747381723929536900961894771057"
	if r.SourceID != study || !versionOf(r.MessageID, study) {
		t.Errorf("SourceID %q MessageID %q", r.SourceID, r.MessageID)
	}
	res := r.Resource
	if res["numberOfSeries"] != 1 || res["numberOfInstances"] != 1 {
		t.Errorf("counts %v %v", res["numberOfSeries"], res["numberOfInstances"])
	}
	if _, ok := res["started"]; ok { // the sample has ContentDate, not StudyDate
		t.Errorf("started = %v", res["started"])
	}
	in := res["series"].([]any)[0].(map[string]any)["instance"].([]any)[0].(map[string]any)
	if in["uid"] != "1.2.826.0.1.3680043.8.498.13592916866760227856872573295366023962" ||
		in["sopClass"].(map[string]any)["code"] != "urn:oid:1.2.840.10008.5.1.4.1.1.7" {
		t.Errorf("instance = %v", in)
	}
	if len(r.Codes) != 1 || r.Codes[0].Code != "SM" || r.Codes[0].System != SystemDCM {
		t.Errorf("codes = %v", r.Codes)
	}
	assertNoBulkData(t, r.Resource)
}

func TestSampleSearchForStudies(t *testing.T) {
	data := readFile(t, samples.Path(t, "dicom/dicomweb-client_search_for_studies.json"))
	if !Sniff(data) {
		t.Error("Sniff = false")
	}
	_, err := Decode(src, data, received)
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason != ReasonNoPatientID {
		t.Fatalf("err = %v, want %s", err, ReasonNoPatientID)
	}

	recs, err := Decode(src, withPatientID(t, data), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	for _, r := range recs {
		res := r.Resource
		if res["numberOfSeries"] != 1 || res["numberOfInstances"] != 1 {
			t.Errorf("counts %v %v", res["numberOfSeries"], res["numberOfInstances"])
		}
		if _, ok := res["series"]; ok {
			t.Error("study-level result has series")
		}
		if len(r.Codes) != 1 || r.Codes[0].Code != "SM" {
			t.Errorf("codes = %v", r.Codes)
		}
		assertNoBulkData(t, res) // RetrieveURL (00081190) is not copied either
	}
	if recs[0].SourceID != "1.2.826.0.1.3680043.8.498.11788371299705411400487375056703940142" {
		t.Errorf("first study %q", recs[0].SourceID)
	}
}
