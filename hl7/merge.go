package hl7

import "github.com/carecrest/hub/record"

// mergeEvent reports whether an ADT trigger merges patient identifiers:
// A34 (merge patient ID only) and A40 (merge patient identifier list).
func mergeEvent(trigger string) bool { return trigger == "A34" || trigger == "A40" }

// Merge is one merge of a merge message (ADT A34, A40): the identifiers the
// surviving patient keeps (PID-3) and those of the retired record it
// absorbs (MRG-1). The identifiers are PHI, like Record.Subject.
type Merge struct {
	Surviving []record.Identifier
	Retired   []record.Identifier
}

// MergesOf returns the merges of a merge message (ADT A34, A40): one per
// PID/MRG pair, in order; nil for any other message. source must be the
// one given to Decode: identifiers without assigning authority are
// qualified by it exactly as in Record.Subject, so that the pipeline can
// match them. Pairs without identifiers on either side are left out; a
// message that Decode accepted has none.
//
// Decoding such a message yields one Patient per PID (the surviving
// patient, as for other ADT events); relinking the retired identifiers is
// the pipeline's job.
func MergesOf(source string, m *Message) []Merge {
	if m.Len() == 0 || m.Header().NumFields() < 12 {
		return nil
	}
	code, trigger, _ := m.Type()
	if code == "ADT" && trigger == "" {
		if evn := m.Segment("EVN"); evn != nil {
			trigger = trim(evn.Field(1).Comp(1).String())
		}
	}
	if code != "ADT" || !mergeEvent(trigger) {
		return nil
	}
	pairs, err := mergePairs(m, "")
	if err != nil {
		return nil
	}
	var out []Merge
	for _, p := range pairs {
		mg := Merge{
			Surviving: identifierList(p.pid.Field(3), source),
			Retired:   identifierList(p.mrg.Field(1), source),
		}
		if len(mg.Surviving) > 0 && len(mg.Retired) > 0 {
			out = append(out, mg)
		}
	}
	return out
}

// identifierList maps the CX repetitions of PID-3 or MRG-1 (kind mrn)
// without duplicates.
func identifierList(f Field, source string) []record.Identifier {
	var out []record.Identifier
	for i := 1; i <= f.NumReps(); i++ {
		if id, _, ok := identifier(f.Rep(i), source, "mrn"); ok && !containsIdentifier(out, id) {
			out = append(out, id)
		}
	}
	return out
}

type mergePair struct {
	pid, mrg     *Segment
	pidAt, mrgAt int
}

// mergePairs pairs each PID with the MRG that follows it. A message without
// PID, a PID without MRG, an MRG before any PID or a second MRG for one PID
// is a type-mismatch (label names the message type in the error).
func mergePairs(m *Message, label string) ([]mergePair, *DecodeError) {
	var pairs []mergePair
	for i, s := range m.All() {
		switch s.Name() {
		case "PID":
			if n := len(pairs); n > 0 && pairs[n-1].mrg == nil {
				return nil, errorf(ReasonTypeMismatch, pairs[n-1].pidAt, 0, "PID without MRG in an "+label+" message")
			}
			pairs = append(pairs, mergePair{pid: s, pidAt: i})
		case "MRG":
			n := len(pairs)
			if n == 0 || pairs[n-1].mrg != nil {
				return nil, errorf(ReasonTypeMismatch, i, 0, "MRG without its own PID in an "+label+" message")
			}
			pairs[n-1].mrg, pairs[n-1].mrgAt = s, i
		}
	}
	if len(pairs) == 0 {
		return nil, errorf(ReasonTypeMismatch, -1, 0, label+" message has no PID segment")
	}
	if last := pairs[len(pairs)-1]; last.mrg == nil {
		return nil, errorf(ReasonTypeMismatch, last.pidAt, 0, "PID without MRG in an "+label+" message")
	}
	return pairs, nil
}

// merge maps a merge message (ADT A34, A40) to one Patient per PID, the
// surviving patient of each PID/MRG pair, whose Replaces lists the retired
// identifiers of MRG-1 (as MergesOf gives them). An MRG without identifier
// in MRG-1 is no-patient-identifier.
func (d *decoder) merge() *DecodeError {
	pairs, err := mergePairs(d.msg, d.label)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if len(identifierList(p.mrg.Field(1), d.source)) == 0 {
			return errorf(ReasonNoPatientIdentifier, p.mrgAt, 1, "MRG has no prior patient identifier in MRG-1")
		}
	}
	for _, p := range pairs {
		subject, ids, err := d.patient(p.pid, p.pidAt)
		if err != nil {
			return err
		}
		res := make(map[string]any, 14)
		res["identifier"] = ids
		patientResource(res, p.pid, nil)
		rec := d.emit("Patient", subject, nil, res)
		rec.Replaces = identifierList(p.mrg.Field(1), d.source)
	}
	return nil
}
