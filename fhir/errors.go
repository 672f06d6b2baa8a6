package fhir

import (
	"errors"
	"strconv"
)

// ErrInvalid is the category of every *DecodeError: errors.Is(err,
// fhir.ErrInvalid) tells a message that can never decode (reject it, do not
// retry) from a caller mistake such as an invalid Limits.
var ErrInvalid = errors.New("fhir: invalid message")

// Reasons of a DecodeError. They are stable: callers may map them to audit
// codes or metrics labels.
const (
	ReasonInvalidJSON        = "invalid-json"
	ReasonNotAnObject        = "not-an-object"
	ReasonMissingType        = "missing-resourceType"
	ReasonUnknownType        = "unknown-resourceType"
	ReasonTooLarge           = "too-large"
	ReasonTooDeep            = "too-deep"
	ReasonTooManyEntries     = "too-many-entries"
	ReasonBundleType         = "unsupported-bundle-type"
	ReasonInvalidBundle      = "invalid-bundle"
	ReasonDuplicateFullURL   = "duplicate-fullUrl"
	ReasonUnresolvedPatient  = "unresolved-patient-reference"
	ReasonConflictingPatient = "conflicting-patient-references"
	ReasonNoPatientID        = "no-patient-identifier"
)

// DecodeError reports why a message cannot be decoded. Its text is built only
// from constants, resource types (checked against the R4 list), element names
// and entry indexes: it never contains a value from the message, so it may be
// logged and audited as it is.
type DecodeError struct {
	// Reason is one of the Reason constants.
	Reason string
	// Entry is the index of the Bundle entry at fault, 0 for a message that
	// is a single resource, and -1 when the fault is in the message as a
	// whole (its size, its JSON syntax, the Bundle's own elements).
	Entry int
	// Msg says more, in the same PHI-free terms.
	Msg string
}

// Error implements error.
func (e *DecodeError) Error() string {
	s := "fhir: " + e.Reason
	if e.Entry >= 0 {
		s = "fhir: entry " + strconv.Itoa(e.Entry) + ": " + e.Reason
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is makes every DecodeError match ErrInvalid.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalid }

func decodeErr(reason string, entry int, msg string) *DecodeError {
	return &DecodeError{Reason: reason, Entry: entry, Msg: msg}
}
