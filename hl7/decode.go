package hl7

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/carecrest/hub/record"
)

// Decode parses an input holding one message, several messages or a batch,
// and maps every message to canonical records (see DecodeMessage). source
// names the sending system (ehr, lis). It is all or nothing: if any message
// fails, Decode returns no record and a *DecodeError whose Message field
// says which message failed. Callers that prefer to keep the good messages
// of a batch use ParseAll and DecodeMessage.
func Decode(source string, data []byte, received time.Time) ([]record.Record, error) {
	msgs, err := ParseAll(data, Limits{})
	if err != nil {
		return nil, err
	}
	var out []record.Record
	for i, m := range msgs {
		recs, err := DecodeMessage(source, m, received)
		if err != nil {
			err.(*DecodeError).Message = i
			return nil, err
		}
		if len(msgs) == 1 {
			return recs, nil
		}
		out = append(out, recs...)
	}
	return out, nil
}

// DecodeMessage maps one parsed message to canonical records:
//
//	ADT A01 A03 A04 A05 A08 A28 A31   one Patient
//	ADT A34 A40                       one Patient per PID (the surviving
//	                                  patient; see MergesOf)
//	ORU R01                           one Observation per OBX, then one
//	                                  DiagnosticReport per OBR
//	SIU S12 S13 S14 S15               one Appointment
//	ORM O01, OML O21, OMI O23         one ServiceRequest per ORC
//	RDE O11                           one MedicationRequest per ORC
//	RDS O13                           one MedicationRequest per ORC, each
//	                                  followed by a MedicationDispense per RXD
//	DFT P03                           one ChargeItem per FT1
//	MDM T02 T04                       one DocumentReference
//
// Any of them also yields one Coverage per IN1, after its other records.
//
// Other message types are a *DecodeError with Reason "unsupported-type".
// The structure must agree with MSH-9 ("type-mismatch" otherwise) and the
// version (MSH-12) must be 2.1 to 2.8.
//
// Every record gets Source, MessageID (MSH-10, or a digest of the message
// when MSH-10 is empty), Key = record.NewKey(source, MessageID, index) where
// index is the record's position in the message, ID from Key, Received, and
// Subject from the PID. Resources carry neither "id" nor "subject"/"patient":
// the pipeline sets them. Errors are always *DecodeError.
func DecodeMessage(source string, m *Message, received time.Time) ([]record.Record, error) {
	if m.Header().NumFields() < 12 {
		return nil, errorf(ReasonTruncated, 0, 12, "MSH ends before MSH-12 (version)")
	}
	code, trigger, structure := m.Type()
	if v := m.Version(); !supportedVersion(v) {
		return nil, errorf(ReasonUnsupportedVersion, 0, 12, "unsupported HL7 version "+versionLabel(v)+"; 2.1 to 2.8 are supported")
	}
	if code == "ADT" && trigger == "" {
		// Before 2.3 some senders put the event in EVN-1 only.
		if evn := m.Segment("EVN"); evn != nil {
			trigger = trim(evn.Field(1).Comp(1).String())
		}
	}
	if structure != "" && (len(structure) < 4 || structure[:3] != code || structure[3] != '_') {
		return nil, errorf(ReasonTypeMismatch, 0, 9, "message structure in MSH-9.3 contradicts message type "+typeLabel(code, trigger))
	}
	d := decoder{source: source, msg: m, received: received, label: typeLabel(code, trigger)}
	var err *DecodeError
	switch {
	case code == "ADT" && patientEvent(trigger):
		err = d.adt()
	case code == "ADT" && mergeEvent(trigger):
		err = d.merge()
	case code == "ORU" && trigger == "R01":
		err = d.oru()
	case code == "SIU" && appointmentStatus(trigger) != "":
		err = d.siu(trigger)
	case code == "ORM" && trigger == "O01", code == "OML" && trigger == "O21", code == "OMI" && trigger == "O23":
		err = d.orm()
	case code == "RDE" && trigger == "O11", code == "RDS" && trigger == "O13":
		err = d.rde(code == "RDS")
	case code == "DFT" && trigger == "P03":
		err = d.dft()
	case code == "MDM" && (trigger == "T02" || trigger == "T04"):
		err = d.mdm(trigger)
	default:
		return nil, errorf(ReasonUnsupportedType, 0, 9, "unsupported message type "+d.label)
	}
	if err == nil {
		err = d.coverages()
	}
	if err != nil {
		return nil, err
	}
	return d.out, nil
}

