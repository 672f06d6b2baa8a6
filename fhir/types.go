package fhir

import (
	"strings"

	"github.com/carecrest/hub/record"
)

// IsResourceType reports whether t is a concrete FHIR R4 resource type.
func IsResourceType(t string) bool { return resourceTypes[t] }

// resourceTypes are the concrete resource types of FHIR R4 (4.0.1). A
// resourceType outside this list is rejected: it is not R4, and checking it
// is what lets errors and skips name the type without echoing input.
var resourceTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range []string{
		"Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance",
		"Appointment", "AppointmentResponse", "AuditEvent", "Basic", "Binary",
		"BiologicallyDerivedProduct", "BodyStructure", "Bundle",
		"CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
		"ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse",
		"ClinicalImpression", "CodeSystem", "Communication",
		"CommunicationRequest", "CompartmentDefinition", "Composition",
		"ConceptMap", "Condition", "Consent", "Contract", "Coverage",
		"CoverageEligibilityRequest", "CoverageEligibilityResponse",
		"DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric",
		"DeviceRequest", "DeviceUseStatement", "DiagnosticReport",
		"DocumentManifest", "DocumentReference", "EffectEvidenceSynthesis",
		"Encounter", "Endpoint", "EnrollmentRequest", "EnrollmentResponse",
		"EpisodeOfCare", "EventDefinition", "Evidence", "EvidenceVariable",
		"ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag",
		"Goal", "GraphDefinition", "Group", "GuidanceResponse",
		"HealthcareService", "ImagingStudy", "Immunization",
		"ImmunizationEvaluation", "ImmunizationRecommendation",
		"ImplementationGuide", "InsurancePlan", "Invoice", "Library", "Linkage",
		"List", "Location", "Measure", "MeasureReport", "Media", "Medication",
		"MedicationAdministration", "MedicationDispense", "MedicationKnowledge",
		"MedicationRequest", "MedicationStatement", "MedicinalProduct",
		"MedicinalProductAuthorization", "MedicinalProductContraindication",
		"MedicinalProductIndication", "MedicinalProductIngredient",
		"MedicinalProductInteraction", "MedicinalProductManufactured",
		"MedicinalProductPackaged", "MedicinalProductPharmaceutical",
		"MedicinalProductUndesirableEffect", "MessageDefinition",
		"MessageHeader", "MolecularSequence", "NamingSystem", "NutritionOrder",
		"Observation", "ObservationDefinition", "OperationDefinition",
		"OperationOutcome", "Organization", "OrganizationAffiliation",
		"Parameters", "Patient", "PaymentNotice", "PaymentReconciliation",
		"Person", "PlanDefinition", "Practitioner", "PractitionerRole",
		"Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse",
		"RelatedPerson", "RequestGroup", "ResearchDefinition",
		"ResearchElementDefinition", "ResearchStudy", "ResearchSubject",
		"RiskAssessment", "RiskEvidenceSynthesis", "Schedule", "SearchParameter",
		"ServiceRequest", "Slot", "Specimen", "SpecimenDefinition",
		"StructureDefinition", "StructureMap", "Subscription", "Substance",
		"SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
		"SubstanceReferenceInformation", "SubstanceSourceMaterial",
		"SubstanceSpecification", "SupplyDelivery", "SupplyRequest", "Task",
		"TerminologyCapabilities", "TestReport", "TestScript", "ValueSet",
		"VerificationResult", "VisionPrescription",
	} {
		m[t] = true
	}
	return m
}()

// bundleTypes are the Bundle types Decode accepts: those that carry
// resources to store. Responses, history and the rest are rejected.
var bundleTypes = map[string]bool{
	"transaction": true, "batch": true, "collection": true,
	"document": true, "message": true, "searchset": true,
}

// linkElements are the top-level elements that name a record's patient in
// every resource type that has them. When one references a Patient it is
// removed from the record: the pipeline writes the enterprise reference.
// patient and beneficiary only ever reference a Patient in R4; subject may
// also reference a Group, Device, Location, ...
var linkElements = []string{"subject", "patient", "beneficiary"}

// extraLinks are further places, per resource type, where a Patient reference
// makes the resource patient data. They are kept in the record (the pipeline
// does not rewrite them) and only explicit Patient references count.
var extraLinks = map[string][]string{
	"Appointment":         {"participant", "actor"},
	"AppointmentResponse": {"actor"},
	"Schedule":            {"actor"},
	"Task":                {"for"},
}

// codeElements names the CodeableConcept elements whose codings become
// Record.Codes, for the types that do not use "code".
var codeElements = map[string]string{
	"Consent":                  "category",
	"Immunization":             "vaccineCode",
	"MedicationAdministration": "medicationCodeableConcept",
	"MedicationDispense":       "medicationCodeableConcept",
	"MedicationRequest":        "medicationCodeableConcept",
	"MedicationStatement":      "medicationCodeableConcept",
}

// codesOf returns the codings of the resource's code element (see
// codeElements), which may be one CodeableConcept or a list of them. For the
// medication types, a medicationReference to a contained Medication gives
// that Medication's code.
func codesOf(typ string, res map[string]any) []record.Coding {
	name, ok := codeElements[typ]
	if !ok {
		name = "code"
	}
	var out []record.Coding
	add := func(cc any) {
		m, _ := cc.(map[string]any)
		codings, _ := m["coding"].([]any)
		for _, c := range codings {
			cm, _ := c.(map[string]any)
			cd := record.Coding{System: str(cm["system"]), Code: str(cm["code"]), Display: str(cm["display"])}
			if cd.System != "" || cd.Code != "" {
				out = append(out, cd)
			}
		}
	}
	v, ok := res[name]
	if !ok && name == "medicationCodeableConcept" {
		// A medication contained in the resource is as good as inline.
		ref, _ := res["medicationReference"].(map[string]any)
		if id, local := strings.CutPrefix(str(ref["reference"]), "#"); local {
			if m := contained(res, id); str(m["resourceType"]) == "Medication" {
				v = m["code"]
			}
		}
	}
	switch v := v.(type) {
	case []any:
		for _, cc := range v {
			add(cc)
		}
	default:
		add(v)
	}
	return out
}

// str returns v when it is a JSON string, else "".
func str(v any) string {
	s, _ := v.(string)
	return s
}
