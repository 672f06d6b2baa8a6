package hl7

import (
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
)

// rde maps a pharmacy order (RDE^O11) or dispense (RDS^O13, dispense true)
// to one MedicationRequest per ORC:
//
//   - status from ORC-5 or ORC-1, intent order, identifiers, authoredOn,
//     requester and priority as for ServiceRequest (see orm);
//   - medicationCodeableConcept from RXE-2, else RXO-1 (else RXD-2); RXNORM
//     codes get the RxNorm system;
//   - dosageInstruction: text from RXE-7 (else RXO-7), route from the RXR
//     after the RXE (else the group's first RXR), dose from RXE-3/5 when no
//     maximum (RXE-4) makes it a range;
//   - dispenseRequest: quantity from RXE-10/11 (else RXO-11/12), refills
//     from RXE-12 (else RXO-13).
//
// An RDE order group must hold an RXE, an RDS one an RXD (type-mismatch
// otherwise). For RDS, each MedicationRequest is followed by one
// MedicationDispense per RXD of its group, which references it.
func (d *decoder) rde(dispense bool) *DecodeError {
	detail := "RXE"
	if dispense {
		detail = "RXD"
	}
	groups, err := d.orders(detail)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.first(detail) == nil {
			return errorf(ReasonTypeMismatch, -1, 0, "an order of an "+d.label+" message has no "+detail+" segment")
		}
	}
	subject, err := d.firstSubject()
	if err != nil {
		return err
	}
	for _, g := range groups {
		rxe, rxo := g.first("RXE"), g.first("RXO")
		res := make(map[string]any, 12)
		res["status"] = orderStatus(g.orc, true)
		res["intent"] = "order"
		if ids := orderIdentifiers(g.orc, nil, d.source); len(ids) > 0 {
			res["identifier"] = ids
		}
		var (
			med   map[string]any
			codes []record.Coding
		)
		if rxe != nil {
			med, codes = codeableConcept(rxe.Field(2).Rep(1), d.source)
		}
		if med == nil && rxo != nil {
			med, codes = codeableConcept(rxo.Field(1).Rep(1), d.source)
		}
		if med == nil {
			if rxd := g.first("RXD"); rxd != nil {
				med, codes = codeableConcept(rxd.Field(2).Rep(1), d.source)
			}
		}
		if med == nil {
			med = absent("unknown")
		}
		res["medicationCodeableConcept"] = med
		orderCommon(res, g.orc, nil, g.first("TQ1"), false)
		if dosage := dosageInstruction(&g, rxe, rxo, d.source); dosage != nil {
			res["dosageInstruction"] = []any{dosage}
		}
		if dr := dispenseRequest(rxe, rxo); dr != nil {
			res["dispenseRequest"] = dr
		}
		req := d.emit("MedicationRequest", subject, codes, res)
		req.Practitioners = appendPractitioners(nil, g.orc, 12)
		if !dispense {
			continue
		}
		reqRef := map[string]any{"reference": "MedicationRequest/" + req.ID}
		for _, s := range g.segs {
			if s.Name() == "RXD" {
				d.medicationDispense(s, subject, med, codes, reqRef)
			}
		}
	}
	return nil
}

// dosageInstruction builds the Dosage of an order group; nil when it has
// nothing to say. rxe and rxo may be nil.
func dosageInstruction(g *orderGroup, rxe, rxo *Segment, source string) map[string]any {
	dosage := map[string]any{}
	var instr Field
	if rxe != nil {
		instr = rxe.Field(7)
	}
	if instr.IsEmpty() && rxo != nil {
		instr = rxo.Field(7)
	}
	var lines []string
	for i := 1; i <= instr.NumReps(); i++ {
		if v := conceptDisplay(instr.Rep(i)); v != "" {
			lines = append(lines, v)
		}
	}
	if len(lines) > 0 {
		dosage["text"] = strings.Join(lines, "\n")
	}
	var firstRXR, rxr *Segment
	seenRXE := false
	for _, s := range g.segs {
		switch s.Name() {
		case "RXE":
			seenRXE = true
		case "RXR":
			if firstRXR == nil {
				firstRXR = s
			}
			if seenRXE && rxr == nil {
				rxr = s
			}
		}
	}
	if rxr == nil {
		rxr = firstRXR
	}
	if rxr != nil {
		if cc, _ := codeableConcept(rxr.Field(1).Rep(1), source); cc != nil {
			dosage["route"] = cc
		}
	}
	if rxe != nil && text(rxe.Field(4).Comp(1)) == "" {
		if q, ok := plainQuantity(text(rxe.Field(3).Comp(1)), rxe.Field(5).Rep(1)); ok {
			dosage["doseAndRate"] = []any{map[string]any{"doseQuantity": q}}
		}
	}
	if len(dosage) == 0 {
		return nil
	}
	return dosage
}

// dispenseRequest maps RXE-10/11/12 (else RXO-11/12/13); nil when empty.
func dispenseRequest(rxe, rxo *Segment) map[string]any {
	dr := map[string]any{}
	for _, s := range [...]struct {
		seg                    *Segment
		amount, units, refills int
	}{{rxe, 10, 11, 12}, {rxo, 11, 12, 13}} {
		if s.seg == nil {
			continue
		}
		if _, ok := dr["quantity"]; !ok {
			if q, ok := plainQuantity(text(s.seg.Field(s.amount).Comp(1)), s.seg.Field(s.units).Rep(1)); ok {
				dr["quantity"] = q
			}
		}
		if _, ok := dr["numberOfRepeatsAllowed"]; !ok {
			if n, ok := number(text(s.seg.Field(s.refills).Comp(1))); ok && n >= 0 && n == float64(int64(n)) {
				dr["numberOfRepeatsAllowed"] = n
			}
		}
	}
	if len(dr) == 0 {
		return nil
	}
	return dr
}

// medicationDispense emits a MedicationDispense for an RXD: status
// completed, medication from RXD-2 (else the request's), quantity from
// RXD-4/5, whenHandedOver from RXD-3, and the request it fills.
func (d *decoder) medicationDispense(rxd *Segment, subject []record.Identifier, reqMed map[string]any, reqCodes []record.Coding, reqRef map[string]any) {
	med, codes := codeableConcept(rxd.Field(2).Rep(1), d.source)
	if med == nil {
		// A copy: records must not share mutable values.
		med, codes = cloneJSON(reqMed), slices.Clone(reqCodes)
	}
	res := map[string]any{
		"status":                    "completed",
		"medicationCodeableConcept": med,
		"authorizingPrescription":   []any{reqRef},
	}
	if q, ok := plainQuantity(text(rxd.Field(4).Comp(1)), rxd.Field(5).Rep(1)); ok {
		res["quantity"] = q
	}
	if v, ok := dateTime(rxd.Field(3).Comp(1).String()); ok {
		res["whenHandedOver"] = v
	}
	d.emit("MedicationDispense", subject, codes, res)
}

// cloneJSON deep-copies a JSON-shaped map.
func cloneJSON(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneJSON(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
