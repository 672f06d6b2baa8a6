package hl7

import "strings"

// patientEvent reports whether an ADT trigger event carries patient
// demographics that map to one Patient: admit (A01), register (A04), update
// (A08), add/update person (A28, A31); discharge (A03) and pre-admit (A05)
// are accepted as updates.
func patientEvent(trigger string) bool {
	switch trigger {
	case "A01", "A03", "A04", "A05", "A08", "A28", "A31":
		return true
	}
	return false
}

// adt maps an ADT message to one Patient record from its PID (and PD1).
func (d *decoder) adt() *DecodeError {
	pid := -1
	for i, s := range d.msg.All() {
		if s.Name() != "PID" {
			continue
		}
		if pid >= 0 {
			return errorf(ReasonTypeMismatch, i, 0, d.label+" message has more than one PID segment")
		}
		pid = i
	}
	if pid < 0 {
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no PID segment")
	}
	seg := d.msg.At(pid)
	subject, ids, err := d.patient(seg, pid)
	if err != nil {
		return err
	}
	res := make(map[string]any, 14)
	res["identifier"] = ids
	var pd1 *Segment
	if pd1s := d.msg.Segments("PD1"); len(pd1s) == 1 {
		pd1 = pd1s[0]
	}
	patientResource(res, seg, pd1)
	rec := d.emit("Patient", subject, nil, res)
	rec.Practitioners = d.visitPractitioners()
	return nil
}

// patientResource adds the demographics of a PID (and PD1, may be nil) to a
// FHIR Patient.
func patientResource(res map[string]any, seg, pd1 *Segment) {
	var pid fieldSet
	seg.fields(pid[:])
	setList(res, "name", pid.get(5), humanName)
	switch text(pid.get(8).Comp(1)) {
	case "M":
		res["gender"] = "male"
	case "F":
		res["gender"] = "female"
	case "O", "A":
		res["gender"] = "other"
	case "U", "N":
		res["gender"] = "unknown"
	}
	if v, ok := date(pid.get(7).Comp(1).String()); ok {
		res["birthDate"] = v
	}
	setList(res, "address", pid.get(11), address)
	var telecom []any
	telecom = appendTelecoms(telecom, pid.get(13), "home")
	telecom = appendTelecoms(telecom, pid.get(14), "work")
	if len(telecom) > 0 {
		res["telecom"] = telecom
	}
	if ms := maritalStatus(pid.get(16).Rep(1)); ms != nil {
		res["maritalStatus"] = ms
	}
	if v, ok := dateTime(pid.get(29).Comp(1).String()); ok {
		res["deceasedDateTime"] = v
	} else if b, ok := yesNo(pid.get(30)); ok {
		res["deceasedBoolean"] = b
	}
	if multi, ok := yesNo(pid.get(24)); ok {
		order, isNum := number(text(pid.get(25).Comp(1)))
		if multi && isNum && order >= 1 && order == float64(int(order)) {
			res["multipleBirthInteger"] = order
		} else {
			res["multipleBirthBoolean"] = multi
		}
	}
	if pd1 != nil && text(pd1.Field(12).Comp(1)) == "Y" {
		// PD1-12 protection indicator: the sender asks that the patient's
		// data be restricted.
		res["meta"] = map[string]any{"security": []any{codingJSON(systemConfidentiality, "R", "restricted")}}
	}
}

// setList sets res[key] to the non-nil mappings of the field's repetitions.
func setList(res map[string]any, key string, f Field, conv func(Rep) map[string]any) {
	var out []any
	for i := 1; i <= f.NumReps(); i++ {
		if v := conv(f.Rep(i)); v != nil {
			out = append(out, v)
		}
	}
	if len(out) > 0 {
		res[key] = out
	}
}

func yesNo(f Field) (bool, bool) {
	switch text(f.Comp(1)) {
	case "Y":
		return true, true
	case "N":
		return false, true
	}
	return false, false
}

// humanName maps an XPN (PN before 2.3): family .1(.1), given .2 and .3,
// suffix .4 and .6 (degree), prefix .5, use from the name type .7.
func humanName(r Rep) map[string]any {
	n := map[string]any{}
	if fam := clean(r.Comp(1).Sub(1)); fam != "" {
		n["family"] = fam
	}
	putStrings(n, "given", text(r.Comp(2)), text(r.Comp(3)))
	putStrings(n, "prefix", text(r.Comp(5)))
	putStrings(n, "suffix", text(r.Comp(4)), text(r.Comp(6)))
	if len(n) == 0 {
		return nil
	}
	if use := nameUse(text(r.Comp(7))); use != "" {
		n["use"] = use
	}
	return n
}

// nameUse maps HL7 table 0200 (name type) to FHIR name-use.
func nameUse(t string) string {
	switch t {
	case "L":
		return "official"
	case "D", "A":
		return "usual"
	case "M":
		return "maiden"
	case "N":
		return "nickname"
	case "S":
		return "anonymous"
	case "TEMP", "NAV":
		return "temp"
	case "BAD":
		return "old"
	}
	return ""
}

