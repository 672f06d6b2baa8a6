package query

import "github.com/graphql-go/graphql"

// related lists the record types the patient view includes besides the
// Patient, as FHIR reverse includes: the GraphQL field on Patient, the FHIR
// resource type, and its GraphQL object (field names follow FHIR JSON).
var related = []struct {
	field, resourceType string
	object              *graphql.Object
}{
	{"observations", "Observation", observationType},
	{"diagnosticReports", "DiagnosticReport", resourceObject("DiagnosticReport", graphql.Fields{
		"status": str(""), "category": listOf(codeableConceptType, ""), "code": {Type: codeableConceptType},
		"effectiveDateTime": str(""), "issued": str(""), "conclusion": str("Free text (PHI)."),
		"result": listOf(referenceType, "The Observations of the report."),
	})},
	{"serviceRequests", "ServiceRequest", resourceObject("ServiceRequest", graphql.Fields{
		"status": str(""), "intent": str(""), "priority": str(""), "category": listOf(codeableConceptType, ""),
		"code": {Type: codeableConceptType}, "authoredOn": str(""), "occurrenceDateTime": str(""),
		"requester": {Type: referenceType}, "identifier": listOf(identifierType, ""), "note": listOf(annotationType, ""),
	})},
	{"appointments", "Appointment", resourceObject("Appointment", graphql.Fields{
		"status": str(""), "serviceType": listOf(codeableConceptType, ""), "appointmentType": {Type: codeableConceptType},
		"start": str(""), "end": str(""), "minutesDuration": {Type: graphql.Int}, "description": str(""),
		"requestedPeriod": listOf(periodType, ""),
		"participant": listOf(obj("AppointmentParticipant", "", graphql.Fields{
			"actor": {Type: referenceType}, "type": listOf(codeableConceptType, ""), "status": str(""),
		}), ""),
	})},
	{"encounters", "Encounter", resourceObject("Encounter", graphql.Fields{
		"status": str(""), "class": {Type: codingType}, "type": listOf(codeableConceptType, ""), "period": {Type: periodType},
	})},
	{"medicationRequests", "MedicationRequest", resourceObject("MedicationRequest", graphql.Fields{
		"status": str(""), "intent": str(""), "medicationCodeableConcept": {Type: codeableConceptType},
		"authoredOn": str(""), "requester": {Type: referenceType},
		"dosageInstruction": listOf(obj("Dosage", "", graphql.Fields{"text": str("")}), ""),
	})},
	{"medicationDispenses", "MedicationDispense", resourceObject("MedicationDispense", graphql.Fields{
		"status": str(""), "medicationCodeableConcept": {Type: codeableConceptType}, "whenHandedOver": str(""),
		"quantity": {Type: quantityType},
	})},
	{"coverages", "Coverage", resourceObject("Coverage", graphql.Fields{
		"status": str(""), "type": {Type: codeableConceptType}, "identifier": listOf(identifierType, ""),
		"payor": listOf(referenceType, ""), "period": {Type: periodType},
	})},
	{"chargeItems", "ChargeItem", resourceObject("ChargeItem", graphql.Fields{
		"status": str(""), "code": {Type: codeableConceptType}, "occurrenceDateTime": str(""), "quantity": {Type: quantityType},
	})},
	{"documentReferences", "DocumentReference", resourceObject("DocumentReference", graphql.Fields{
		"status": str(""), "docStatus": str(""), "type": {Type: codeableConceptType}, "date": str(""), "description": str(""),
		"content": listOf(obj("DocumentReferenceContent", "", graphql.Fields{
			"attachment": {Type: obj("Attachment", "", graphql.Fields{
				"contentType": str(""), "data": str("Base64 (PHI)."), "title": str(""),
			})},
		}), ""),
	})},
	{"conditions", "Condition", resourceObject("Condition", graphql.Fields{
		"clinicalStatus": {Type: codeableConceptType}, "verificationStatus": {Type: codeableConceptType},
		"category": listOf(codeableConceptType, ""), "code": {Type: codeableConceptType},
		"onsetDateTime": str(""), "recordedDate": str(""), "note": listOf(annotationType, ""),
	})},
	{"allergyIntolerances", "AllergyIntolerance", resourceObject("AllergyIntolerance", graphql.Fields{
		"clinicalStatus": {Type: codeableConceptType}, "code": {Type: codeableConceptType}, "criticality": str(""),
		"recordedDate": str(""),
	})},
	{"procedures", "Procedure", resourceObject("Procedure", graphql.Fields{
		"status": str(""), "code": {Type: codeableConceptType}, "performedDateTime": str(""),
	})},
	{"immunizations", "Immunization", resourceObject("Immunization", graphql.Fields{
		"status": str(""), "vaccineCode": {Type: codeableConceptType}, "occurrenceDateTime": str(""), "lotNumber": str(""),
	})},
	{"claims", "Claim", resourceObject("Claim", graphql.Fields{
		"status": str(""), "type": {Type: codeableConceptType}, "use": str(""), "created": str(""),
		"insurer": {Type: referenceType}, "provider": {Type: referenceType},
	})},
	{"explanationOfBenefits", "ExplanationOfBenefit", resourceObject("ExplanationOfBenefit", graphql.Fields{
		"status": str(""), "type": {Type: codeableConceptType}, "use": str(""), "created": str(""), "outcome": str(""),
	})},
	{"imagingStudies", "ImagingStudy", resourceObject("ImagingStudy", graphql.Fields{
		"status": str(""), "started": str(""), "modality": listOf(codingType, ""), "numberOfSeries": {Type: graphql.Int},
		"numberOfInstances": {Type: graphql.Int}, "description": str(""), "identifier": listOf(identifierType, ""),
		"series": listOf(obj("ImagingStudySeries", "", graphql.Fields{
			"uid": str(""), "number": {Type: graphql.Int}, "modality": {Type: codingType}, "description": str(""),
			"numberOfInstances": {Type: graphql.Int},
		}), ""),
	})},
}

// resourceObject is a FHIR resource type with the fields every resource in
// the view has: resourceType, id, meta and the masked marker.
func resourceObject(name string, fields graphql.Fields) *graphql.Object {
	fields["resourceType"] = str("Always " + name + ".")
	fields["id"] = &graphql.Field{Type: graphql.NewNonNull(graphql.ID), Description: "Hub record id."}
	fields["meta"] = &graphql.Field{Type: metaType}
	fields["masked"] = maskedField
	fields["notices"] = noticesField
	return obj(name, "FHIR R4 "+name+", filtered by policy for the caller.", fields)
}
