package record

import (
	"net/url"
	"strings"
)

// SystemNPI is the FHIR identifier system of US National Provider
// Identifiers; the HL7 v2 assigning authority or identifier type "NPI" maps
// to it.
const SystemNPI = "http://hl7.org/fhir/sid/us-npi"

// PractitionerKey returns the normal form of a practitioner reference: the
// key under which care relationships are stored and looked up. It accepts
//
//	Practitioner/<id>                      → Practitioner/<id>
//	https://host/fhir/Practitioner/<id>    → Practitioner/<id>  (base and
//	                                         /_history/n dropped)
//	Practitioner?identifier=<system>|<v>   → <system>|<v>
//	<system>|<value>                       → <system>|<value>
//
// The first two are logical ids in the hospital's practitioner directory
// (a SMART fhirUser claim is one of them); the last two are business
// identifiers (an NPI, an HL7 v2 XCN id qualified by its assigning
// authority, see PractitionerIdentifier). ok is false for anything else:
// other resource types, urn:uuid placeholders, empty parts.
func PractitionerKey(ref string) (string, bool) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if ref == "" {
		return "", false
	}
	if q, ok := strings.CutPrefix(ref, "Practitioner?"); ok {
		v, err := url.ParseQuery(q)
		if err != nil || len(v) != 1 || len(v["identifier"]) != 1 {
			return "", false
		}
		system, value, ok := strings.Cut(v["identifier"][0], "|")
		if !ok || strings.TrimSpace(system) == "" || strings.TrimSpace(value) == "" {
			return "", false
		}
		return PractitionerIdentifier(system, value), true
	}
	if system, value, ok := strings.Cut(ref, "|"); ok {
		if strings.TrimSpace(system) == "" || strings.TrimSpace(value) == "" {
			return "", false
		}
		return PractitionerIdentifier(system, value), true
	}
	if strings.HasPrefix(ref, "urn:") || strings.HasPrefix(ref, "#") {
		return "", false // a Bundle placeholder or a contained resource
	}
	if slash := strings.LastIndexByte(ref, '/'); slash > 0 {
		id, typ := ref[slash+1:], ref[:slash]
		if s := strings.LastIndexByte(typ, '/'); s >= 0 {
			if !strings.Contains(typ[:s], "://") && typ[:s] != "" {
				return "", false // a path, not a reference
			}
			typ = typ[s+1:]
		}
		if typ != "Practitioner" || !validFHIRID(id) {
			return "", false
		}
		return "Practitioner/" + id, true
	}
	return "", false
}

// PractitionerIdentifier returns the key of a practitioner business
// identifier: "<system>|<value>", with the system "NPI" written as
// SystemNPI. An identifier without system is taken to be the hospital's
// own practitioner id, the logical id its directory (and FHIR server)
// gives the Practitioner: "Practitioner/<value>".
func PractitionerIdentifier(system, value string) string {
	system, value = strings.TrimSpace(system), strings.TrimSpace(value)
	switch {
	case system == "":
		return "Practitioner/" + value
	case strings.EqualFold(system, "NPI"):
		system = SystemNPI
	}
	return system + "|" + value
}

// validFHIRID reports whether id matches the FHIR id type [A-Za-z0-9\-\.]{1,64}.
func validFHIRID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