// putStrings sets m[key] to the non-empty values, if any.
func putStrings(m map[string]any, key string, values ...string) {
	var out []any
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	if len(out) > 0 {
		m[key] = out
	}
}

// address maps an XAD: line from .1 (the SAD subcomponents joined) and .2,
// city .3, state .4, postalCode .5, country .6, district .9 (county), use
// and type from the address type .7.
func address(r Rep) map[string]any {
	a := map[string]any{}
	street := r.Comp(1)
	var parts []string
	for i := 1; i <= street.NumSubs(); i++ {
		if s := clean(street.Sub(i)); s != "" {
			parts = append(parts, s)
		}
	}
	putStrings(a, "line", strings.Join(parts, " "), text(r.Comp(2)))
	for _, p := range [...]struct {
		key  string
		comp int
	}{{"city", 3}, {"state", 4}, {"postalCode", 5}, {"country", 6}, {"district", 9}} {
		if v := text(r.Comp(p.comp)); v != "" {
			a[p.key] = v
		}
	}
	if len(a) == 0 {
		return nil
	}
	switch text(r.Comp(7)) {
	case "H", "P":
		a["use"] = "home"
	case "B", "O":
		a["use"] = "work"
	case "C":
		a["use"] = "temp"
	case "BA":
		a["use"] = "old"
	case "M":
		a["type"] = "postal"
	}
	return a
}

// appendTelecoms maps the XTN repetitions of PID-13 (use home) or PID-14
// (use work).
func appendTelecoms(out []any, f Field, use string) []any {
	for i := 1; i <= f.NumReps(); i++ {
		if t := telecom(f.Rep(i), use); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// telecom maps an XTN: e-mail from .4 when the equipment (.3) is Internet or
// X.400 or the use (.2) NET; otherwise a phone number from .1, or composed
// from country (.5), area (.6), local number (.7) and extension (.8), or the
// unformatted number (.12).
func telecom(r Rep, defaultUse string) map[string]any {
	useCode, equip := text(r.Comp(2)), text(r.Comp(3))
	t := map[string]any{}
	if equip == "Internet" || equip == "X.400" || useCode == "NET" {
		v := text(r.Comp(4))
		if v == "" && strings.Contains(text(r.Comp(1)), "@") {
			v = text(r.Comp(1))
		}
		if v == "" {
			return nil
		}
		t["system"], t["value"] = "email", v
	} else {
		v := text(r.Comp(1))
		if v == "" {
			v = composePhone(text(r.Comp(5)), text(r.Comp(6)), text(r.Comp(7)), text(r.Comp(8)))
		}
		if v == "" {
			v = text(r.Comp(12))
		}
		if v == "" {
			return nil
		}
		switch equip {
		case "FX":
			t["system"] = "fax"
		case "BP":
			t["system"] = "pager"
		default:
			t["system"] = "phone"
		}
		t["value"] = v
	}
	switch {
	case equip == "CP":
		t["use"] = "mobile"
	case useCode == "WPN":
		t["use"] = "work"
	case useCode == "PRN" || useCode == "ORN" || useCode == "VHN":
		t["use"] = "home"
	default:
		t["use"] = defaultUse
	}
	return t
}

func composePhone(country, area, local, ext string) string {
	if local == "" {
		return ""
	}
	var b strings.Builder
	if country != "" {
		b.WriteString("+" + country + " ")
	}
	if area != "" {
		b.WriteString("(" + area + ") ")
	}
	b.WriteString(local)
	if ext != "" {
		b.WriteString(" ext. " + ext)
	}
	return b.String()
}

// maritalStatus maps PID-16 (HL7 table 0002) to the FHIR marital status
// codes (v3 MaritalStatus, v3 NullFlavor for unknown and other). A code it
// does not know is kept as text.
func maritalStatus(r Rep) map[string]any {
	code := text(r.Comp(1))
	var v3, display string
	switch code {
	case "A", "E": // separated, legally separated
		v3, display = "L", "Legally Separated"
	case "B":
		v3, display = "U", "unmarried"
	case "C":
		v3, display = "C", "Common Law"
	case "D":
		v3, display = "D", "Divorced"
	case "G", "P", "R":
		v3, display = "T", "Domestic partner"
	case "I":
		v3, display = "I", "Interlocutory"
	case "M":
		v3, display = "M", "Married"
	case "N":
		v3, display = "A", "Annulled"
	case "S":
		v3, display = "S", "Never Married"
	case "W":
		v3, display = "W", "Widowed"
	case "U", "T", "UNK": // unknown, unreported
		return concept(systemNullFlavor, "UNK", "unknown")
	case "O":
		return concept(systemNullFlavor, "OTH", "other")
	case "":
		if t := text(r.Comp(2)); t != "" {
			return map[string]any{"text": t}
		}
		return nil
	default:
		return map[string]any{"text": code}
	}
	return concept(systemMarital, v3, display)
}
