package hl7

import (
	"strings"

	"github.com/carecrest/hub/record"
)

// orderGroup is one order of an order message: its ORC and the segments
// after it up to the next ORC.
type orderGroup struct {
	orc  *Segment
	segs []*Segment
}

// first returns the group's first segment named name, or nil.
func (g *orderGroup) first(name string) *Segment {
	for _, s := range g.segs {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// orders splits the message into order groups. A message without ORC, or
// with one of the detail segments (OBR, RXE, RXD) before the first ORC, is
// a type-mismatch; segments before the first ORC (PID, PV1, IN1) belong to
// the patient, not to an order.
func (d *decoder) orders(details ...string) ([]orderGroup, *DecodeError) {
	var groups []orderGroup
	for i, s := range d.msg.All() {
		name := s.Name()
		switch {
		case name == "ORC":
			groups = append(groups, orderGroup{orc: s})
		case len(groups) > 0:
			g := &groups[len(groups)-1]
			g.segs = append(g.segs, s)
		case containsName(details, name):
			return nil, errorf(ReasonTypeMismatch, i, 0, name+" before any ORC in an "+d.label+" message")
		}
	}
	if len(groups) == 0 {
		return nil, errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no ORC segment")
	}
	return groups, nil
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// orm maps an order message (ORM^O01, OML^O21, OMI^O23) to one
// ServiceRequest per ORC: status from ORC-5 or ORC-1, intent order, code
// from OBR-4, placer and filler numbers from ORC-2/3 (else OBR-2/3),
// authoredOn from ORC-9, requester from ORC-12 (else OBR-16), priority and
// occurrence from TQ1 (else OBR-27, else ORC-7). A ZDS segment (IHE
// radiology, RAD-4) adds the DICOM Study Instance UID as an identifier of
// system urn:dicom:uid.
func (d *decoder) orm() *DecodeError {
	groups, err := d.orders("OBR")
	if err != nil {
		return err
	}
	subject, err := d.firstSubject()
	if err != nil {
		return err
	}
	for _, g := range groups {
		obr, tq1 := g.first("OBR"), g.first("TQ1")
		res := make(map[string]any, 12)
		res["status"] = orderStatus(g.orc, false)
		res["intent"] = "order"
		ids := orderIdentifiers(g.orc, obr, d.source)
		if zds := g.first("ZDS"); zds != nil {
			if uid := text(zds.Field(1).Comp(1)); isOID(uid) {
				ids = append(ids, map[string]any{"system": "urn:dicom:uid", "value": "urn:oid:" + uid})
			}
		}
		if len(ids) > 0 {
			res["identifier"] = ids
		}
		var (
			code  map[string]any
			codes []record.Coding
		)
		if obr != nil {
			code, codes = codeableConcept(obr.Field(4).Rep(1), d.source)
		}
		if code == nil {
			code = absent("unknown")
		}
		res["code"] = code
		orderCommon(res, g.orc, obr, tq1, true)
		rec := d.emit("ServiceRequest", subject, codes, res)
		rec.Practitioners = appendPractitioners(appendPractitioners(nil, g.orc, 12), obr, 16)
	}
	return nil
}

// orderIdentifiers returns the placer (ORC-2, else OBR-2) and filler
// (ORC-3, else OBR-3) order numbers. obr may be nil.
func orderIdentifiers(orc, obr *Segment, source string) []any {
	var ids []any
	for _, n := range [...]struct {
		field      int
		kind, code string
	}{{2, "order-placer", "PLAC"}, {3, "order-filler", "FILL"}} {
		r := orc.Field(n.field).Rep(1)
		if text(r.Comp(1)) == "" && obr != nil {
			r = obr.Field(n.field).Rep(1)
		}
		if id := entityIdentifier(r, source, n.kind, n.code); id != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// orderCommon sets the elements ServiceRequest and MedicationRequest share:
// authoredOn (ORC-9), requester (ORC-12, else OBR-16), priority and
// occurrence (TQ1-9 and TQ1-7, else the TQ of OBR-27, else ORC-7); the
// occurrence only when occurrence is true (MedicationRequest has none). obr
// and tq1 may be nil.
func orderCommon(res map[string]any, orc, obr, tq1 *Segment, occurrence bool) {
	if v, ok := dateTime(orc.Field(9).Comp(1).String()); ok {
		res["authoredOn"] = v
	}
	requester := personDisplay(orc.Field(12).Rep(1))
	if requester == "" && obr != nil {
		requester = personDisplay(obr.Field(16).Rep(1))
	}
	if ref := displayRef("Practitioner", requester); ref != nil {
		res["requester"] = ref
	}
	var priority, start string
	if tq1 != nil {
		priority, start = text(tq1.Field(9).Comp(1)), tq1.Field(7).Comp(1).String()
	}
	for _, tq := range [...]Rep{obrTQ(obr), orc.Field(7).Rep(1)} {
		if priority == "" {
			priority = text(tq.Comp(6))
		}
		if start == "" {
			start = tq.Comp(4).Sub(1)
		}
	}
	if p := requestPriority(priority); p != "" {
		res["priority"] = p
	}
	if v, ok := dateTime(start); ok && occurrence {
		res["occurrenceDateTime"] = v
	}
}

func obrTQ(obr *Segment) Rep {
	if obr == nil {
		return Rep{}
	}
	return obr.Field(27).Rep(1)
}

// requestPriority maps a TQ priority (TQ.6, TQ1-9: table 0485) to FHIR
// request-priority; codes without an equivalent yield "".
func requestPriority(code string) string {
	switch strings.ToUpper(code) {
	case "S":
		return "stat"
	case "A":
		return "asap"
	case "R":
		return "routine"
	case "U":
		return "urgent"
	}
	return ""
}

// orderStatus maps ORC-5 (order status, table 0038) or, when it is empty,
// ORC-1 (order control, table 0119) to a FHIR request status. med selects
// MedicationRequest's codes (cancelled, stopped) over ServiceRequest's
// (revoked).
func orderStatus(orc *Segment, med bool) string {
	cancelled, stopped := "revoked", "revoked"
	if med {
		cancelled, stopped = "cancelled", "stopped"
	}
	switch text(orc.Field(5).Comp(1)) {
	case "A", "IP", "SC":
		return "active"
	case "CA", "RP":
		return cancelled
	case "DC":
		return stopped
	case "CM":
		return "completed"
	case "ER":
		return "entered-in-error"
	case "HD":
		return "on-hold"
	}
	switch text(orc.Field(1).Comp(1)) {
	case "NW", "SN", "XO", "XX", "RL", "OK", "SC":
		return "active"
	case "CA", "OC", "CR":
		return cancelled
	case "DC", "OD", "DR":
		return stopped
	case "HD", "OH":
		return "on-hold"
	}
	return "unknown"
}
