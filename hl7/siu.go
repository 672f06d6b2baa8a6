package hl7

import (
	"strings"

	"github.com/carecrest/hub/record"
)

// appointmentStatus maps the SIU trigger events the hub decodes to the
// Appointment status: new (S12), rescheduled (S13) and modified (S14)
// appointments are booked, a cancelled one (S15) is cancelled. Other
// triggers yield "".
func appointmentStatus(trigger string) string {
	switch trigger {
	case "S12", "S13", "S14":
		return "booked"
	case "S15":
		return "cancelled"
	}
	return ""
}

// siu maps a scheduling message (SIU S12-S15) to one Appointment from its
// SCH, the timing (TQ1, else SCH-11, else the first resource's start) and
// the resources of its RGS groups: AIP (personnel) and AIL (locations)
// become participants with a display-only actor, AIG (other resources,
// equipment) participants with a display-only actor and no actor type; AIS
// (services) add to serviceType when SCH-7 is empty.
//
// The patient is not a participant: the record's Subject (from the first
// PID) links it, and the pipeline writes the patient participant.
func (d *decoder) siu(trigger string) *DecodeError {
	sch := -1
	for i, s := range d.msg.All() {
		if s.Name() != "SCH" {
			continue
		}
		if sch >= 0 {
			return errorf(ReasonTypeMismatch, i, 0, d.label+" message has more than one SCH segment")
		}
		sch = i
	}
	if sch < 0 {
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no SCH segment")
	}
	subject, err := d.firstSubject()
	if err != nil {
		return err
	}
	var f fieldSet
	d.msg.At(sch).fields(f[:])
	res := make(map[string]any, 12)
	res["status"] = appointmentStatus(trigger)
	var ids []any
	if id := entityIdentifier(f.get(1).Rep(1), d.source, "appointment-placer", "PLAC"); id != nil {
		ids = append(ids, id)
	}
	if id := entityIdentifier(f.get(2).Rep(1), d.source, "appointment-filler", "FILL"); id != nil {
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		res["identifier"] = ids
	}
	var codes []record.Coding
	var services []any
	if cc, c := codeableConcept(f.get(7).Rep(1), d.source); cc != nil {
		services, codes = append(services, cc), append(codes, c...)
	}
	if cc, c := codeableConcept(f.get(8).Rep(1), d.source); cc != nil {
		res["appointmentType"] = cc
		codes = append(codes, c...)
	}

	// Timing: TQ1-7/8, else SCH-11.4/.5 (TQ start and end), else the start
	// of the first resource (AIS-4, AIG-8, AIL-6, AIP-6).
	start, end := "", ""
	if tq1 := d.msg.Segment("TQ1"); tq1 != nil {
		start, end = tq1.Field(7).Comp(1).String(), tq1.Field(8).Comp(1).String()
	}
	if start == "" {
		tq := f.get(11).Rep(1)
		start, end = tq.Comp(4).Sub(1), tq.Comp(5).Sub(1)
	}
	var participants []any
	for _, s := range d.msg.All() {
		var startField int
		switch s.Name() {
		case "AIS":
			startField = 4
			if len(services) == 0 {
				if cc, c := codeableConcept(s.Field(3).Rep(1), d.source); cc != nil {
					services, codes = append(services, cc), append(codes, c...)
				}
			}
		case "AIG":
			startField = 8
			participants = appendParticipant(participants, "", conceptDisplay(s.Field(3).Rep(1)), s.Field(4).Rep(1), s.Field(14), d.source)
		case "AIL":
			startField = 6
			participants = appendParticipant(participants, "Location", locationDisplay(s.Field(3).Rep(1)), s.Field(4).Rep(1), s.Field(12), d.source)
		case "AIP":
			startField = 6
			participants = appendParticipant(participants, "Practitioner", personDisplay(s.Field(3).Rep(1)), s.Field(4).Rep(1), s.Field(12), d.source)
		default:
			continue
		}
		if start == "" {
			start = s.Field(startField).Comp(1).String()
		}
	}
	if len(services) > 0 {
		res["serviceType"] = services
	}
	setAppointmentTime(res, start, end)
	if n, ok := minutes(text(f.get(9).Comp(1)), text(f.get(10).Comp(1))); ok {
		res["minutesDuration"] = n
	}
	if len(participants) > 0 {
		res["participant"] = participants
	}
	rec := d.emit("Appointment", subject, codes, res)
	rec.Practitioners = d.visitPractitioners()
	for _, aip := range d.msg.Segments("AIP") {
		rec.Practitioners = appendPractitioners(rec.Practitioners, aip, 3)
	}
	return nil
}

// setAppointmentTime sets start and end, FHIR instants, when the times have
// at least minutes and an offset. A time without an offset cannot be an
// instant (inventing the offset would be wrong): the times are then kept,
// as dateTimes without offset, in requestedPeriod.
func setAppointmentTime(res map[string]any, start, end string) {
	s, okS := instant(start)
	e, okE := instant(end)
	if okS {
		res["start"] = s
		if okE {
			res["end"] = e
		}
		return
	}
	period := map[string]any{}
	if v, ok := dateTime(start); ok {
		period["start"] = v
	}
	if v, ok := dateTime(end); ok {
		period["end"] = v
	}
	if len(period) > 0 {
		res["requestedPeriod"] = []any{period}
	}
}

// minutes converts a duration (SCH-9) in units (SCH-10: m, min, minutes,
// h, hr, hours, s, sec, seconds, d, days) to whole minutes; other units,
// non-integers and non-positive values yield false.
func minutes(amount, units string) (float64, bool) {
	v, ok := number(amount)
	if !ok || v <= 0 || v != float64(int64(v)) {
		return 0, false
	}
	var per float64
	switch strings.ToLower(units) {
	case "m", "min", "mins", "minute", "minutes":
		per = 1
	case "h", "hr", "hrs", "hour", "hours":
		per = 60
	case "d", "day", "days":
		per = 1440
	case "s", "sec", "secs", "second", "seconds":
		if int64(v)%60 != 0 {
			return 0, false
		}
		return v / 60, true
	default:
		return 0, false
	}
	return v * per, true
}

// appendParticipant adds a resource of an RGS group: the actor by display
// (typ is the Reference type, may be empty), the resource's role or type
// (AIP-4, AIL-4, AIG-4) as participant type, and its filler status code
// (table 0278) as participation status.
func appendParticipant(out []any, typ, display string, role Rep, status Field, source string) []any {
	actor := displayRef(typ, display)
	if actor == nil {
		return out
	}
	p := map[string]any{"actor": actor, "status": participationStatus(text(status.Comp(1)))}
	if cc, _ := codeableConcept(role, source); cc != nil {
		p["type"] = []any{cc}
	}
	return append(out, p)
}

// participationStatus maps a filler status code (table 0278) to FHIR
// participationstatus.
func participationStatus(s string) string {
	switch strings.ToLower(s) {
	case "booked", "overbook", "confirmed", "complete", "started", "arrived", "checked in":
		return "accepted"
	case "cancelled", "canceled", "deleted", "noshow", "dc", "blocked":
		return "declined"
	case "pending", "waitlist":
		return "tentative"
	}
	return "needs-action"
}
