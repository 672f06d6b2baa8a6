package ingest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
)

// careElements are, per FHIR resource type, the references that put a
// practitioner in a care relationship with the record's patient: element,
// then the Reference inside each of its items ("" when the element is the
// Reference).
var careElements = map[string][2]string{
	"Encounter":         {"participant", "individual"},
	"Appointment":       {"participant", "actor"},
	"CareTeam":          {"participant", "member"},
	"ServiceRequest":    {"requester", ""},
	"MedicationRequest": {"requester", ""},
}

// addFHIRPractitioners adds to each record's Practitioners the
// practitioners its FHIR resource names in a care role (careElements), as
// practitioner keys (record.PractitionerKey): "Practitioner/<id>" for a
// literal reference, "<system>|<value>" for a conditional reference or a
// Reference.identifier of type Practitioner. A reference to a Bundle
// entry (urn:uuid:..., a fullUrl) takes the keys of that Practitioner
// entry: its id and its identifiers. Other references (PractitionerRole,
// Patient, Location, ...) are not practitioners and are ignored.
func addFHIRPractitioners(recs []record.Record, payload []byte) {
	var entries map[string][]string
	for i := range recs {
		r := &recs[i]
		el, ok := careElements[r.Type]
		if !ok {
			continue
		}
		var refs []map[string]any
		switch v := r.Resource[el[0]].(type) {
		case map[string]any:
			refs = append(refs, v)
		case []any:
			for _, item := range v {
				m, _ := item.(map[string]any)
				if ref, ok := m[el[1]].(map[string]any); ok {
					refs = append(refs, ref)
				}
			}
		}
		for _, ref := range refs {
			s, _ := ref["reference"].(string)
			switch {
			case s == "":
			case strings.HasPrefix(s, "urn:") || strings.Contains(s, "://"):
				if entries == nil {
					entries = bundlePractitioners(payload)
				}
				if keys, ok := entries[s]; ok {
					for _, k := range keys {
						r.Practitioners = appendKey(r.Practitioners, k)
					}
					break
				}
				fallthrough
			case strings.HasPrefix(s, "Practitioner?") || !strings.Contains(s, "|"):
				if k, ok := record.PractitionerKey(s); ok {
					r.Practitioners = appendKey(r.Practitioners, k)
				}
			}
			if typ, _ := ref["type"].(string); typ == "Practitioner" {
				id, _ := ref["identifier"].(map[string]any)
				system, _ := id["system"].(string)
				value, _ := id["value"].(string)
				if strings.TrimSpace(system) != "" && strings.TrimSpace(value) != "" {
					r.Practitioners = appendKey(r.Practitioners, record.PractitionerIdentifier(system, value))
				}
			}
		}
	}
}

func appendKey(keys []string, k string) []string {
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// bundlePractitioners maps the fullUrl of each Practitioner entry of a
// Bundle to its keys: "Practitioner/<id>" and "<system>|<value>" for each
// identifier. The payload was decoded (and its depth checked) before, so
// it is valid JSON; a payload that is not a Bundle gives an empty map.
func bundlePractitioners(payload []byte) map[string][]string {
	out := map[string][]string{}
	if !bytes.Contains(payload, []byte(`"Practitioner"`)) {
		return out
	}
	var b struct {
		Entry []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
				Identifier   []struct {
					System string `json:"system"`
					Value  string `json:"value"`
				} `json:"identifier"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(payload, &b) != nil {
		return out
	}
	for _, e := range b.Entry {
		if e.Resource.ResourceType != "Practitioner" || e.FullURL == "" {
			continue
		}
		var keys []string
		if k, ok := record.PractitionerKey("Practitioner/" + e.Resource.ID); ok && e.Resource.ID != "" {
			keys = append(keys, k)
		}
		for _, id := range e.Resource.Identifier {
			if strings.TrimSpace(id.System) != "" && strings.TrimSpace(id.Value) != "" {
				keys = appendKey(keys, record.PractitionerIdentifier(id.System, id.Value))
			}
		}
		out[e.FullURL] = keys
	}
	return out
}

// factsOf returns what an accepted record teaches the patient index: its
// care relationships and, for a Patient, its family names and addresses
// (first line and postal code).
func factsOf(r *record.Record, f *mpi.Facts) {
	for _, k := range r.Practitioners {
		f.Care = append(f.Care, mpi.Relationship{Practitioner: k, PatientID: r.PatientID})
	}
	if r.Type != "Patient" {
		return
	}
	names, _ := r.Resource["name"].([]any)
	for _, n := range names {
		m, _ := n.(map[string]any)
		if fam, _ := m["family"].(string); fam != "" {
			f.Surnames = append(f.Surnames, mpi.Surname{PatientID: r.PatientID, Family: fam})
		}
	}
	addrs, _ := r.Resource["address"].([]any)
	for _, a := range addrs {
		m, _ := a.(map[string]any)
		lines, _ := m["line"].([]any)
		if len(lines) == 0 {
			continue
		}
		line, _ := lines[0].(string)
		postal, _ := m["postalCode"].(string)
		if line != "" {
			f.Addresses = append(f.Addresses, mpi.Address{PatientID: r.PatientID, Line: line, PostalCode: postal})
		}
	}
}
