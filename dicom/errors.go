package dicom

import "errors"

// ErrInvalid is the category of every *DecodeError: errors.Is(err,
// dicom.ErrInvalid) tells a message that can never decode (reject it, do not
// retry) from a caller mistake such as invalid Options.
var ErrInvalid = errors.New("dicom: invalid message")

// Reasons of a DecodeError. They are stable: callers may map them to audit
// codes or metrics labels.
const (
	ReasonInvalidJSON      = "invalid-json"
	ReasonNotDICOMJSON     = "not-dicom-json"
	ReasonTooLarge         = "too-large"
	ReasonTooDeep          = "too-deep"
	ReasonTooManyDatasets  = "too-many-datasets"
	ReasonNoStudyUID       = "no-study-uid"
	ReasonNoPatientID      = "no-patient-id"
	ReasonInvalidUID       = "invalid-uid"
	ReasonConflictingPatID = "conflicting-patient-id"
)

// DecodeError reports why a message cannot be decoded. Its text is built only
// from constants, attribute tags and dataset indexes: it never contains a
// value from the message (no UID, patient id, name or description), so it
// may be logged and audited as it is.
type DecodeError struct {
	// Reason is one of the Reason constants.
	Reason string
	// Msg says more, in the same PHI-free terms.
	Msg string
}

// Error implements error.
func (e *DecodeError) Error() string {
	s := "dicom: " + e.Reason
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is makes every DecodeError match ErrInvalid.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalid }

func decodeErr(reason, msg string) *DecodeError {
	return &DecodeError{Reason: reason, Msg: msg}
}