// supportedVersion accepts 2.1 to 2.8 with any sub-release (2.5.1, 2.8.2).
func supportedVersion(v string) bool {
	if len(v) < 3 || v[0] != '2' || v[1] != '.' || v[2] < '1' || v[2] > '8' {
		return false
	}
	rest := v[3:]
	for rest != "" { // ".d[d]" sub-releases
		if rest[0] != '.' || len(rest) < 2 || !isDigit(rest[1]) {
			return false
		}
		rest = rest[2:]
		if rest != "" && isDigit(rest[0]) {
			rest = rest[1:]
		}
	}
	return true
}

// decoder accumulates the records of one message.
type decoder struct {
	source   string
	msg      *Message
	received time.Time
	label    string // message type for error text
	msgID    string
	out      []record.Record
}

// messageID returns MSH-10 or, when it is empty, the first 32 hex digits of
// the SHA-256 of the message text.
func (d *decoder) messageID() string {
	if d.msgID == "" {
		d.msgID = d.msg.ControlID()
		if d.msgID == "" {
			sum := sha256.Sum256([]byte(d.msg.Text()))
			d.msgID = hex.EncodeToString(sum[:])[:32]
		}
	}
	return d.msgID
}

// emit appends a record; its index is its position among the message's
// records. Each record gets its own copy of the subject, so that a consumer
// that edits one record cannot change another.
func (d *decoder) emit(typ string, subject []record.Identifier, codes []record.Coding, res map[string]any) *record.Record {
	res["resourceType"] = typ
	key := record.NewKey(d.source, d.messageID(), len(d.out))
	d.out = append(d.out, record.Record{
		ID:        record.IDFromKey(key),
		Type:      typ,
		Source:    d.source,
		MessageID: d.messageID(),
		Key:       key,
		Subject:   slices.Clone(subject),
		Codes:     codes,
		Resource:  res,
		Received:  d.received,
	})
	return &d.out[len(d.out)-1]
}

// patient maps the identifiers of a PID: PID-3 (patient identifier list),
// PID-2 (external id) and PID-4 (alternate id), without duplicates. It
// returns the record subject and the FHIR identifiers, or an error when the
// PID has no identifier at all.
func (d *decoder) patient(pid *Segment, index int) ([]record.Identifier, []any, *DecodeError) {
	var (
		subject []record.Identifier
		ids     []any
	)
	for _, src := range [...]struct {
		field int
		kind  string
	}{{3, "mrn"}, {2, "external"}, {4, "alternate"}} {
		f := pid.Field(src.field)
		for i := 1; i <= f.NumReps(); i++ {
			rid, id, ok := identifier(f.Rep(i), d.source, src.kind)
			if !ok || containsIdentifier(subject, rid) {
				continue
			}
			subject = append(subject, rid)
			ids = append(ids, id)
		}
	}
	if len(subject) == 0 {
		return nil, nil, errorf(ReasonNoPatientIdentifier, index, 3, "PID has no patient identifier in PID-3, PID-2 or PID-4")
	}
	return subject, ids, nil
}

func containsIdentifier(ids []record.Identifier, id record.Identifier) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// firstSubject returns the subject of the message's first PID, for message
// types about one patient whose PID the standard makes optional (SIU, ORM,
// RDE): without one the record could not be linked, which is
// missing-segment.
func (d *decoder) firstSubject() ([]record.Identifier, *DecodeError) {
	for i, s := range d.msg.All() {
		if s.Name() == "PID" {
			subject, _, err := d.patient(s, i)
			return subject, err
		}
	}
	return nil, errorf(ReasonMissingSegment, -1, 0, d.label+" message has no PID segment")
}
