package hl7

import (
	"strconv"
	"strings"

	"github.com/carecrest/hub/record"
)

// This file converts HL7 v2 data types (TS, CWE, CX, NM) to FHIR elements.
// Resource values use the types encoding/json produces when it unmarshals
// (map[string]any, []any, string, float64, bool), so a resource survives a
// JSON round trip unchanged.

// text returns the trimmed, unescaped text of a primitive component: its
// first subcomponent, since components that were primitive in one version
// became composite in a later one (XAD county, XPN family name). The HL7
// explicit null `""` is empty.
func text(c Comp) string { return clean(c.Sub(1)) }

func clean(s string) string {
	s = trim(s)
	if s == `""` {
		return ""
	}
	return s
}

// Code systems of FHIR R4 used by the mapping.
const (
	systemLOINC           = "http://loinc.org"
	systemSNOMED          = "http://snomed.info/sct"
	systemUCUM            = "http://unitsofmeasure.org"
	systemV2Prefix        = "http://terminology.hl7.org/CodeSystem/v2-"
	systemIdentifierType  = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemInterpretation  = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	systemCategory        = "http://terminology.hl7.org/CodeSystem/observation-category"
	systemDiagServSect    = "http://terminology.hl7.org/CodeSystem/v2-0074"
	systemMarital         = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	systemNullFlavor      = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
	systemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
)

// codeSystem maps an HL7 v2 coding system name (table 0396) to a FHIR
// system URI. Names it does not know are the sender's local code systems:
// they become urn:carecrest:local:<source>:<name>, qualified by the source
// because two senders' local "L" codes are different code systems; a code
// without any system becomes urn:carecrest:local:<source>.
func codeSystem(name, source string) string {
	switch strings.ToUpper(name) {
	case "LN", "LOINC":
		return systemLOINC
	case "SCT", "SNM", "SNM3", "SNOMED", "SNOMEDCT", "SCT2":
		return systemSNOMED
	case "I10", "ICD10":
		return "http://hl7.org/fhir/sid/icd-10"
	case "I10C", "ICD10CM":
		return "http://hl7.org/fhir/sid/icd-10-cm"
	case "I9", "I9C", "ICD9", "ICD9CM":
		return "http://hl7.org/fhir/sid/icd-9-cm"
	case "UCUM":
		return systemUCUM
	case "C4", "C5", "CPT", "CPT4":
		return "http://www.ama-assn.org/go/cpt"
	case "NDC":
		return "http://hl7.org/fhir/sid/ndc"
	case "RXNORM":
		return "http://www.nlm.nih.gov/research/umls/rxnorm"
	case "CVX":
		return "http://hl7.org/fhir/sid/cvx"
	case "DCM":
		return "http://dicom.nema.org/resources/ontology/DCM"
	case "":
		return "urn:carecrest:local:" + source
	}
	up := strings.ToUpper(name)
	if t, ok := strings.CutPrefix(up, "HL7"); ok && len(t) == 4 && isUpperAlnum(t) && isDigit(t[0]) {
		return systemV2Prefix + t
	}
	return "urn:carecrest:local:" + source + ":" + urnPart(name)
}

// urnPart makes s safe inside a URN: letters, digits and ".-_" are kept,
// anything else becomes '-'.
func urnPart(s string) string {
	ok := true
	for i := 0; i < len(s) && ok; i++ {
		ok = urnByte(s[i])
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !urnByte(c) {
			b[i] = '-'
		}
	}
	return string(b)
}

func urnByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '.' || c == '-' || c == '_'
}

// codeableConcept maps a CE/CWE: the primary triplet (1-3) and the
// alternate triplet (4-6) become codings, CWE-9 (original text) the text.
// It returns nil when the value carries neither code nor text.
func codeableConcept(r Rep, source string) (map[string]any, []record.Coding) {
	var codings []record.Coding
	for _, k := range [2]int{1, 4} {
		code, display := text(r.Comp(k)), text(r.Comp(k+1))
		if code == "" {
			continue
		}
		codings = append(codings, record.Coding{System: codeSystem(text(r.Comp(k+2)), source), Code: code, Display: display})
	}
	txt := text(r.Comp(9))
	if txt == "" && len(codings) == 0 {
		txt = text(r.Comp(2)) // text-only CE: "^Married"
	}
	if len(codings) == 0 && txt == "" {
		return nil, nil
	}
	cc := map[string]any{}
	if len(codings) > 0 {
		cc["coding"] = codingsJSON(codings)
	}
	if txt != "" {
		cc["text"] = txt
	}
	return cc, codings
}

func codingsJSON(cs []record.Coding) []any {
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = codingJSON(c.System, c.Code, c.Display)
	}
	return out
}

func codingJSON(system, code, display string) map[string]any {
	m := map[string]any{"code": code}
	if system != "" {
		m["system"] = system
	}
	if display != "" {
		m["display"] = display
	}
	return m
}

// concept returns a CodeableConcept with one coding.
func concept(system, code, display string) map[string]any {
	return map[string]any{"coding": []any{codingJSON(system, code, display)}}
}

