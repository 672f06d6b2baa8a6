package hl7

import (
	"strings"

	"github.com/carecrest/hub/record"
)

// oru maps an ORU^R01 message: one Observation per OBX, in order, then one
// DiagnosticReport per OBR referencing the Observations of its OBX. An OBX
// belongs to the nearest OBR and PID before it; an OBX before any PID
// belongs to the message's first PID. An OBX with neither code nor value is
// skipped.
func (d *decoder) oru() *DecodeError {
	firstPID, nOBR, nOBX, orphan := -1, 0, 0, -1
	for i, s := range d.msg.All() {
		switch s.Name() {
		case "PID":
			if firstPID < 0 {
				firstPID = i
			}
		case "OBR":
			nOBR++
		case "OBX":
			nOBX++
			if nOBR == 0 && orphan < 0 {
				orphan = i
			}
		}
	}
	switch {
	case nOBR == 0:
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no OBR segment")
	case nOBX == 0:
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no OBX segment")
	case orphan >= 0 && firstPID < 0:
		return errorf(ReasonTypeMismatch, orphan, 0, "OBX before any OBR in an "+d.label+" message without PID")
	case firstPID < 0:
		return errorf(ReasonMissingSegment, -1, 0, d.label+" message has no PID segment")
	}
	d.out = make([]record.Record, 0, nOBX+nOBR)
	first, _, err := d.patient(d.msg.At(firstPID), firstPID)
	if err != nil {
		return err
	}

	type report struct {
		obr     *Segment
		subject []record.Identifier
		results []any
	}
	var (
		reports []report
		subject = first
		obr     *Segment
		lastObs = -1 // index in d.out of the Observation NTEs attach to
	)
	for i, s := range d.msg.All() {
		switch s.Name() {
		case "PID":
			if i != firstPID {
				if subject, _, err = d.patient(s, i); err != nil {
					return err
				}
			}
			obr, lastObs = nil, -1
		case "OBR":
			obr, lastObs = s, -1
			reports = append(reports, report{obr: s, subject: subject})
		case "OBX":
			lastObs = -1
			res, codes := d.observation(s, obr)
			if res == nil {
				continue
			}
			rec := d.emit("Observation", subject, codes, res)
			lastObs = len(d.out) - 1
			if obr != nil {
				r := &reports[len(reports)-1]
				r.results = append(r.results, map[string]any{"reference": "Observation/" + rec.ID})
			}
		case "NTE":
			if lastObs >= 0 {
				addNote(d.out[lastObs].Resource, s)
			}
		case "PRT": // participation, part of the OBX group
		default:
			lastObs = -1
		}
	}
	for _, r := range reports {
		res, codes := d.diagnosticReport(r.obr)
		if len(r.results) > 0 {
			res["result"] = r.results
		}
		d.emit("DiagnosticReport", r.subject, codes, res)
	}
	return nil
}

// observation maps one OBX (with its OBR, may be nil) to a FHIR Observation
// and its codes; nil when the OBX has neither code nor value.
func (d *decoder) observation(seg, obr *Segment) (map[string]any, []record.Coding) {
	var obx fieldSet
	seg.fields(obx[:])
	code, codes := codeableConcept(obx.get(3).Rep(1), d.source)
	res := make(map[string]any, 12)
	res["status"] = observationStatus(text(obx.get(11).Comp(1)))
	res["category"] = []any{concept(systemCategory, "laboratory", "Laboratory")}
	hasValue := d.observationValue(res, &obx)
	if code == nil {
		if !hasValue {
			return nil, nil
		}
		code = absent("unknown")
	}
	res["code"] = code
	if rr := text(obx.get(7).Comp(1)); rr != "" {
		res["referenceRange"] = []any{referenceRange(rr, obx.get(6).Comp(1), obx.get(6).Comp(3))}
	}
	var interp []any
	f := obx.get(8)
	for i := 1; i <= f.NumReps(); i++ {
		c := text(f.Rep(i).Comp(1))
		if c == "" {
			continue
		}
		if display := interpretation(c); display != "" {
			interp = append(interp, concept(systemInterpretation, c, display))
		} else {
			interp = append(interp, map[string]any{"text": c})
		}
	}
	if len(interp) > 0 {
		res["interpretation"] = interp
	}
	if v, ok := dateTime(obx.get(14).Comp(1).String()); ok {
		res["effectiveDateTime"] = v
	} else if obr != nil {
		if v, ok := dateTime(obr.Field(7).Comp(1).String()); ok {
			res["effectiveDateTime"] = v
		}
	}
	if obr != nil {
		if v, ok := instant(obr.Field(22).Comp(1).String()); ok {
			res["issued"] = v
		}
	}
	return res, codes
}

