package query

import (
	"github.com/graphql-go/graphql"
)

// FHIR R4 data types as GraphQL objects. Field names follow FHIR JSON
// (Patient.name.given, Observation.code.coding, ...) so that healthcare
// developers recognise them, as in the FHIR GraphQL of HAPI and Medplum.
// Sources are FHIR JSON maps, resolved by graphql-go's default map resolver.

func obj(name, desc string, fields graphql.Fields) *graphql.Object {
	return graphql.NewObject(graphql.ObjectConfig{Name: name, Description: desc, Fields: fields})
}

func str(desc string) *graphql.Field { return &graphql.Field{Type: graphql.String, Description: desc} }

func strs(desc string) *graphql.Field {
	return &graphql.Field{Type: graphql.NewList(graphql.String), Description: desc}
}

func listOf(t graphql.Output, desc string) *graphql.Field {
	return &graphql.Field{Type: graphql.NewList(t), Description: desc}
}

var (
	codingType = obj("Coding", "A code from a terminology (FHIR Coding).", graphql.Fields{
		"system": str("Terminology URI, e.g. http://loinc.org."), "version": str(""),
		"code": str("The code."), "display": str("Display text."),
	})
	codeableConceptType = obj("CodeableConcept", "FHIR CodeableConcept.", graphql.Fields{
		"coding": listOf(codingType, "Codes."), "text": str("Plain text."),
	})
	periodType    = obj("Period", "FHIR Period.", graphql.Fields{"start": str(""), "end": str("")})
	referenceType = obj("Reference", "FHIR Reference.", graphql.Fields{
		"reference": str("Relative reference, e.g. Patient/P...."), "display": str(""),
	})
	identifierType = obj("Identifier", "FHIR Identifier (PHI).", graphql.Fields{
		"use": str(""), "type": {Type: codeableConceptType}, "system": str("Assigning authority."),
		"value": str(""), "period": {Type: periodType},
	})
	humanNameType = obj("HumanName", "FHIR HumanName (PHI).", graphql.Fields{
		"use": str(""), "text": str(""), "family": str(""), "given": strs(""),
		"prefix": strs(""), "suffix": strs(""), "period": {Type: periodType},
	})
	addressType = obj("Address", "FHIR Address (PHI).", graphql.Fields{
		"use": str(""), "type": str(""), "text": str(""), "line": strs(""), "city": str(""),
		"district": str(""), "state": str(""), "postalCode": str(""), "country": str(""),
		"period": {Type: periodType},
	})
	contactPointType = obj("ContactPoint", "FHIR ContactPoint (PHI).", graphql.Fields{
		"system": str("phone, email, ..."), "value": str(""), "use": str(""),
		"rank": {Type: graphql.Int},
	})
	quantityType = obj("Quantity", "FHIR Quantity.", graphql.Fields{
		"value": {Type: graphql.Float}, "comparator": str(""), "unit": str(""),
		"system": str(""), "code": str(""),
	})
	rangeType = obj("ObservationReferenceRange", "FHIR Observation.referenceRange.", graphql.Fields{
		"low": {Type: quantityType}, "high": {Type: quantityType}, "text": str(""),
		"type": {Type: codeableConceptType},
	})
	annotationType = obj("Annotation", "FHIR Annotation (free text, PHI).", graphql.Fields{
		"text": str(""), "time": str(""), "authorString": str(""),
	})
	metaType = obj("Meta", "FHIR Meta. security carries the REDACTED marker when elements were withheld.", graphql.Fields{
		"security":    listOf(codingType, "Security labels; code REDACTED (v3-ObservationValue) marks a redacted resource."),
		"lastUpdated": str(""),
	})
	withheldType = obj("Withheld", "A resource type withheld from the caller as a whole.", graphql.Fields{
		"resourceType": {Type: graphql.NewNonNull(graphql.String)},
		"reason":       {Type: graphql.NewNonNull(graphql.String), Description: "Why (policy reasons)."},
	})
	componentType = obj("ObservationComponent", "FHIR Observation.component.", graphql.Fields{
		"code": {Type: codeableConceptType}, "valueQuantity": {Type: quantityType},
		"valueString": str(""), "valueCodeableConcept": {Type: codeableConceptType},
		"interpretation": listOf(codeableConceptType, ""),
	})
)

// maskedField is the machine-readable redaction marker on every resource.
var maskedField = &graphql.Field{
	Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))),
	Description: "Requested elements withheld from this caller by policy (minimum necessary, consent). " +
		"They come back null; meta.security then carries the REDACTED code.",
}

// noticesField carries the notices a disclosure must travel with.
var noticesField = &graphql.Field{
	Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))),
	Description: "Notices that must accompany this data wherever it goes, such as the 42 CFR part 2 " +
		"redisclosure notice on substance use disorder records.",
}

var observationType = obj("Observation", "FHIR R4 Observation. Value elements are PHI.", graphql.Fields{
	"resourceType":         str("Always Observation."),
	"id":                   {Type: graphql.NewNonNull(graphql.ID), Description: "Hub record id."},
	"meta":                 {Type: metaType},
	"masked":               maskedField,
	"notices":              noticesField,
	"status":               str(""),
	"category":             listOf(codeableConceptType, ""),
	"code":                 {Type: codeableConceptType},
	"subject":              {Type: referenceType},
	"effectiveDateTime":    str(""),
	"issued":               str(""),
	"valueQuantity":        {Type: quantityType},
	"valueString":          str(""),
	"valueCodeableConcept": {Type: codeableConceptType},
	"valueDateTime":        str(""),
	"interpretation":       listOf(codeableConceptType, ""),
	"referenceRange":       listOf(rangeType, ""),
	"component":            listOf(componentType, ""),
	"note":                 listOf(annotationType, ""),
})

var auditEventType = obj("AuditEvent", "One hub audit event (no PHI: patients by enterprise id, fields by element name).", graphql.Fields{
	"id": {Type: graphql.NewNonNull(graphql.ID)}, "time": str("RFC 3339, UTC."),
	"code":   str("Stable event code (CC2000I read, CC2001W read denied, ...)."),
	"action": str(""), "outcome": str("allow, deny or error"),
	"actor": str("User, application or source system."), "roles": strs(""),
	"organization": str(""), "application": str(""), "purpose": str("Purpose of use."),
	"patient": str("Enterprise patient id."), "recordType": str(""), "recordIds": strs(""),
	"disclosed": strs("Elements disclosed (or written)."), "masked": strs("Elements withheld."),
	"policyRevision": str(""), "rules": strs("Matched policy rules."), "consents": strs("Consents applied."),
	"reason": str(""), "requestId": str(""), "shard": str("Audit chain shard."),
	"seq":  {Type: graphql.Float, Description: "Position in the shard's chain."},
	"hash": str("Chain hash (hex)."),
})
