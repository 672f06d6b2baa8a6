package consent

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidFHIR reports a FHIR Consent that cannot be turned into a
// directive. Its messages name elements only, never values.
var ErrInvalidFHIR = errors.New("consent: invalid FHIR Consent")

// Code systems whose policyRule codes say opt-in or opt-out: HL7 v3 ActCode
// (ActConsentDirective: OPTIN, OPTINR, OPTOUT, OPTOUTE) under its R4 URI, its
// OID and its STU3 URI, and the R4 consent policy code system.
var policySystems = map[string]bool{
	"http://terminology.hl7.org/CodeSystem/v3-ActCode":         true,
	"urn:oid:2.16.840.1.113883.5.4":                            true,
	"http://hl7.org/fhir/v3/ActCode":                           true,
	"http://terminology.hl7.org/CodeSystem/consentpolicycodes": true,
}

var policyDecisions = map[string]string{
	"OPTIN": Permit, "OPTINR": Permit,
	"OPTOUT": Deny, "OPTOUTE": Deny,
}

var statuses = map[string]bool{
	"draft": true, "proposed": true, "active": true,
	"rejected": true, "inactive": true, "entered-in-error": true,
}

// maxProvisionDepth bounds the nesting of provisions that ProvisionFromFHIR
// follows.
const maxProvisionDepth = 16

// FromFHIR turns a FHIR R4 Consent resource (its JSON object) into the
// directive of patientID, recorded by source.
//
//   - ID is the Consent's id, "" when it has none (the caller sets it).
//
//   - Status is Consent.status, which must be an R4 status.
//
//   - Decision is the root provision's type. When the root provision has no
//     type, policyRule decides: OPTIN or OPTINR is Permit, OPTOUT or OPTOUTE
//     is Deny (HL7 v3 ActCode or the R4 consentpolicycodes system). When
//     neither says, or the codings disagree, the decision is Deny: consent
//     fails closed.
//
//   - Purposes are the codes of the root provision.purpose.
//
//   - Start and End come from provision.period. FHIR dates may be partial
//     (YYYY, YYYY-MM); a date without time zone is taken as UTC, and all
//     times are returned in UTC. FHIR period ends are inclusive to their
//     precision while Directive.End is exclusive, so End is the first
//     instant after the period: an end of 2016-01-01 gives End
//     2016-01-02T00:00:00Z, an end of 2016 gives 2017-01-01T00:00:00Z.
//
//   - Recorded is Consent.dateTime, else recordedFallback.
//
//   - Rules are the whole provision tree flattened (Flatten), which is what
//     policy decides on: Decision and Purposes summarise the root provision
//     only and stay for display and for directives stored before rules.
//     ProvisionFromFHIR returns the tree itself.
func FromFHIR(res map[string]any, patientID, source string, recordedFallback time.Time) (Directive, error) {
	if s, _ := res["resourceType"].(string); s != "Consent" {
		return Directive{}, invalid("resource is not a Consent")
	}
	status, _ := res["status"].(string)
	if !statuses[status] {
		return Directive{}, invalid("Consent.status is missing or not an R4 status")
	}
	root, err := provisionObject(res["provision"], "Consent.provision")
	if err != nil {
		return Directive{}, err
	}
	decision, err := rootDecision(res, root)
	if err != nil {
		return Directive{}, err
	}
	start, end, err := period(root, "Consent.provision")
	if err != nil {
		return Directive{}, err
	}
	recorded := recordedFallback
	if v, ok := res["dateTime"]; ok {
		s, _ := v.(string)
		if recorded, _, err = parseTime(s); err != nil {
			return Directive{}, invalid("Consent.dateTime is not a FHIR dateTime")
		}
	}
	tree, err := provision(root, decision, 0)
	if err != nil {
		return Directive{}, err
	}
	_, rootTyped := root["type"]
	rules := Flatten(policyDecision(res), tree, rootTyped, emergencyOnly(res))
	id, _ := res["id"].(string)
	return Directive{
		Rules:     rules,
		ID:        id,
		PatientID: patientID,
		Status:    status,
		Decision:  decision,
		Purposes:  codes(root["purpose"], false),
		Start:     start,
		End:       end,
		Recorded:  recorded,
		Source:    source,
	}, nil
}

