package route

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/carecrest/hub/labels"
	"github.com/carecrest/hub/record"
	"github.com/segmentio/kafka-go"
)

// Security codings and the 42 CFR part 2 notice added to outbound
// resources.
const (
	// SystemObservationValue holds REDACTED, the marker of a resource some
	// of whose elements were withheld (as on the read path).
	SystemObservationValue = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	// SystemActCode holds 42CFRPart2, the privacy law that governs a
	// resource labelled ETH (substance use disorder records).
	SystemActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	// ExtensionRedisclosureNotice is the meta extension whose valueString
	// carries Part2Notice.
	ExtensionRedisclosureNotice = "urn:carecrest:fhir:StructureDefinition/redisclosure-notice"

	// Part2Notice is the short statement of 42 CFR 2.32(a)(2) as amended
	// by the 2024 final rule (89 FR 12472), one of the two statements that
	// must accompany each disclosure of part 2 records. The long statement
	// that begins "This information has been disclosed to you from records
	// protected by federal confidentiality rules" is the 2018 text of
	// 2.32(a)(1), superseded.
	Part2Notice = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
)

// resource builds the outbound resource of one disclosure: the record's
// clear elements and the opened elements in show, nothing else, with the
// markers of masking and of 42 CFR part 2 in meta. data is not modified.
func resource(s *record.Sealed, data map[string]any, show, hide []string) map[string]any {
	res := make(map[string]any, len(data)+1)
	for k, v := range data {
		if _, sealed := s.Fields[k]; sealed && !slices.Contains(show, k) {
			continue // defence in depth: an element opened but not allowed
		}
		res[k] = v
	}
	meta := cloneMeta(res["meta"])
	if len(hide) > 0 {
		meta["security"] = append(list(meta["security"]), map[string]any{
			"system": SystemObservationValue, "code": "REDACTED", "display": "redacted",
		})
	}
	if part2(s.Labels) {
		addPart2(meta)
	}
	if len(meta) > 0 {
		res["meta"] = meta
	}
	return res
}

// addPart2 marks meta as governed by 42 CFR part 2 and attaches the
// redisclosure notice.
func addPart2(meta map[string]any) {
	meta["security"] = append(list(meta["security"]), map[string]any{
		"system": SystemActCode, "code": "42CFRPart2", "display": "42 CFR Part2",
	})
	meta["extension"] = append(list(meta["extension"]), map[string]any{
		"url": ExtensionRedisclosureNotice, "valueString": Part2Notice,
	})
}

// message builds the outbound message of one disclosure in FormatResource.
func message(sub Subscriber, s *record.Sealed, res map[string]any) (kafka.Message, error) {
	b, err := json.Marshal(res)
	if err != nil {
		// The encoder's error is dropped: it can quote a value.
		return kafka.Message{}, fmt.Errorf("route: %s record %s is not JSON-encodable", s.Type, s.ID)
	}
	return kafka.Message{
		Topic: sub.Topic(),
		Key:   []byte(s.PatientID),
		Value: b,
		Headers: []kafka.Header{
			{Key: HeaderContentType, Value: []byte(ContentFHIRJSON)},
			{Key: HeaderRecordID, Value: []byte(s.ID)},
			{Key: HeaderPurpose, Value: []byte(sub.Purpose)},
		},
	}, nil
}

// part2 reports a record labelled as substance use disorder information
// (42 CFR part 2).
func part2(l []string) bool { return slices.Contains(l, labels.SUD) }

// cloneMeta returns a copy of a resource's meta whose lists may be appended
// to without touching the original.
func cloneMeta(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	for _, k := range []string{"security", "tag", "extension"} {
		if l, ok := out[k].([]any); ok {
			out[k] = slices.Clone(l)
		}
	}
	return out
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
