package phi

import "sort"

// Clear allowlists. Everything not listed for a resource type is PHI and is
// encrypted (deny-clear), including extensions, contained resources,
// references (subject, performer, ...) and unknown elements. Elements stay
// clear only when filtering and policy need them and they identify no one on
// their own; they are still access-controlled data, not de-identified data.
var (
	// commonClear applies to every resource type without its own list.
	commonClear = set(
		"resourceType", "id", "meta", "status", "category", "code", "intent",
		"priority", "class", "effectiveDateTime", "effectivePeriod",
		"effectiveInstant", "issued", "authoredOn", "date", "active",
	)
	// clearByType overrides commonClear for types that are mostly identity.
	// Observation uses commonClear: code, category, status, effective[x] and
	// issued stay clear; value[x], component, interpretation, referenceRange,
	// note, text, identifier, performer and specimen are PHI.
	clearByType = map[string]map[string]bool{
		"Patient":       set("resourceType", "id", "meta", "active"),
		"Person":        set("resourceType", "id", "meta", "active"),
		"RelatedPerson": set("resourceType", "id", "meta", "active"),
	}
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// IsPHI reports whether the top-level element of a resource of resourceType
// is PHI, that is sealed rather than stored in clear. Narrative (text),
// notes (note) and business identifiers (identifier) are PHI in every type.
func IsPHI(resourceType, element string) bool {
	clear, ok := clearByType[resourceType]
	if !ok {
		clear = commonClear
	}
	return !clear[element]
}

// Classify splits the top-level element names of resource into those kept
// clear and those sealed as PHI, each sorted.
func Classify(resourceType string, resource map[string]any) (clear, phi []string) {
	for name := range resource {
		if IsPHI(resourceType, name) {
			phi = append(phi, name)
		} else {
			clear = append(clear, name)
		}
	}
	sort.Strings(clear)
	sort.Strings(phi)
	return clear, phi
}
