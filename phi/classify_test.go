package phi_test

import (
	"fmt"
	"testing"

	"github.com/carecrest/hub/phi"
)

func TestIsPHI(t *testing.T) {
	cases := []struct {
		typ, element string
		phi          bool
	}{
		// Patient: only resourceType, id, meta, active are clear.
		{"Patient", "resourceType", false},
		{"Patient", "id", false},
		{"Patient", "meta", false},
		{"Patient", "active", false},
		{"Patient", "name", true},
		{"Patient", "identifier", true},
		{"Patient", "birthDate", true},
		{"Patient", "_birthDate", true},
		{"Patient", "gender", true},
		{"Patient", "address", true},
		{"Patient", "telecom", true},
		{"Patient", "contact", true},
		{"Patient", "photo", true},
		{"Patient", "text", true},
		{"Patient", "extension", true},
		{"Patient", "status", true}, // not on Patient's list, even though common
		{"Patient", "code", true},
		// Observation: metadata for filtering is clear, findings are PHI.
		{"Observation", "code", false},
		{"Observation", "category", false},
		{"Observation", "status", false},
		{"Observation", "effectiveDateTime", false},
		{"Observation", "effectivePeriod", false},
		{"Observation", "effectiveInstant", false},
		{"Observation", "issued", false},
		{"Observation", "valueQuantity", true},
		{"Observation", "valueString", true},
		{"Observation", "valueCodeableConcept", true},
		{"Observation", "component", true},
		{"Observation", "interpretation", true},
		{"Observation", "referenceRange", true},
		{"Observation", "note", true},
		{"Observation", "text", true},
		{"Observation", "identifier", true},
		{"Observation", "performer", true},
		{"Observation", "specimen", true},
		{"Observation", "subject", true},
		{"Observation", "effectiveTiming", true}, // not listed: deny-clear
		// Other types use the common list.
		{"MedicationRequest", "intent", false},
		{"MedicationRequest", "authoredOn", false},
		{"MedicationRequest", "dosageInstruction", true},
		{"Encounter", "class", false},
		{"Encounter", "priority", false},
		{"Encounter", "reasonCode", true},
		{"Consent", "date", false},
		{"RelatedPerson", "name", true},
		{"RelatedPerson", "status", true},
		{"UnknownType", "anything", true},
		{"", "id", false},
	}
	for _, tc := range cases {
		if got := phi.IsPHI(tc.typ, tc.element); got != tc.phi {
			t.Errorf("IsPHI(%q, %q) = %v, want %v", tc.typ, tc.element, got, tc.phi)
		}
	}
}

// text, note and identifier are PHI in every type.
func TestAlwaysPHI(t *testing.T) {
	for _, typ := range []string{"Patient", "Observation", "Encounter", "Condition", "DiagnosticReport", "Bundle", "Whatever"} {
		for _, el := range []string{"text", "note", "identifier", "contained", "extension", "modifierExtension", "subject", "patient"} {
			if !phi.IsPHI(typ, el) {
				t.Errorf("%s.%s is clear", typ, el)
			}
		}
	}
}

func ExampleClassify() {
	clear, sealed := phi.Classify("Observation", map[string]any{
		"resourceType":  "Observation",
		"id":            "f001",
		"status":        "final",
		"code":          map[string]any{"text": "Glucose"},
		"subject":       map[string]any{"reference": "Patient/f001"},
		"valueQuantity": map[string]any{"value": 6.3, "unit": "mmol/l"},
		"note":          []any{map[string]any{"text": "fasting"}},
	})
	fmt.Println("clear:", clear)
	fmt.Println("sealed:", sealed)
	// Output:
	// clear: [code id resourceType status]
	// sealed: [note subject valueQuantity]
}
