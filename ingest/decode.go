package ingest

import (
	"fmt"
	"time"

	"github.com/carecrest/hub/dicom"
	"github.com/carecrest/hub/fhir"
	"github.com/carecrest/hub/hl7"
	"github.com/carecrest/hub/record"
)

// Decode is the hub's DecodeFunc: HL7 v2, FHIR R4 JSON and DICOM JSON (PS3.18
// study metadata) by content type.
func Decode(contentType, source string, payload []byte, received time.Time) ([]record.Record, error) {
	switch contentType {
	case ContentHL7v2:
		return hl7.Decode(source, payload, received)
	case ContentFHIRJSON:
		res, err := fhir.Decode(source, payload, received)
		if err != nil {
			return nil, err
		}
		addFHIRPractitioners(res.Records, payload)
		return res.Records, nil
	case ContentDICOMJSON:
		return dicom.Decode(source, payload, received)
	case "":
		return nil, fmt.Errorf("unrecognised payload: not HL7 v2, FHIR JSON or DICOM JSON, and no content-type header")
	default:
		return nil, fmt.Errorf("unsupported content type %q (want %s, %s or %s)", truncate(contentType, 64), ContentHL7v2, ContentFHIRJSON, ContentDICOMJSON)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
