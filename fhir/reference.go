package fhir

import (
	"net/url"
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
)

// kind is what a reference was found to point at.
type kind int

const (
	kindUnknown kind = iota // cannot tell: fatal where a patient is expected
	kindPatient             // a Patient, with the identifiers to link it
	kindOther               // some other resource type
)

// resolution is the outcome of resolving one Reference.
type resolution struct {
	kind kind
	ids  []record.Identifier
}

// linkage is the patient a resource references and the elements that the
// decoder removes because the pipeline rewrites them.
type linkage struct {
	subject []record.Identifier
	drop    map[string][]any // element → new list value, nil to delete
}

// remove deletes (or trims) the patient reference elements from res.
func (l *linkage) remove(res map[string]any) {
	for name, kept := range l.drop {
		if kept == nil {
			delete(res, name)
		} else {
			res[name] = kept
		}
	}
}

// add merges the identifiers of one more patient reference. References that
// share no identifier may name two patients; that is an error rather than a
// guess, because a wrong link discloses one patient's data in another's
// record.
func (l *linkage) add(ids []record.Identifier) bool {
	if l.subject == nil {
		l.subject = slices.Clone(ids)
		return true
	}
	if !intersects(l.subject, ids) {
		return false
	}
	for _, id := range ids {
		l.subject = appendIdentifier(l.subject, id)
	}
	return true
}

func intersects(a, b []record.Identifier) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// link finds the patient that a non-Patient resource of entry i references.
// A resource that references none returns a linkage with a nil subject.
func (d *decoder) link(i int, typ string, res map[string]any) (linkage, error) {
	var l linkage
	for _, name := range linkElements {
		v, ok := res[name]
		if !ok {
			continue
		}
		// patient and beneficiary reference only Patients; subject may
		// reference a Group, a Device, ... and is then kept.
		patientOnly := name != "subject"
		items, isList := v.([]any)
		if !isList {
			items = []any{v}
		}
		var kept []any
		found := false
		for _, item := range items {
			r := d.resolve(item, res, patientOnly)
			switch {
			case r.kind == kindPatient:
				if !l.add(r.ids) {
					return l, errf(ReasonConflictingPatient, i, "%s.%s references a different patient than another reference", typ, name)
				}
				found = true
			case r.kind == kindOther && !patientOnly:
				kept = append(kept, item)
			case r.kind == kindOther:
				return l, errf(ReasonUnresolvedPatient, i, "%s.%s references a resource that is not a Patient", typ, name)
			default:
				return l, errf(ReasonUnresolvedPatient, i, "%s.%s cannot be resolved to a Patient", typ, name)
			}
		}
		if found {
			if l.drop == nil {
				l.drop = map[string][]any{}
			}
			if isList && len(kept) > 0 {
				l.drop[name] = kept
			} else {
				l.drop[name] = nil
			}
		}
	}
	if path, ok := extraLinks[typ]; ok {
		var err error
		walk(res, path, func(item any) {
			if err != nil {
				return
			}
			if r := d.resolve(item, res, false); r.kind == kindPatient && !l.add(r.ids) {
				err = errf(ReasonConflictingPatient, i, "%s.%s references a different patient than another reference", typ, strings.Join(path, "."))
			}
		})
		if err != nil {
			return l, err
		}
	}
	return l, nil
}

// walk calls fn with every value at path below v, stepping through lists.
func walk(v any, path []string, fn func(any)) {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if len(path) == 0 {
				fn(x)
			} else {
				walk(x, path, fn)
			}
		}
	case map[string]any:
		if len(path) == 0 {
			fn(v)
		} else if c, ok := v[path[0]]; ok {
			walk(c, path[1:], fn)
		}
	}
}