// dateTime converts an HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]]
// [+/-ZZZZ]) to a FHIR dateTime, keeping its precision: 1962, 1962-08,
// 1962-08-16, 2016-12-01T12:58:00-05:00. A time without an offset is given
// without one, as received. Invalid values yield false.
func dateTime(ts string) (string, bool) {
	t, ok := parseTS(ts)
	if !ok {
		return "", false
	}
	return t.format(t.digits > 8), true
}

// date converts an HL7 TS to a FHIR date (the time, if any, is dropped).
func date(ts string) (string, bool) {
	t, ok := parseTS(ts)
	if !ok {
		return "", false
	}
	return t.format(false), true
}

// instant converts an HL7 TS to a FHIR instant, which needs at least minutes
// and an offset; anything less precise yields false.
func instant(ts string) (string, bool) {
	t, ok := parseTS(ts)
	if !ok || t.digits < 12 || t.zone == "" {
		return "", false
	}
	return t.format(true), true
}

type ts struct {
	s      string // the digits and fraction, validated
	digits int    // 4, 6, 8, 10, 12 or 14
	frac   string // fraction digits, without '.'
	zone   string // +hhmm / -hhmm or ""
}

func parseTS(v string) (ts, bool) {
	v = trim(v)
	var t ts
	if i := strings.IndexAny(v, "+-"); i >= 0 {
		t.zone, v = v[i:], v[:i]
		if len(t.zone) != 5 || !allDigits(t.zone[1:]) || t.zone[1:3] > "14" || t.zone[3:] > "59" {
			return t, false
		}
	}
	if i := strings.IndexByte(v, '.'); i >= 0 {
		t.frac, v = v[i+1:], v[:i]
		if len(v) != 14 || len(t.frac) == 0 || len(t.frac) > 4 || !allDigits(t.frac) {
			return t, false
		}
	}
	switch len(v) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return t, false
	}
	if !allDigits(v) || v[:4] == "0000" {
		return t, false
	}
	t.s, t.digits = v, len(v)
	num := func(a int) int { return int(v[a]-'0')*10 + int(v[a+1]-'0') }
	if t.digits >= 6 && (num(4) < 1 || num(4) > 12) {
		return t, false
	}
	if t.digits >= 8 {
		y, _ := strconv.Atoi(v[:4])
		if d := num(6); d < 1 || d > daysIn(num(4), y) {
			return t, false
		}
	}
	if t.digits >= 10 && num(8) > 23 || t.digits >= 12 && num(10) > 59 || t.digits >= 14 && num(12) > 59 {
		return t, false
	}
	return t, true
}

