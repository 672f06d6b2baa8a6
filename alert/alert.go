// Package alert raises anomalous-access alerts from the audit stream: rules
// over read, denial and break-glass events (break-glass use, flagged VIP
// patients, a user's own record or a relative's, access without a treatment
// relationship, access outside usual hours, volume far above the user's
// baseline, repeated denials, bulk export), each configurable and each
// alert explaining itself with its numbers and evidence event ids.
//
// The engine is fed twice: in-process right after a durable audit append
// (Appender wraps the hub's appender) and by a Poller that tails the audit
// log through audit.Querier with a cursor and an overlap window, so several
// hub instances sharing ClickHouse all see every event. Events are
// deduplicated by id and alert ids are derived from the rule, actor,
// patient and time bucket, so replay never raises an alert twice.
//
// Alerts are recorded as audit events (audit.CodeAlert, with Key
// "alert|<id>"; acknowledgements and resolutions as CodeAlertAck and
// CodeAlertResolve naming the alert id in RecordIDs), so alert state is
// tamper-evident and durable on every backend with no table of its own.
// Only a recorded alert is sent to the sinks (Kafka topic, HTTP webhook);
// sinks queue and never block the hub. Explanations name actors by id and
// patients by enterprise id and never quote PHI: "shares their surname",
// not the surname.
package alert

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// Rule ids: stable, used in configuration, metrics labels and the API.
const (
	RuleBreakGlass         = "break-glass"
	RuleVIPAccess          = "vip-access"
	RuleOwnRecord          = "own-record"
	RuleSharedDemographics = "shared-demographics"
	RuleNoRelationship     = "no-relationship"
	RuleOffHours           = "off-hours"
	RuleVolumeSpike        = "volume-spike"
	RuleRepeatedDenials    = "repeated-denials"
	RuleBulkExport         = "bulk-export"
)

// Rules lists every rule id.
var Rules = []string{RuleBreakGlass, RuleVIPAccess, RuleOwnRecord, RuleSharedDemographics, RuleNoRelationship,
	RuleOffHours, RuleVolumeSpike, RuleRepeatedDenials, RuleBulkExport}

// Severities.
const (
	SeverityHigh   = "high"
	SeverityMedium = "medium"
	SeverityLow    = "low"
)

// Alert is one anomalous access, explained.
type Alert struct {
	ID        string    `json:"id"`
	Rule      string    `json:"rule"`
	Severity  string    `json:"severity"`
	At        time.Time `json:"at"`     // time of the access that raised it
	Raised    time.Time `json:"raised"` // when the engine raised it
	ActorID   string    `json:"actor"`
	PatientID string    `json:"patient,omitempty"` // enterprise id, when the rule concerns one patient
	// Text explains the alert with its numbers; it carries ids, record
	// types, times and counts, never PHI.
	Text     string   `json:"text"`
	EventIDs []string `json:"evidence"` // audit event ids of the evidence
}

// alertID derives the id of an alert from what makes it unique, so that
// any instance replaying the same events derives the same id.
func alertID(parts ...string) string {
	sum := sha256.Sum256([]byte("carecrest/alert/v1|" + strings.Join(parts, "|")))
	return "A" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// Demographics tells whether a workforce member is a patient, or shares a
// patient's surname or address, without the engine holding patient PHI.
// Production answers from keyed hashes (HashedDemographics); the roster's
// values are hashed the same way and compared.
//
// Contract: errors mean "could not tell" (the rule is skipped for that
// event and the error counted), never "no".
type Demographics interface {
	// PatientOf resolves a patient identifier ("system|value").
	PatientOf(ctx context.Context, identifier string) (patientID string, ok bool, err error)
	SharesSurname(ctx context.Context, patientID, surname string) (bool, error)
	// SharesAddress compares an address's first line and postal code.
	SharesAddress(ctx context.Context, patientID, line, postalCode string) (bool, error)
}

// Relationships tells whether an actor has a treatment relationship with a
// patient (care team, attending or admitting practitioner, ...).
type Relationships interface {
	HasRelationship(ctx context.Context, actorID, patientID string) (bool, error)
}

// Sink delivers recorded alerts somewhere people look.
//
// Contract: Deliver never blocks the caller: it queues the alert (bounded)
// and returns; a full queue drops the alert and counts the drop (the alert
// is still recorded in the audit log and listed by the API). Delivery is at
// least once; receivers deduplicate by alert id. Close delivers what is
// queued until ctx ends.
type Sink interface {
	Name() string
	Deliver(a Alert)
	Close(ctx context.Context) error
}
