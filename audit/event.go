// Package audit defines the hub's audit events, their hash chain and the
// contracts of the audit log. Every access (a system writing, a subscriber
// receiving, an app or person reading), allowed or denied, becomes an Event.
// Events carry no plaintext PHI: patients appear by enterprise id, records by
// hub id, fields by element name.
package audit

import (
	"time"
)

// Event codes are stable: reports, alerts and exports key on them.
const (
	CodeRecordWrite     = "CC1000I" // a source system wrote records
	CodeRecordWriteDeny = "CC1001W" // a source system was denied a write
	CodeIngestRejected  = "CC1002W" // a message was dead-lettered (undecodable, invalid)
	CodeRecordRead      = "CC2000I" // records disclosed to a reader
	CodeRecordReadDeny  = "CC2001W" // a read was denied
	CodeBreakGlass      = "CC2002W" // a read under break-the-glass
	CodeReadFailed      = "CC2003E" // a read failed closed (keys or store unavailable): nothing disclosed
	CodeConsentChange   = "CC3000I" // a consent was recorded, changed or withdrawn
	CodeAuditQuery      = "CC4000I" // the audit log was queried
	CodeAuditQueryDeny  = "CC4001W" // an audit query was denied
	CodeRouted          = "CC5000I" // records disclosed to a subscriber
	CodeRouteDeny       = "CC5001W" // routing to a subscriber was denied

	CodeAuditExport       = "CC4002I" // audit events were exported (CSV, NDJSON, FHIR AuditEvent)
	CodeReport            = "CC4003I" // a compliance report was generated (accounting, access, GDPR)
	CodeReportDeny        = "CC4004W" // a compliance report was denied
	CodeCheckpoint        = "CC4100I" // a signed Merkle checkpoint of a shard was published (Reason holds it)
	CodeBreakGlassReview  = "CC4200I" // a reviewer recorded a finding on a break-glass session
	CodePatientMerge      = "CC6000I" // patients were merged (A40/A34): records relinked to the survivor
	CodeErasure           = "CC7000I" // a patient's keys were destroyed (GDPR Art. 17 crypto-shredding)
	CodeErasureDeny       = "CC7001W" // an erasure was refused (legal hold, role, ...)
	CodeLegalHold         = "CC7002I" // a legal hold was placed on a patient
	CodeLegalHoldLift     = "CC7003I" // a legal hold was released
	CodeLegalHoldDeny     = "CC7004W" // placing or lifting a legal hold was refused
	CodeAlert             = "CC8000W" // an anomalous-access alert was raised
	CodeAlertAck          = "CC8001I" // an alert was acknowledged
	CodeAlertResolve      = "CC8002I" // an alert was resolved
	CodeAlertChangeDeny   = "CC8003W" // acknowledging or resolving an alert was refused
	CodePolicyChange      = "CC9000I" // a new policy revision came into force
	CodePolicyExplain     = "CC9001I" // a policy decision was explained
	CodePolicyExplainDeny = "CC9002W" // an explanation was refused
)

// Actions.
const (
	ActionWrite      = "write"
	ActionRead       = "read"
	ActionReject     = "reject"
	ActionConsent    = "consent"
	ActionAuditQuery = "audit.query"
)

// Outcomes.
const (
	OutcomeAllow = "allow"
	OutcomeDeny  = "deny"
	OutcomeError = "error"
)

// Event is one audit record.
type Event struct {
	ID   string    // ULID, sortable by time
	Time time.Time // when the access was decided (UTC, nanoseconds kept)
	Code string    // stable event code (CodeRecordRead, ...)

	Action  string
	Outcome string

	ActorID     string   // user, application or source system
	ActorRoles  []string // roles the decision used
	ActorOrg    string
	Application string // client application (JWT azp) or source topic
	Purpose     string // purpose of use (HL7 v3 ActReason)

	PatientID  string   // enterprise patient id
	RecordType string   // FHIR resource type
	RecordIDs  []string // hub record ids concerned
	Disclosed  []string // element names disclosed (or written)
	Masked     []string // element names withheld from the actor

	PolicyRevision string
	Rules          []string // matched policy rules
	Consents       []string // consent ids that applied
	Reason         string   // why (denial reason, break-glass reason, dead-letter reason)
	RequestID      string

	// Key, when set, makes the event idempotent: an event whose Key is
	// already in the log is not appended again (redelivered messages).
	Key string

	// Chain position, set by the log on append.
	Shard    string
	Seq      uint64
	PrevHash string // hex
	Hash     string // hex
}

// Filter selects events for a query. Zero fields do not filter.
type Filter struct {
	PatientID   string
	PatientIDs  []string // any of these patients (a merged patient's ids)
	ActorID     string
	Action      string
	Outcome     string
	Codes       []string // any of these event codes
	Purpose     string
	RecordType  string
	Application string
	From, To    time.Time // [From, To): From inclusive, To exclusive
	// After is a cursor: the ID of the last event of the previous page.
	After string
	Limit int
}
