package policytest

import (
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
)

// FHIR Consent resources of the cases.
const (
	// OptOut: the patient withholds everything.
	OptOut = `{"resourceType":"Consent","id":"c-optout","status":"active",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]}}`
	// OptOutExpired: the same, ended 2026-01-31.
	OptOutExpired = `{"resourceType":"Consent","id":"c-optout-old","status":"active",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
	  "provision":{"period":{"start":"2025-01-01","end":"2026-01-31"}}}`
	// OptOutWithdrawn: an opt-out the patient withdrew (inactive).
	OptOutWithdrawn = `{"resourceType":"Consent","id":"c-optout-inactive","status":"inactive",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]}}`
	// DenyResearch: no research use.
	DenyResearch = `{"resourceType":"Consent","id":"c-noresearch","status":"active",
	  "provision":{"type":"deny","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HRESCH"}]}}`
	// PermitResearch: research use permitted.
	PermitResearch = `{"resourceType":"Consent","id":"c-research","status":"active",
	  "provision":{"type":"permit","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HRESCH"}]}}`
	// PermitResearchWithdrawn: the research permit, withdrawn.
	PermitResearchWithdrawn = `{"resourceType":"Consent","id":"c-research-withdrawn","status":"inactive",
	  "provision":{"type":"permit","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HRESCH"}]}}`
	// NotOrg: opt-in, except Organization/f001 (consent-example-notOrg).
	NotOrg = `{"resourceType":"Consent","id":"c-notorg","status":"active",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
	  "provision":{"type":"deny","actor":[{"role":{"coding":[{"code":"PRCP"}]},"reference":{"reference":"Organization/f001"}}],
	    "action":[{"coding":[{"code":"access"}]}]}}`
	// DenyHIV: withhold HIV-labelled data.
	DenyHIV = `{"resourceType":"Consent","id":"c-nohiv","status":"active",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
	  "provision":{"provision":[{"type":"deny","securityLabel":[{"code":"HIV"}]}]}}`
	// DenyObservationsExceptClinicA: no Observations, except to clinic A.
	DenyObservationsExceptClinicA = `{"resourceType":"Consent","id":"c-nested","status":"active",
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
	  "provision":{"provision":[{"type":"deny","class":[{"code":"Observation"}],
	    "provision":[{"type":"permit","actor":[{"reference":{"reference":"Organization/clinic-a"}}]}]}]}}`
	// Part2Treat: 42 CFR Part 2 consent for treatment by anyone.
	Part2Treat = `{"resourceType":"Consent","id":"c-part2-treat","status":"active",
	  "provision":{"type":"permit","purpose":[{"code":"TREAT"}],"securityLabel":[{"code":"ETH"}]}}`
	// Part2ClinicA: 42 CFR Part 2 consent for treatment by clinic A only.
	Part2ClinicA = `{"resourceType":"Consent","id":"c-part2-clinic-a","status":"active",
	  "provision":{"type":"permit","purpose":[{"code":"TREAT"}],"securityLabel":[{"code":"ETH"}],
	    "actor":[{"role":{"coding":[{"code":"IRCP"}]},"reference":{"reference":"Organization/clinic-a"}}]}}`
	// Part2Payment: 42 CFR Part 2 consent for payment.
	Part2Payment = `{"resourceType":"Consent","id":"c-part2-pay","status":"active",
	  "provision":{"type":"permit","purpose":[{"code":"HPAYMT"}],"securityLabel":[{"code":"ETH"}]}}`
	// Part2Expired: a Part 2 consent that ended 2026-02-01.
	Part2Expired = `{"resourceType":"Consent","id":"c-part2-old","status":"active",
	  "provision":{"type":"permit","purpose":[{"code":"TREAT"}],"securityLabel":[{"code":"ETH"}],"period":{"end":"2026-01-31"}}}`
	// PermitGenetic: explicit consent for genetic data.
	PermitGenetic = `{"resourceType":"Consent","id":"c-genetic","status":"active",
	  "provision":{"type":"permit","securityLabel":[{"code":"GDIS"}]}}`
	// EmergencyOnly: data only for emergency treatment.
	EmergencyOnly = `{"resourceType":"Consent","id":"c-emergency","status":"active",
	  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EMRGONLY"}]}],
	  "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
	  "provision":{"purpose":[{"code":"ETREAT"}]}}`
)