func (t ts) format(withTime bool) string {
	v := t.s
	var b strings.Builder
	b.Grow(32)
	b.WriteString(v[:4])
	if t.digits >= 6 {
		b.WriteString("-" + v[4:6])
	}
	if t.digits >= 8 {
		b.WriteString("-" + v[6:8])
	}
	if !withTime || t.digits < 10 {
		return b.String()
	}
	sec := "00"
	if t.digits >= 14 {
		sec = v[12:14]
	}
	minute := "00"
	if t.digits >= 12 {
		minute = v[10:12]
	}
	b.WriteString("T" + v[8:10] + ":" + minute + ":" + sec)
	if t.frac != "" {
		b.WriteString("." + t.frac)
	}
	if t.zone != "" {
		b.WriteString(t.zone[:3] + ":" + t.zone[3:])
	}
	return b.String()
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// timeOfDay converts an HL7 TM (HH[MM[SS[.S...]]][+/-ZZZZ]) to a FHIR time
// (hh:mm:ss); the offset is dropped, FHIR time has none.
func timeOfDay(tm string) (string, bool) {
	tm = trim(tm)
	if i := strings.IndexAny(tm, "+-"); i >= 0 {
		tm = tm[:i]
	}
	frac := ""
	if i := strings.IndexByte(tm, '.'); i >= 0 {
		tm, frac = tm[:i], tm[i+1:]
		if len(tm) != 6 || frac == "" || len(frac) > 4 || !allDigits(frac) {
			return "", false
		}
	}
	if len(tm) < 2 || len(tm) > 6 || len(tm)%2 != 0 || !allDigits(tm) {
		return "", false
	}
	tm += "0000"[:6-len(tm)]
	if tm[:2] > "23" || tm[2:4] > "59" || tm[4:6] > "59" {
		return "", false
	}
	out := tm[:2] + ":" + tm[2:4] + ":" + tm[4:6]
	if frac != "" {
		out += "." + frac
	}
	return out, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// number parses an HL7 NM (optional sign, digits, optional decimal point).
// It refuses what strconv would also accept (exponents, Inf, NaN, hex), so
// that every value is a finite JSON number.
func number(s string) (float64, bool) {
	s = trim(s)
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	digits, dots := 0, 0
	for i := 0; i < len(body); i++ {
		switch {
		case isDigit(body[i]):
			digits++
		case body[i] == '.':
			dots++
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 || len(body) > 32 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// identifier maps one CX (PID-3, PID-2, PID-4) to a record identifier and
// a FHIR Identifier. kind names the identifier when it has neither an
// assigning authority nor a type code. ok is false when CX.1 is empty.
func identifier(cx Rep, source, kind string) (record.Identifier, map[string]any, bool) {
	value := text(cx.Comp(1))
	if value == "" {
		return record.Identifier{}, nil, false
	}
	typ := text(cx.Comp(5))
	sys := assigningAuthority(cx.Comp(4))
	if sys == "" {
		if typ != "" && typ != "MR" && isUpperAlnum(typ) && len(typ) <= 8 {
			kind = strings.ToLower(typ)
		}
		sys = "urn:carecrest:source:" + source + ":" + kind
	}
	id := map[string]any{"system": sys, "value": value}
	if typ != "" {
		id["type"] = concept(systemIdentifierType, typ, "")
	}
	return record.Identifier{System: sys, Value: value}, id, true
}

// assigningAuthority renders an HD (CX.4): the universal id as a URI when
// its type says what it is (ISO → urn:oid:, UUID → urn:uuid:, URI as is),
// else the namespace id, else the universal id as given.
func assigningAuthority(hd Comp) string {
	return authority(clean(hd.Sub(1)), clean(hd.Sub(2)), clean(hd.Sub(3)))
}

// authority renders the parts of an HD (namespace, universal id, universal
// id type) as assigningAuthority does.
func authority(ns, uid, typ string) string {
	typ = strings.ToUpper(typ)
	switch {
	case uid != "" && typ == "ISO" && isOID(uid):
		return "urn:oid:" + uid
	case uid != "" && typ == "UUID":
		return "urn:uuid:" + strings.ToLower(uid)
	case uid != "" && (typ == "URI" || typ == "URL"):
		return uid
	case ns != "":
		return ns
	}
	return uid
}

func isOID(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// entityIdentifier maps an EI (entity id .1, namespace .2, universal id .3,
// universal id type .4: placer and filler numbers, appointment and document
// ids) to a FHIR Identifier. Its system is the EI's authority rendered as
// for CX.4, else urn:carecrest:source:<source>:<kind>. typeCode, when not
// empty, is the identifier type (v2-0203: PLAC, FILL). It returns nil when
// EI.1 is empty.
func entityIdentifier(r Rep, source, kind, typeCode string) map[string]any {
	value := text(r.Comp(1))
	if value == "" {
		return nil
	}
	sys := authority(text(r.Comp(2)), text(r.Comp(3)), text(r.Comp(4)))
	if sys == "" {
		sys = "urn:carecrest:source:" + source + ":" + kind
	}
	id := map[string]any{"system": sys, "value": value}
	if typeCode != "" {
		id["type"] = concept(systemIdentifierType, typeCode, "")
	}
	return id
}

// personDisplay renders an XCN (id .1, family .2, given .3, middle .4,
// suffix .5, prefix .6) for Reference.display: the name, or the id number
// when the name is empty.
func personDisplay(r Rep) string {
	parts := make([]string, 0, 5)
	for _, v := range [...]string{text(r.Comp(6)), text(r.Comp(3)), text(r.Comp(4)), clean(r.Comp(2).Sub(1)), text(r.Comp(5))} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return text(r.Comp(1))
	}
	return strings.Join(parts, " ")
}

// locationDisplay renders a PL for Reference.display: its description
// (.9), else point of care, room, bed, facility, building and floor joined.
func locationDisplay(r Rep) string {
	if v := text(r.Comp(9)); v != "" {
		return v
	}
	parts := make([]string, 0, 6)
	for _, c := range [...]int{1, 2, 3, 4, 7, 8} {
		if v := text(r.Comp(c)); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ", ")
}

// conceptDisplay renders a CE/CWE for Reference.display: its text (.2),
// else its original text (.9), else its code (.1).
func conceptDisplay(r Rep) string {
	for _, c := range [...]int{2, 9, 1} {
		if v := text(r.Comp(c)); v != "" {
			return v
		}
	}
	return ""
}

// displayRef is a Reference that names its target without pointing at it:
// the hub has no resource for the practitioners, locations and payors that
// messages name. typ (Practitioner, Location) may be empty. It returns nil
// when display is empty.
func displayRef(typ, display string) map[string]any {
	if display == "" {
		return nil
	}
	ref := map[string]any{"display": display}
	if typ != "" {
		ref["type"] = typ
	}
	return ref
}

// plainQuantity maps an amount and its units (CE: code .1, text .2, system
// .3: pharmacy and billing units) to a Quantity. Unlike OBX-6 units, these
// are rarely UCUM: the unit is the text (else the code), and system and
// code are only set when .3 says UCUM. ok is false when the amount is not a
// number.
func plainQuantity(amount string, units Rep) (map[string]any, bool) {
	v, ok := number(amount)
	if !ok {
		return nil, false
	}
	q := map[string]any{"value": v}
	code, unit := text(units.Comp(1)), text(units.Comp(2))
	if unit == "" {
		unit = code
	}
	if unit != "" {
		q["unit"] = unit
	}
	if code != "" && strings.EqualFold(text(units.Comp(3)), "UCUM") {
		q["system"], q["code"] = systemUCUM, code
	}
	return q, true
}