// Provision is one provision of a FHIR Consent with its nested provisions,
// which are exceptions to it. Like Directive it holds no plaintext PHI:
// actors and data are references and roles, everything else codes.
type Provision struct {
	// Decision is permit or deny. The root provision's is the Directive's
	// (policyRule when it has no type); a nested provision without type is
	// Deny.
	Decision string    `json:"decision"`
	Start    time.Time `json:"start,omitzero"` // as Directive.Start
	End      time.Time `json:"end,omitzero"`   // as Directive.End: exclusive
	// Actors the provision applies to.
	Actors []Actor `json:"actors,omitempty"`
	// Actions (access, collect, use, disclose, correct) as codes.
	Actions []string `json:"actions,omitempty"`
	// SecurityLabels, Purposes and Classes as codes.
	SecurityLabels []string `json:"securityLabels,omitempty"`
	Purposes       []string `json:"purposes,omitempty"`
	Classes        []string `json:"classes,omitempty"`
	// Codes as "system|code".
	Codes []string `json:"codes,omitempty"`
	// DataPeriod bounds the data (not the consent) the provision covers.
	DataStart time.Time `json:"dataStart,omitzero"`
	DataEnd   time.Time `json:"dataEnd,omitzero"`
	// Data are the specific resources the provision covers.
	Data []DataRef `json:"data,omitempty"`
	// Provisions are the nested provisions.
	Provisions []Provision `json:"provisions,omitempty"`
}