// LegacyOptOut is a directive as stored before provisions were flattened.
var LegacyOptOut = consent.Directive{ID: "c-legacy", PatientID: Patient, Status: "active", Decision: consent.Deny,
	Recorded: Now.Add(-24 * time.Hour), Source: "ehr"}

const reason = "patient unconscious in ED"

// Rule ids and obligations the cases name.
const (
	notice = policy.ObligationPart2Notice
	review = policy.ObligationBreakGlassReview
)

// Cases is the table. Every case names the decision it expects.
var Cases = []Case{
	// --- role × purpose × record type (minimum necessary) ---------------------
	{Name: "physician TREAT Observation with relationship", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		WantAllow: true, WantRules: []string{"read.role-purpose"}},
	{Name: "physician TREAT Observation without relationship", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation",
		WantRules: []string{"read.relationship-required"}},
	{Name: "nurse TREAT Patient with relationship", Roles: []string{"nurse"}, Purpose: "TREAT", RecordType: "Patient", Relationship: true, WantAllow: true},
	{Name: "nurse TREAT Patient without relationship", Roles: []string{"nurse"}, Purpose: "TREAT", RecordType: "Patient",
		WantRules: []string{"read.relationship-required"}},
	{Name: "telehealth clinician TREAT DocumentReference", Roles: []string{"telehealth_clinician"}, Purpose: "TREAT", RecordType: "DocumentReference", Relationship: true, WantAllow: true},
	{Name: "telehealth clinician TREAT without relationship", Roles: []string{"telehealth_clinician"}, Purpose: "TREAT", RecordType: "Encounter",
		WantRules: []string{"read.relationship-required"}},
	{Name: "pharmacist TREAT MedicationRequest", Roles: []string{"pharmacist"}, Purpose: "TREAT", RecordType: "MedicationRequest", Relationship: true, WantAllow: true},
	{Name: "pharmacist TREAT DiagnosticReport denied", Roles: []string{"pharmacist"}, Purpose: "TREAT", RecordType: "DiagnosticReport", Relationship: true,
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "pharmacist may not break the glass", Roles: []string{"pharmacist"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "MedicationRequest",
		WantRules: []string{"break-glass.not-permitted"}},
	{Name: "lab technician TREAT Observation", Roles: []string{"lab_technician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true, WantAllow: true},
	{Name: "lab technician TREAT Condition denied", Roles: []string{"lab_technician"}, Purpose: "TREAT", RecordType: "Condition", Relationship: true,
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "radiologist TREAT ImagingStudy", Roles: []string{"radiologist"}, Purpose: "TREAT", RecordType: "ImagingStudy", Relationship: true, WantAllow: true},
	{Name: "radiologist TREAT MedicationRequest denied", Roles: []string{"radiologist"}, Purpose: "TREAT", RecordType: "MedicationRequest", Relationship: true,
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "registration clerk HOPERAT Patient", Roles: []string{"registration_clerk"}, Purpose: "HOPERAT", RecordType: "Patient", WantAllow: true},
	{Name: "registration clerk HOPERAT Observation denied", Roles: []string{"registration_clerk"}, Purpose: "HOPERAT", RecordType: "Observation",
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "scheduler HOPERAT Appointment", Roles: []string{"scheduler"}, Purpose: "HOPERAT", RecordType: "Appointment", WantAllow: true},
	{Name: "scheduler HOPERAT Condition denied", Roles: []string{"scheduler"}, Purpose: "HOPERAT", RecordType: "Condition",
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "billing clerk HPAYMT Claim", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Claim", WantAllow: true},
	{Name: "billing clerk HPAYMT Coverage", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Coverage", WantAllow: true},
	{Name: "billing clerk HPAYMT Patient limited", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Patient", WantAllow: true},
	{Name: "billing clerk HPAYMT Observation denied", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Observation",
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "billing clerk HPAYMT DocumentReference denied", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "DocumentReference",
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "billing clerk TREAT denied", Roles: []string{"billing_clerk"}, Purpose: "TREAT", RecordType: "Patient",
		WantRules: []string{"read.purpose-not-permitted"}},
	{Name: "HIE participant routes TREAT Observation", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Observation", Action: policy.ActionRoute,
		WantAllow: true},
	{Name: "HIE participant routes PUBHLTH Immunization", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "PUBHLTH", RecordType: "Immunization", Action: policy.ActionRoute,
		WantAllow: true},
	{Name: "HIE participant HPAYMT denied", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "HPAYMT", RecordType: "Claim", Action: policy.ActionRoute,
		WantRules: []string{"read.purpose-not-permitted"}},
	{Name: "application PATRQT with relationship", Roles: []string{"application"}, Kind: "application", Purpose: "PATRQT", RecordType: "Observation", Relationship: true, WantAllow: true},
	{Name: "application PATRQT without relationship", Roles: []string{"application"}, Kind: "application", Purpose: "PATRQT", RecordType: "Observation",
		WantRules: []string{"read.relationship-required"}},
	{Name: "privacy officer reads no clinical data", Roles: []string{"privacy_officer"}, Purpose: "HOPERAT", RecordType: "Observation",
		WantRules: []string{"read.purpose-not-permitted"}},
	{Name: "security analyst reads no clinical data", Roles: []string{"security_analyst"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		WantRules: []string{"read.purpose-not-permitted"}},
	{Name: "administrator reads no clinical data", Roles: []string{"administrator"}, Purpose: "TREAT", RecordType: "Patient", Relationship: true,
		WantRules: []string{"read.purpose-not-permitted"}},
	{Name: "unknown purpose denied", Roles: []string{"physician"}, Purpose: "MARKETING", RecordType: "Observation", Relationship: true,
		WantRules: []string{"read.purpose-unknown"}},

	// --- consent ------------------------------------------------------------------
	{Name: "opt-out blocks treatment", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		Consents: []string{OptOut}, WantRules: []string{"consent.opt-out"}},
	{Name: "opt-out blocks routing to the HIE", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Observation", Action: policy.ActionRoute,
		Consents: []string{OptOut}, WantRules: []string{"consent.opt-out"}},
	{Name: "opt-out blocks payment", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Claim",
		Consents: []string{OptOut}, WantRules: []string{"consent.opt-out"}},
	{Name: "legacy stored opt-out still blocks", Roles: []string{"nurse"}, Purpose: "TREAT", RecordType: "Patient", Relationship: true,
		Directives: []consent.Directive{LegacyOptOut}, WantRules: []string{"consent.opt-out"}},
	{Name: "expired opt-out does not apply", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		Consents: []string{OptOutExpired}, WantAllow: true},
	{Name: "withdrawn opt-out does not apply", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		Consents: []string{OptOutWithdrawn}, WantAllow: true},
	{Name: "research opt-out leaves treatment", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		Consents: []string{DenyResearch}, WantAllow: true},
	{Name: "research without consent denied (hipaa)", Roles: []string{"physician"}, Purpose: "HRESCH", RecordType: "Observation",
		WantRules: []string{"profile.consent-required"}},
	{Name: "research with explicit permit allowed (hipaa)", Roles: []string{"physician"}, Purpose: "HRESCH", RecordType: "Observation",
		Consents: []string{PermitResearch}, WantAllow: true, WantRules: []string{"consent.permit"}},
	{Name: "research with explicit permit allowed (gdpr)", Roles: []string{"physician"}, Purpose: "HRESCH", RecordType: "Condition", Profile: "gdpr",
		Consents: []string{PermitResearch}, WantAllow: true, WantRules: []string{"consent.permit"}},
	{Name: "research after withdrawal denied (gdpr)", Roles: []string{"physician"}, Purpose: "HRESCH", RecordType: "Condition", Profile: "gdpr",
		Consents: []string{PermitResearchWithdrawn}, WantRules: []string{"profile.consent-required"}},
	{Name: "research opt-out beats nothing (gdpr)", Roles: []string{"physician"}, Purpose: "HRESCH", RecordType: "Condition", Profile: "gdpr",
		Consents: []string{DenyResearch}, WantRules: []string{"consent.opt-out", "profile.consent-required"}},
	{Name: "treatment needs no consent (gdpr)", Roles: []string{"nurse"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true, Profile: "gdpr",
		WantAllow: true},
	{Name: "excluded organisation denied", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/f001", RecordType: "Observation", Relationship: true,
		Consents: []string{NotOrg}, WantRules: []string{"consent.opt-out"}},
	{Name: "other organisation allowed under opt-in", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/f002", RecordType: "Observation", Relationship: true,
		Consents: []string{NotOrg}, WantAllow: true, WantRules: []string{"consent.permit"}},
	{Name: "nested deny of Observations applies", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/clinic-b", RecordType: "Observation", Relationship: true,
		Consents: []string{DenyObservationsExceptClinicA}, WantRules: []string{"consent.opt-out"}},
	{Name: "nested permit inside deny for clinic A", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/clinic-a", RecordType: "Observation", Relationship: true,
		Consents: []string{DenyObservationsExceptClinicA}, WantAllow: true, WantRules: []string{"consent.permit"}},
	{Name: "nested deny leaves Conditions", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/clinic-b", RecordType: "Condition", Relationship: true,
		Consents: []string{DenyObservationsExceptClinicA}, WantAllow: true},
	{Name: "emergency-only consent blocks treatment", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		Consents: []string{EmergencyOnly}, WantRules: []string{"consent.opt-out"}},
	{Name: "emergency-only consent permits ETREAT", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Observation",
		Consents: []string{EmergencyOnly}, WantAllow: true, WantRules: []string{"break-glass", "consent.permit"}, WantObligations: []string{review}},

	// --- sensitivity labels ---------------------------------------------------------
	{Name: "HIV consent deny blocks HIV records", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Labels: []string{"HIV"}, Relationship: true,
		Consents: []string{DenyHIV}, WantRules: []string{"consent.opt-out"}},
	{Name: "HIV consent deny leaves other records", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Relationship: true,
		Consents: []string{DenyHIV}, WantAllow: true},
	{Name: "behavioral health hidden from lab technician", Roles: []string{"lab_technician"}, Purpose: "TREAT", RecordType: "Observation", Labels: []string{"BH"}, Relationship: true,
		WantRules: []string{"label.role-not-permitted"}},
	{Name: "behavioral health visible to physician", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Condition", Labels: []string{"BH"}, Relationship: true,
		WantAllow: true},
	{Name: "genetic data needs consent under gdpr", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Labels: []string{"GDIS"}, Relationship: true, Profile: "gdpr",
		WantRules: []string{"label.consent-required"}},
	{Name: "genetic data with consent under gdpr", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Labels: []string{"GDIS"}, Relationship: true, Profile: "gdpr",
		Consents: []string{PermitGenetic}, WantAllow: true},
	{Name: "genetic data without consent under hipaa", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Observation", Labels: []string{"GDIS"}, Relationship: true,
		WantAllow: true},
	{Name: "break-glass overrides a label role restriction", Roles: []string{"radiologist"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Observation", Labels: []string{"BH"},
		WantAllow: true, WantRules: []string{"label.break-glass"}, WantObligations: []string{review}},

	// --- 42 CFR Part 2 ----------------------------------------------------------------
	{Name: "Part 2 without consent denied", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 with treatment consent allowed with notice", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		Consents: []string{Part2Treat}, WantAllow: true, WantRules: []string{"part2.consent"}, WantObligations: []string{notice}},
	{Name: "Part 2 consent for treatment does not cover payment", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Claim", Labels: []string{"ETH"},
		Consents: []string{Part2Treat}, WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 payment consent allows billing with notice", Roles: []string{"billing_clerk"}, Purpose: "HPAYMT", RecordType: "Claim", Labels: []string{"ETH"},
		Consents: []string{Part2Payment}, WantAllow: true, WantObligations: []string{notice}},
	{Name: "Part 2 consent naming clinic A allows clinic A", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/clinic-a", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		Consents: []string{Part2ClinicA}, WantAllow: true, WantObligations: []string{notice}},
	{Name: "Part 2 consent naming clinic A denies clinic B", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/clinic-b", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		Consents: []string{Part2ClinicA}, WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 routed to the HIE with consent", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Condition", Labels: []string{"ETH"}, Action: policy.ActionRoute,
		Consents: []string{Part2Treat}, WantAllow: true, WantObligations: []string{notice}},
	{Name: "Part 2 routed to the HIE without consent", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Condition", Labels: []string{"ETH"}, Action: policy.ActionRoute,
		WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 expired consent denied", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		Consents: []string{Part2Expired}, WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 general opt-in is not a Part 2 consent", Roles: []string{"physician"}, Purpose: "TREAT", Org: "Organization/f002", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		Consents: []string{NotOrg}, WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 medical emergency", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Condition", Labels: []string{"ETH"},
		WantAllow: true, WantRules: []string{"part2.medical-emergency", "break-glass"}, WantObligations: []string{review, notice}},
	{Name: "Part 2 medical emergency overrides opt-out", Roles: []string{"nurse"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Condition", Labels: []string{"ETH"},
		Consents: []string{OptOut}, WantAllow: true, WantRules: []string{"part2.medical-emergency", "consent.opt-out-overridden"}, WantObligations: []string{review, notice}},
	{Name: "Part 2 opt-out blocks even with a Part 2 consent elsewhere", Roles: []string{"physician"}, Purpose: "TREAT", RecordType: "Condition", Labels: []string{"ETH"}, Relationship: true,
		Consents: []string{OptOut, Part2Treat}, WantRules: []string{"consent.opt-out"}},
	{Name: "Part 2 expired break-glass session denied", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, BreakGlassAge: 5 * time.Hour,
		RecordType: "Condition", Labels: []string{"ETH"}, WantRules: []string{"break-glass.expired"}},

	// --- outbound routing to subscriber systems ------------------------------------------
	{Name: "billing system routes Claim", Roles: []string{"billing_system"}, Kind: "system", Purpose: "HPAYMT", RecordType: "Claim", Action: policy.ActionRoute,
		WantAllow: true},
	{Name: "billing system gets no Observation", Roles: []string{"billing_system"}, Kind: "system", Purpose: "HPAYMT", RecordType: "Observation", Action: policy.ActionRoute,
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "billing system routing blocked by opt-out", Roles: []string{"billing_system"}, Kind: "system", Purpose: "HPAYMT", RecordType: "Coverage", Action: policy.ActionRoute,
		Consents: []string{OptOut}, WantRules: []string{"consent.opt-out"}},
	{Name: "HIE routing after the opt-out expired", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Observation", Action: policy.ActionRoute,
		Consents: []string{OptOutExpired}, WantAllow: true},
	{Name: "HIE routing after the opt-out was withdrawn", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Encounter", Action: policy.ActionRoute,
		Consents: []string{OptOutWithdrawn}, WantAllow: true},
	{Name: "HIE routing to the organisation the patient excluded", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", Org: "Organization/f001", RecordType: "Observation", Action: policy.ActionRoute,
		Consents: []string{NotOrg}, WantRules: []string{"consent.opt-out"}},
	{Name: "HIE routing to another organisation under opt-in", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", Org: "Organization/f002", RecordType: "Observation", Action: policy.ActionRoute,
		Consents: []string{NotOrg}, WantAllow: true},
	{Name: "HIE routing withholds HIV data the patient denied", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", RecordType: "Observation", Labels: []string{"HIV"}, Action: policy.ActionRoute,
		Consents: []string{DenyHIV}, WantRules: []string{"consent.opt-out"}},
	{Name: "HIE routing of Observations only to clinic A", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", Org: "Organization/clinic-b", RecordType: "Observation", Action: policy.ActionRoute,
		Consents: []string{DenyObservationsExceptClinicA}, WantRules: []string{"consent.opt-out"}},
	{Name: "HIE routing of Observations to clinic A", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", Org: "Organization/clinic-a", RecordType: "Observation", Action: policy.ActionRoute,
		Consents: []string{DenyObservationsExceptClinicA}, WantAllow: true},
	{Name: "Part 2 routed to the named clinic", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", Org: "Organization/clinic-a", RecordType: "Condition", Labels: []string{"ETH"}, Action: policy.ActionRoute,
		Consents: []string{Part2ClinicA}, WantAllow: true, WantObligations: []string{notice}},
	{Name: "Part 2 not routed to another clinic", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "TREAT", Org: "Organization/clinic-b", RecordType: "Condition", Labels: []string{"ETH"}, Action: policy.ActionRoute,
		Consents: []string{Part2ClinicA}, WantRules: []string{"part2.consent-required"}},
	{Name: "Part 2 payment routing with consent", Roles: []string{"billing_system"}, Kind: "system", Purpose: "HPAYMT", RecordType: "Claim", Labels: []string{"ETH"}, Action: policy.ActionRoute,
		Consents: []string{Part2Payment}, WantAllow: true, WantObligations: []string{notice}},
	{Name: "Part 2 payment routing without consent", Roles: []string{"billing_system"}, Kind: "system", Purpose: "HPAYMT", RecordType: "Claim", Labels: []string{"ETH"}, Action: policy.ActionRoute,
		WantRules: []string{"part2.consent-required"}},
	{Name: "HIE research routing needs permit (gdpr)", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "HRESCH", RecordType: "Observation", Action: policy.ActionRoute, Profile: "gdpr",
		WantRules: []string{"read.purpose-not-permitted"}},
	{Name: "HIE public health routing keeps minimum necessary", Roles: []string{"hie_participant"}, Kind: "system", Purpose: "PUBHLTH", RecordType: "DocumentReference", Action: policy.ActionRoute,
		WantRules: []string{"read.type-not-permitted"}},

	// --- break-the-glass -----------------------------------------------------------------
	{Name: "break-glass physician without relationship", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Observation",
		WantAllow: true, WantRules: []string{"break-glass"}, WantObligations: []string{review}},
	{Name: "break-glass overrides opt-out", Roles: []string{"nurse"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Observation",
		Consents: []string{OptOut}, WantAllow: true, WantRules: []string{"break-glass", "consent.opt-out-overridden"}, WantObligations: []string{review}},
	{Name: "break-glass session within window", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, BreakGlassAge: 3 * time.Hour, RecordType: "Observation",
		WantAllow: true, WantRules: []string{"break-glass"}, WantObligations: []string{review}},
	{Name: "break-glass session expired", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, BreakGlassAge: 4*time.Hour + time.Minute, RecordType: "Observation",
		WantRules: []string{"break-glass.expired"}},
	{Name: "break-glass without reason", Roles: []string{"physician"}, Purpose: "ETREAT", RecordType: "Observation",
		WantRules: []string{"break-glass.reason-required"}},
	{Name: "break-glass by billing clerk not permitted", Roles: []string{"billing_clerk"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Claim",
		WantRules: []string{"break-glass.not-permitted"}},
	{Name: "break-glass keeps minimum necessary", Roles: []string{"physician"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Claim",
		WantRules: []string{"read.type-not-permitted"}},
	{Name: "break-glass telehealth clinician", Roles: []string{"telehealth_clinician"}, Purpose: "ETREAT", BreakGlassReason: reason, RecordType: "Encounter",
		WantAllow: true, WantRules: []string{"break-glass"}, WantObligations: []string{review}},
}