// resolve resolves a Reference found in container. patientOnly says that the
// element can only reference a Patient, so an untyped identifier-only
// reference names a patient.
func (d *decoder) resolve(item any, container map[string]any, patientOnly bool) resolution {
	m, ok := item.(map[string]any)
	if !ok {
		return resolution{}
	}
	ref, typ := str(m["reference"]), str(m["type"])
	var r resolution
	if ref != "" {
		r = d.resolveRef(ref, container)
	}
	if r.kind == kindOther {
		return r
	}
	// Reference.identifier: a business identifier of the target.
	if ids := d.identifiers(m["identifier"]); len(ids) > 0 {
		switch {
		case r.kind == kindPatient:
			for _, id := range ids {
				r.ids = appendIdentifier(r.ids, id)
			}
		case typ == "Patient" || (typ == "" && patientOnly):
			r = resolution{kind: kindPatient, ids: ids}
		}
	}
	if r.kind == kindUnknown && typ != "" && typ != "Patient" {
		r.kind = kindOther
	}
	return r
}

// resolveRef resolves a Reference.reference string: a local "#id" to a
// contained resource, a urn:uuid / urn:oid or absolute URL to a Bundle
// entry's fullUrl, "Type/id" or ".../Type/id[/_history/n]" by its type, and
// the conditional "Patient?identifier=system|value" to that identifier.
func (d *decoder) resolveRef(ref string, container map[string]any) resolution {
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		c := contained(container, id)
		switch {
		case c == nil:
			return resolution{}
		case str(c["resourceType"]) != "Patient":
			return resolution{kind: kindOther}
		}
		// A contained resource's id is local to its container: only its
		// business identifiers can link it.
		if ids := d.identifiers(c["identifier"]); len(ids) > 0 {
			return resolution{kind: kindPatient, ids: ids}
		}
		return resolution{}
	}
	base := stripHistory(ref)
	if idx := d.index; idx != nil {
		if t, ok := idx.types[base]; ok {
			if t != "Patient" {
				return resolution{kind: kindOther}
			}
			return resolution{kind: kindPatient, ids: slices.Clone(idx.byURL[base])}
		}
	}
	if strings.HasPrefix(ref, "urn:") {
		return resolution{} // a placeholder that no entry of this message has
	}
	typ, id, query := splitRef(base)
	switch {
	case typ == "":
		return resolution{}
	case typ != "Patient":
		return resolution{kind: kindOther}
	case id == "":
		return d.conditional(query)
	}
	ids := []record.Identifier{{System: d.scope("Patient"), Value: id}}
	if idx := d.index; idx != nil {
		if s, ok := idx.byID["Patient/"+id]; ok {
			ids = slices.Clone(s)
		}
	}
	return resolution{kind: kindPatient, ids: ids}
}

// conditional resolves the query of a conditional reference
// (Patient?identifier=system|value), which transactions use. Any other
// search cannot name a patient without a server.
func (d *decoder) conditional(query string) resolution {
	q, err := url.ParseQuery(query)
	if err != nil || len(q) != 1 || len(q["identifier"]) != 1 {
		return resolution{}
	}
	system, value, ok := strings.Cut(q["identifier"][0], "|")
	if !ok || value == "" {
		return resolution{} // identifier=value matches any system
	}
	if system == "" {
		system = d.scope("id-system-unknown")
	}
	return resolution{kind: kindPatient, ids: []record.Identifier{{System: system, Value: value}}}
}

// splitRef splits "Type/id", "http://base/Type/id" or "Type?query". typ is
// "" when ref has neither form with an R4 type.
func splitRef(ref string) (typ, id, query string) {
	if t, q, ok := strings.Cut(ref, "?"); ok {
		if resourceTypes[t] {
			return t, "", q
		}
		return "", "", ""
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash <= 0 {
		return "", "", ""
	}
	id = ref[slash+1:]
	typ = ref[:slash]
	if s := strings.LastIndexByte(typ, '/'); s >= 0 {
		typ = typ[s+1:]
	}
	if !resourceTypes[typ] || !validID(id) {
		return "", "", ""
	}
	return typ, id, ""
}

// validID reports whether id matches the FHIR id type: [A-Za-z0-9\-\.]{1,64}.
func validID(id string) bool {
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

// stripHistory removes a version suffix (/_history/n) from a reference.
func stripHistory(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		return ref[:i]
	}
	return ref
}

// contained returns the contained resource of container with the given id.
func contained(container map[string]any, id string) map[string]any {
	if id == "" {
		return nil
	}
	list, _ := container["contained"].([]any)
	for _, c := range list {
		if m, ok := c.(map[string]any); ok && str(m["id"]) == id {
			return m
		}
	}
	return nil
}
