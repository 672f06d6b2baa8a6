package hl7

import "github.com/carecrest/hub/record"

// coverages appends one Coverage per IN1 of the message, whatever its type,
// after the records of its mapping. An IN1 belongs to the PID before it (to
// the first PID when none precedes it); an IN1 that maps to nothing but a
// status is skipped.
//
// The policy number (IN1-36) identifies the patient at the payor: it is
// PHI, so it is given only as an identifier (system
// urn:carecrest:source:<source>:policy, type MB), which the pipeline seals,
// and not as the clear-text string subscriberId.
func (d *decoder) coverages() *DecodeError {
	var (
		pid     *Segment
		pidAt   int
		subject []record.Identifier
	)
	for i, s := range d.msg.All() {
		switch s.Name() {
		case "PID":
			pid, pidAt, subject = s, i, nil
		case "IN1":
			if pid == nil {
				for j, p := range d.msg.All() {
					if p.Name() == "PID" {
						pid, pidAt = p, j
						break
					}
				}
				if pid == nil {
					return errorf(ReasonMissingSegment, -1, 0, d.label+" message has IN1 but no PID segment")
				}
			}
			if subject == nil {
				var err *DecodeError
				if subject, _, err = d.patient(pid, pidAt); err != nil {
					return err
				}
			}
			if res := d.coverage(s); res != nil {
				d.emit("Coverage", subject, nil, res)
			}
		}
	}
	return nil
}

// coverage maps an IN1 to a Coverage: payor from IN1-4 (company name,
// else IN1-3 company id), classes plan (IN1-2) and group (IN1-8, name
// IN1-9), type IN1-15, period IN1-12/13, relationship IN1-17, identifier
// IN1-36. It returns nil when the IN1 says none of these.
func (d *decoder) coverage(seg *Segment) map[string]any {
	var in1 fieldSet
	seg.fields(in1[:])
	res := make(map[string]any, 9)
	payor := text(in1.get(4).Comp(1))
	if payor == "" {
		payor = text(in1.get(3).Comp(1))
	}
	if ref := displayRef("Organization", payor); ref != nil {
		res["payor"] = []any{ref}
	}
	var classes []any
	if v := text(in1.get(2).Comp(1)); v != "" {
		classes = append(classes, coverageClass("plan", v, text(in1.get(2).Comp(2))))
	}
	if v := text(in1.get(8).Comp(1)); v != "" {
		classes = append(classes, coverageClass("group", v, text(in1.get(9).Comp(1))))
	}
	if len(classes) > 0 {
		res["class"] = classes
	}
	if cc, _ := codeableConcept(in1.get(15).Rep(1), d.source); cc != nil {
		res["type"] = cc
	}
	period := map[string]any{}
	if v, ok := date(in1.get(12).Comp(1).String()); ok {
		period["start"] = v
	}
	if v, ok := date(in1.get(13).Comp(1).String()); ok {
		period["end"] = v
	}
	if len(period) > 0 {
		res["period"] = period
	}
	if rel := subscriberRelationship(text(in1.get(17).Comp(1))); rel != "" {
		res["relationship"] = concept("http://terminology.hl7.org/CodeSystem/subscriber-relationship", rel, "")
	}
	if v := text(in1.get(36).Comp(1)); v != "" {
		res["identifier"] = []any{map[string]any{
			"system": "urn:carecrest:source:" + d.source + ":policy",
			"value":  v,
			"type":   concept(systemIdentifierType, "MB", "Member Number"),
		}}
	}
	if len(res) == 0 {
		return nil
	}
	res["status"] = "active"
	return res
}

func coverageClass(kind, value, name string) map[string]any {
	c := map[string]any{
		"type":  concept("http://terminology.hl7.org/CodeSystem/coverage-class", kind, ""),
		"value": value,
	}
	if name != "" {
		c["name"] = name
	}
	return c
}

// subscriberRelationship maps IN1-17 (table 0063) to FHIR
// subscriber-relationship; "" when empty.
func subscriberRelationship(code string) string {
	switch code {
	case "":
		return ""
	case "SEL":
		return "self"
	case "SPO":
		return "spouse"
	case "DOM":
		return "common"
	case "CHD", "SCH", "FCH", "GCH":
		return "child"
	case "PAR":
		return "parent"
	}
	return "other"
}