// observationValue sets value[x] from OBX-5 according to OBX-2 and reports
// whether OBX-5 held anything.
func (d *decoder) observationValue(res map[string]any, obx *fieldSet) bool {
	f := obx.get(5)
	if f.IsEmpty() || f.IsNull() {
		return false
	}
	unit, unitSystem := obx.get(6).Comp(1), obx.get(6).Comp(3)
	first := f.Rep(1)
	switch typ := strings.ToUpper(text(obx.get(2).Comp(1))); typ {
	case "NM":
		if v, ok := number(first.String()); ok {
			res["valueQuantity"] = quantity(v, unit, unitSystem)
			return true
		}
	case "SN":
		if key, v := structuredNumeric(first, unit, unitSystem); key != "" {
			res[key] = v
			return true
		}
	case "ST", "TX", "FT":
		lines := make([]string, f.NumReps())
		for i := range lines {
			lines[i] = f.Rep(i + 1).String()
		}
		s := strings.Join(lines, "\n")
		if typ == "ST" {
			s = trim(s)
		}
		res["valueString"] = s
		return true
	case "CE", "CWE", "CNE":
		if cc, _ := codeableConcept(first, d.source); cc != nil {
			res["valueCodeableConcept"] = cc
			return true
		}
	case "DT", "TS", "DTM":
		if v, ok := dateTime(first.Comp(1).String()); ok {
			res["valueDateTime"] = v
			return true
		}
	case "TM":
		if v, ok := timeOfDay(first.Comp(1).String()); ok {
			res["valueTime"] = v
			return true
		}
	case "RP": // reference pointer: the pointer itself
		if v := text(first.Comp(1)); v != "" {
			res["valueString"] = v
			return true
		}
	case "ED":
		// Encapsulated data (PDF, images) has no R4 Observation value type;
		// it is not copied into the resource.
		res["dataAbsentReason"] = concept("http://terminology.hl7.org/CodeSystem/data-absent-reason", "unsupported", "Unsupported")
		return true
	}
	if s := trim(first.String()); s != "" {
		res["valueString"] = s
	}
	return true
}

// quantity builds a Quantity; the unit (OBX-6.1) is also the UCUM code
// unless OBX-6.3 names a coding system other than UCUM (ISO+, ANSI, a local
// one), whose units are not UCUM codes.
func quantity(v float64, unit, unitSystem Comp) map[string]any {
	q := map[string]any{"value": v}
	if u := text(unit); u != "" {
		q["unit"] = u
		if s := text(unitSystem); s == "" || strings.EqualFold(s, "UCUM") {
			q["system"], q["code"] = systemUCUM, u
		}
	}
	return q
}

// structuredNumeric maps an SN (comparator, number, separator, number):
// "^5" and "<^5" are Quantities, "^1^:^128" a Ratio, "^10^-^20" a Range;
// anything else is kept as text.
func structuredNumeric(r Rep, unit, unitSystem Comp) (string, any) {
	cmp, s1, sep, s2 := text(r.Comp(1)), text(r.Comp(2)), text(r.Comp(3)), text(r.Comp(4))
	n1, ok1 := number(s1)
	n2, ok2 := number(s2)
	switch {
	case ok1 && sep == "" && s2 == "":
		q := quantity(n1, unit, unitSystem)
		switch cmp {
		case "", "=":
			return "valueQuantity", q
		case "<", "<=", ">=", ">":
			q["comparator"] = cmp
			return "valueQuantity", q
		}
	case ok1 && ok2 && cmp == "" && (sep == ":" || sep == "/"):
		return "valueRatio", map[string]any{
			"numerator":   map[string]any{"value": n1},
			"denominator": map[string]any{"value": n2},
		}
	case ok1 && ok2 && cmp == "" && sep == "-":
		return "valueRange", map[string]any{"low": quantity(n1, unit, unitSystem), "high": quantity(n2, unit, unitSystem)}
	}
	if s := cmp + s1 + sep + s2; s != "" {
		return "valueString", s
	}
	return "", nil
}

