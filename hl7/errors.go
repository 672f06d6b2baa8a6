package hl7

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is the category of every DecodeError: errors.Is(err,
// hl7.ErrInvalid) tells a message the hub cannot accept (dead-letter it)
// from a failure of the hub itself (retry).
var ErrInvalid = errors.New("hl7: invalid or unsupported message")

// Reasons of a DecodeError. They are stable, machine-friendly codes: count
// and alert on them, and route dead letters by them.
const (
	ReasonEmpty               = "empty"                 // no segment at all
	ReasonTooLarge            = "too-large"             // input exceeds Limits.MaxBytes
	ReasonNoMSH               = "no-msh"                // a segment outside any message
	ReasonTruncated           = "truncated"             // a header ends before a required field
	ReasonBadDelimiters       = "bad-delimiters"        // MSH-1/MSH-2 unusable
	ReasonBadSegment          = "bad-segment"           // a line that is not a segment
	ReasonTooManyMessages     = "too-many-messages"     // Limits.MaxMessages
	ReasonTooManySegments     = "too-many-segments"     // Limits.MaxSegments
	ReasonTooManyFields       = "too-many-fields"       // Limits.MaxFields
	ReasonTooManyRepetitions  = "too-many-repetitions"  // Limits.MaxRepetitions
	ReasonNotOneMessage       = "not-one-message"       // Parse got a batch
	ReasonUnsupportedVersion  = "unsupported-version"   // MSH-12 outside 2.1-2.8
	ReasonUnsupportedType     = "unsupported-type"      // MSH-9 not decoded (yet)
	ReasonTypeMismatch        = "type-mismatch"         // structure contradicts MSH-9
	ReasonMissingSegment      = "missing-segment"       // a segment the mapping needs
	ReasonNoPatientIdentifier = "no-patient-identifier" // PID without usable identifier
)

// DecodeError reports why an input could not be parsed or decoded.
//
// Its text never contains message content: only reasons, segment indexes,
// field numbers, segment names the decoder itself looks for, and message
// type codes and versions that passed a strict syntax check. It is therefore
// safe to log and to use as a dead-letter reason.
type DecodeError struct {
	// Reason is one of the Reason constants.
	Reason string
	// Message is the index of the message in the input (0 for the first).
	Message int
	// Segment is the index of the segment in its message (MSH is 0), or, for
	// a segment outside any message, in the input. It is -1 when the error is
	// not about one segment.
	Segment int
	// Field is the HL7 field number (PID-3 is 3), or 0.
	Field int
	// Msg is a human-readable description without message content.
	Msg string
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("hl7: ")
	b.WriteString(e.Reason)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	b.WriteString(" (message ")
	b.WriteString(strconv.Itoa(e.Message))
	if e.Segment >= 0 {
		b.WriteString(", segment ")
		b.WriteString(strconv.Itoa(e.Segment))
	}
	if e.Field > 0 {
		b.WriteString(", field ")
		b.WriteString(strconv.Itoa(e.Field))
	}
	b.WriteByte(')')
	return b.String()
}

// Is makes every DecodeError match ErrInvalid.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalid }

func errorf(reason string, segment, field int, msg string) *DecodeError {
	return &DecodeError{Reason: reason, Segment: segment, Field: field, Msg: msg}
}

// knownTypes lists the HL7 v2 message type codes (table 0076). Only codes in
// this list are echoed in error text, so that a hostile or garbled MSH-9
// cannot carry content into logs.
const knownTypes = " ACK ADR ADT ARD BAR BPS BRP BRT BTS CCF CCI CCM CCQ CCR CCU CQU CRM CSU DBC DBU DEL DEO DER" +
	" DFT DOC DSR EAC EAN EAR EDR EHC ERP ESR ESU INR INU LSR LSU MCF MDM MFD MFK MFN MFQ MFR NMD NMQ NMR" +
	" OMB OMD OMG OMI OML OMN OMP OMQ OMS OPL OPR OPU ORA ORB ORD ORF ORG ORI ORL ORM ORN ORP ORR ORS ORU" +
	" OSM OSQ OSR OSU OUL PEX PGL PIN PMU PPG PPP PPR PPT PPV PRR PTR QBP QCK QCN QRY QSB QSX QVR RAR RAS" +
	" RCI RCL RDE RDR RDS RDY REF RER RGR RGV ROC ROR RPA RPI RPL RPR RQA RQC RQI RQP RRA RRD RRE RRG RRI" +
	" RSP RTB SCN SDN SDR SIU SLN SLR SMD SQM SQR SRM SRR SSR SSU STC STI SUR TBR TCR TCU UDM VXQ VXR VXU VXX "

// typeLabel renders a message type for error text: the code only if it is a
// known HL7 code, the trigger only if it has the letter-digit-digit shape of
// an HL7 trigger event.
func typeLabel(code, trigger string) string {
	if len(code) != 3 || !isUpperAlnum(code) || !strings.Contains(knownTypes, " "+code+" ") {
		return "(unrecognised type)"
	}
	if len(trigger) == 3 && trigger[0] >= 'A' && trigger[0] <= 'Z' && isDigit(trigger[1]) && isDigit(trigger[2]) {
		return code + "^" + trigger
	}
	return code
}

// versionLabel renders MSH-12 for error text if it looks like a version
// number (digits and at most two dots, no longer than 8 characters).
func versionLabel(v string) string {
	if v == "" || len(v) > 8 || !isDigit(v[0]) {
		return "(unrecognised)"
	}
	dots := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '.':
			dots++
			if dots > 2 || i+1 == len(v) || v[i+1] == '.' {
				return "(unrecognised)"
			}
		case !isDigit(c):
			return "(unrecognised)"
		}
	}
	if dots == 0 {
		return "(unrecognised)"
	}
	return v
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isUpperAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || isDigit(c)) {
			return false
		}
	}
	return true
}