// Actor is who a provision applies to: a role code (v3 ParticipationType,
// e.g. PRCP, CST) and a reference (Organization/f001, a role, a group).
type Actor struct {
	Role      string `json:"role,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// DataRef is one resource a provision covers and how (instance, related,
// dependents, authoredby).
type DataRef struct {
	Meaning   string `json:"meaning"`
	Reference string `json:"reference,omitempty"`
}

// ProvisionFromFHIR returns the root provision of a FHIR R4 Consent with all
// its nested provisions, the Decision of each resolved as FromFHIR does.
// A Consent without provision gives a Provision with only a Decision.
func ProvisionFromFHIR(res map[string]any) (Provision, error) {
	if s, _ := res["resourceType"].(string); s != "Consent" {
		return Provision{}, invalid("resource is not a Consent")
	}
	root, err := provisionObject(res["provision"], "Consent.provision")
	if err != nil {
		return Provision{}, err
	}
	decision, err := rootDecision(res, root)
	if err != nil {
		return Provision{}, err
	}
	return provision(root, decision, 0)
}

func provision(m map[string]any, decision string, depth int) (Provision, error) {
	const el = "Consent.provision"
	if depth > maxProvisionDepth {
		return Provision{}, invalid("Consent.provision nests too deep")
	}
	p := Provision{Decision: decision}
	var err error
	if p.Start, p.End, err = period(m, el); err != nil {
		return Provision{}, err
	}
	if p.DataStart, p.DataEnd, err = periodOf(m["dataPeriod"], el+".dataPeriod"); err != nil {
		return Provision{}, err
	}
	for _, a := range list(m["actor"]) {
		am, _ := a.(map[string]any)
		ref, _ := am["reference"].(map[string]any)
		r, _ := ref["reference"].(string)
		var role string
		if rc := codes(am["role"], false); len(rc) > 0 {
			role = rc[0]
		}
		if role != "" || r != "" {
			p.Actors = append(p.Actors, Actor{Role: role, Reference: r})
		}
	}
	for _, a := range list(m["action"]) {
		p.Actions = append(p.Actions, codes(a, false)...)
	}
	p.SecurityLabels = codes(m["securityLabel"], false)
	p.Purposes = codes(m["purpose"], false)
	p.Classes = codes(m["class"], false)
	for _, c := range list(m["code"]) {
		p.Codes = append(p.Codes, codes(c, true)...)
	}
	for _, x := range list(m["data"]) {
		dm, _ := x.(map[string]any)
		meaning, _ := dm["meaning"].(string)
		ref, _ := dm["reference"].(map[string]any)
		r, _ := ref["reference"].(string)
		if meaning != "" || r != "" {
			p.Data = append(p.Data, DataRef{Meaning: meaning, Reference: r})
		}
	}
	for _, x := range list(m["provision"]) {
		nm, err := provisionObject(x, el+".provision")
		if err != nil {
			return Provision{}, err
		}
		d, err := provisionType(nm, el+".provision.type")
		if err != nil {
			return Provision{}, err
		}
		if d == "" {
			d = Deny // fail closed
		}
		np, err := provision(nm, d, depth+1)
		if err != nil {
			return Provision{}, err
		}
		p.Provisions = append(p.Provisions, np)
	}
	return p, nil
}

// rootDecision is the decision of the root provision: its type, else the
// policyRule, else Deny.
func rootDecision(res, root map[string]any) (string, error) {
	d, err := provisionType(root, "Consent.provision.type")
	if err != nil || d != "" {
		return d, err
	}
	if d = policyDecision(res); d == "" {
		return Deny, nil
	}
	return d, nil
}

// policyDecision is the decision of the Consent's base policy: Permit or
// Deny from its policyRule codes (Deny when they contradict each other, or
// for EMRGONLY), "" when it has none.
func policyDecision(res map[string]any) string {
	if emergencyOnly(res) {
		return Deny
	}
	d := ""
	rule, _ := res["policyRule"].(map[string]any)
	for _, c := range list(rule["coding"]) {
		cm, _ := c.(map[string]any)
		system, _ := cm["system"].(string)
		code, _ := cm["code"].(string)
		cd, ok := policyDecisions[strings.ToUpper(code)]
		if !ok || !policySystems[system] {
			continue
		}
		if d != "" && d != cd {
			return Deny // contradictory codings: fail closed
		}
		d = cd
	}
	return d
}

// emergencyOnly reports whether the Consent's policyRule or category is the
// ActConsentDirective EMRGONLY (information disclosed only in an emergency).
func emergencyOnly(res map[string]any) bool {
	cs := []any{res["policyRule"]}
	cs = append(cs, list(res["category"])...)
	for _, cc := range cs {
		m, _ := cc.(map[string]any)
		for _, c := range list(m["coding"]) {
			cm, _ := c.(map[string]any)
			system, _ := cm["system"].(string)
			code, _ := cm["code"].(string)
			if policySystems[system] && strings.EqualFold(code, "EMRGONLY") {
				return true
			}
		}
	}
	return false
}

// provisionType returns a provision's type, "" when it has none.
func provisionType(m map[string]any, el string) (string, error) {
	v, ok := m["type"]
	if !ok {
		return "", nil
	}
	switch s, _ := v.(string); s {
	case "deny":
		return Deny, nil
	case "permit":
		return Permit, nil
	}
	return "", invalid(el + " is neither deny nor permit")
}

// provisionObject returns v as a provision object; absent is empty.
func provisionObject(v any, el string) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid(el + " is not an object")
	}
	return m, nil
}

// period returns the bounds of a provision's period.
func period(m map[string]any, el string) (start, end time.Time, err error) {
	return periodOf(m["period"], el+".period")
}

// periodOf parses a FHIR Period into [start, end): end is exclusive.
func periodOf(v any, el string) (start, end time.Time, err error) {
	if v == nil {
		return start, end, nil
	}
	p, ok := v.(map[string]any)
	if !ok {
		return start, end, invalid(el + " is not an object")
	}
	if s, ok := p["start"]; ok {
		txt, _ := s.(string)
		if start, _, err = parseTime(txt); err != nil {
			return start, end, invalid(el + ".start is not a FHIR dateTime")
		}
	}
	if e, ok := p["end"]; ok {
		txt, _ := e.(string)
		if _, end, err = parseTime(txt); err != nil {
			return start, end, invalid(el + ".end is not a FHIR dateTime")
		}
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return start, end, invalid(el + " ends before it starts")
	}
	return start, end, nil
}

// parseTime parses a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or
// YYYY-MM-DDThh:mm:ss[.fff]+zz:zz) and returns its first instant and the
// first instant after it at its precision, both in UTC. Dates without zone
// are taken as UTC.
func parseTime(s string) (first, after time.Time, err error) {
	switch len(s) {
	case 4:
		first, err = time.Parse("2006", s)
		return first, first.AddDate(1, 0, 0), err
	case 7:
		first, err = time.Parse("2006-01", s)
		return first, first.AddDate(0, 1, 0), err
	case 10:
		first, err = time.Parse("2006-01-02", s)
		return first, first.AddDate(0, 0, 1), err
	}
	if len(s) < 20 || s[10] != 'T' {
		return first, after, errors.New("not a FHIR date")
	}
	if first, err = time.Parse(time.RFC3339Nano, s); err != nil {
		return first, after, err
	}
	first = first.UTC()
	// The precision of a dateTime is its seconds or its last fraction digit.
	step := time.Second
	if dot := strings.IndexByte(s, '.'); dot > 0 {
		digits := 0
		for _, c := range s[dot+1:] {
			if c < '0' || c > '9' {
				break
			}
			digits++
		}
		for range min(digits, 9) {
			step /= 10
		}
	}
	return first, first.Add(step), nil
}

// codes returns the codes of a Coding, a CodeableConcept or a list of
// either; withSystem gives "system|code".
func codes(v any, withSystem bool) []string {
	var out []string
	add := func(c any) {
		m, _ := c.(map[string]any)
		code, _ := m["code"].(string)
		if code == "" {
			return
		}
		if withSystem {
			system, _ := m["system"].(string)
			code = system + "|" + code
		}
		out = append(out, code)
	}
	for _, x := range list(v) {
		m, _ := x.(map[string]any)
		if cs, ok := m["coding"]; ok {
			for _, c := range list(cs) {
				add(c)
			}
		} else {
			add(m)
		}
	}
	return out
}

// list returns v as a list: itself when it is one, else a list of v.
func list(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// invalid returns an ErrInvalidFHIR error; msg must name elements only.
func invalid(msg string) error {
	return fmt.Errorf("%w: %s", ErrInvalidFHIR, msg)
}