// referenceRange keeps OBX-7 as text and adds low and high when it is a
// numeric range ("3.5-5.0", "4.3 to 6.2").
func referenceRange(s string, unit, unitSystem Comp) map[string]any {
	rr := map[string]any{"text": s}
	lo, hi, found := strings.Cut(s, " to ")
	if !found {
		if i := strings.IndexByte(s[1:], '-'); i >= 0 { // s[1:]: a leading sign is not the separator
			lo, hi, found = s[:i+1], s[i+2:], true
		}
	}
	if !found {
		return rr
	}
	l, ok1 := number(lo)
	h, ok2 := number(hi)
	if ok1 && ok2 && l <= h {
		rr["low"] = quantity(l, unit, unitSystem)
		rr["high"] = quantity(h, unit, unitSystem)
	}
	return rr
}

// observationStatus maps OBX-11 (HL7 table 0085).
func observationStatus(s string) string {
	switch s {
	case "P", "S":
		return "preliminary"
	case "C":
		return "corrected"
	case "A":
		return "amended"
	case "X":
		return "cancelled"
	case "R", "I", "O":
		return "registered"
	case "D", "W":
		return "entered-in-error"
	}
	return "final"
}

// interpretation returns the display of a v2 abnormal flag (table 0078)
// that is also a code of v3 ObservationInterpretation, or "".
func interpretation(c string) string {
	switch c {
	case "<":
		return "Off scale low"
	case ">":
		return "Off scale high"
	case "A":
		return "Abnormal"
	case "AA":
		return "Critical abnormal"
	case "B":
		return "Better"
	case "D":
		return "Significant change down"
	case "DET":
		return "Detected"
	case "E":
		return "Equivocal"
	case "H":
		return "High"
	case "HH":
		return "Critical high"
	case "HU":
		return "Significantly high"
	case "I":
		return "Intermediate"
	case "IND":
		return "Indeterminate"
	case "L":
		return "Low"
	case "LL":
		return "Critical low"
	case "LU":
		return "Significantly low"
	case "MS":
		return "moderately susceptible"
	case "N":
		return "Normal"
	case "ND":
		return "Not detected"
	case "NEG":
		return "Negative"
	case "NR":
		return "Non-reactive"
	case "POS":
		return "Positive"
	case "R":
		return "Resistant"
	case "RR":
		return "Reactive"
	case "S":
		return "Susceptible"
	case "U":
		return "Significant change up"
	case "VS":
		return "very susceptible"
	case "W":
		return "Worse"
	case "WR":
		return "Weakly reactive"
	}
	return ""
}

// addNote appends the comment of an NTE (NTE-3, repetitions as lines) to
// the resource's notes.
func addNote(res map[string]any, nte *Segment) {
	f := nte.Field(3)
	lines := make([]string, 0, f.NumReps())
	for i := 1; i <= f.NumReps(); i++ {
		lines = append(lines, f.Rep(i).String())
	}
	t := trim(strings.Join(lines, "\n"))
	if t == "" {
		return
	}
	notes, _ := res["note"].([]any)
	res["note"] = append(notes, map[string]any{"text": t})
}

// diagnosticReport maps an OBR to a FHIR DiagnosticReport (without results).
func (d *decoder) diagnosticReport(obr *Segment) (map[string]any, []record.Coding) {
	code, codes := codeableConcept(obr.Field(4).Rep(1), d.source)
	if code == nil {
		code = absent("unknown")
	}
	res := make(map[string]any, 8)
	res["status"], res["code"] = reportStatus(text(obr.Field(25).Comp(1))), code
	if sect := text(obr.Field(24).Comp(1)); sect != "" {
		res["category"] = []any{concept(systemDiagServSect, sect, "")}
	}
	if v, ok := dateTime(obr.Field(7).Comp(1).String()); ok {
		res["effectiveDateTime"] = v
	}
	if v, ok := instant(obr.Field(22).Comp(1).String()); ok {
		res["issued"] = v
	}
	return res, codes
}

// reportStatus maps OBR-25 (HL7 table 0123).
func reportStatus(s string) string {
	switch s {
	case "O", "I", "S":
		return "registered"
	case "A":
		return "partial"
	case "P", "R":
		return "preliminary"
	case "C":
		return "corrected"
	case "F":
		return "final"
	case "X":
		return "cancelled"
	}
	return "unknown"
}

// absent is a CodeableConcept that only says why it is missing.
func absent(reason string) map[string]any {
	return map[string]any{"extension": []any{map[string]any{
		"url":       "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
		"valueCode": reason,
	}}}
}
