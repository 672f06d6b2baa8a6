// Package record is the hub's canonical record model: every decoded HL7 v2,
// FHIR R4 or DICOM message becomes one or more FHIR-shaped Records.
//
// A Record holds plaintext PHI and lives only in memory. Before it is stored
// the phi package turns it into a Sealed record whose PHI elements are
// encrypted under the patient's data key; only Sealed records reach a store.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Identifier is a business identifier qualified by its assigning authority
// (an MRN from one system, a national id). Identifiers are PHI: they are used
// in memory for patient linking and stored only encrypted or as keyed hashes.
type Identifier struct {
	System string // assigning authority (URI, OID or HD namespace)
	Value  string
}

// Coding is one code of a CodeableConcept. Codes stay in clear so that
// labelling and policy can use them.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Record is one FHIR-shaped resource decoded from a source message.
type Record struct {
	// ID is the hub's id for the record, derived from Key (see NewKey) so that
	// a redelivered message yields the same id.
	ID string
	// Type is the FHIR resource type (Patient, Observation, ...).
	Type string
	// Source is the system that sent the message (ehr, lis, ...).
	Source string
	// SourceID is the resource's logical id at the source system (FHIR
	// Resource.id), when the message has one. Versions of one resource share
	// it (a consent updated or withdrawn at its source).
	SourceID string
	// MessageID identifies the source message (MSH-10, Bundle.id, resource id
	// or, when the message has none, a digest of its bytes).
	MessageID string
	// Key is the idempotency key: the same source message always yields the
	// same keys, so redelivery never creates a second record.
	Key string
	// Subject lists the identifiers of the patient the record is about, as
	// the message gave them. The master patient index turns them into
	// PatientID.
	Subject []Identifier
	// PatientID is the enterprise patient id, set by the patient index.
	PatientID string
	// Replaces lists, on a surviving Patient of a merge (HL7 ADT A34/A40
	// MRG-1), the identifiers of the retired patient record it absorbs. The
	// pipeline merges the retired enterprise id into PatientID. PHI, like
	// Subject.
	Replaces []Identifier
	// Practitioners lists the practitioners the message puts in a care
	// relationship with the patient (encounter participants, appointment
	// personnel, order requesters), as practitioner keys (see
	// PractitionerKey). Decoders whose resources carry only display
	// references set it; FHIR references are read from Resource.
	Practitioners []string
	// Labels are sensitivity labels (set at ingest from codes).
	Labels []string
	// Codes are the record's clear codes (Observation.code, ...), used for
	// labelling and policy.
	Codes []Coding
	// Resource is the FHIR R4 JSON object of the record. Decoders must not
	// set "subject" or "patient" references: the pipeline writes them from
	// PatientID after linking.
	Resource map[string]any
	// Received is when the hub accepted the message.
	Received time.Time
}

// NewKey returns the idempotency key of the index-th record decoded from a
// source message.
func NewKey(source, messageID string, index int) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(messageID))
	h.Write([]byte{0, byte(index >> 24), byte(index >> 16), byte(index >> 8), byte(index)})
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// IDFromKey returns the record id the hub uses for an idempotency key.
func IDFromKey(key string) string { return "r-" + key[:24] }

// Sealed is a record as it is stored: PHI elements encrypted, the rest clear.
type Sealed struct {
	ID        string
	Type      string
	Source    string
	MessageID string
	Key       string
	PatientID string
	Labels    []string
	Codes     []Coding
	// Clear is the JSON object of the resource's non-PHI elements.
	Clear []byte
	// Fields maps each PHI element name to its ciphertext (nonce || AES-GCM
	// sealed JSON value), bound to patient, record and element.
	Fields   map[string][]byte
	Received time.Time
}

// FieldNames returns the names of the sealed PHI elements.
func (s *Sealed) FieldNames() []string {
	out := make([]string, 0, len(s.Fields))
	for k := range s.Fields {
		out = append(out, k)
	}
	return out
}
