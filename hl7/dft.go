package hl7

import "github.com/carecrest/hub/record"

// dft maps a financial transaction message (DFT^P03) to one ChargeItem per
// FT1: status billable, identifier from FT1-2 (transaction id), code from
// FT1-7 (transaction code: CPT, local), else FT1-25 (procedure code),
// quantity FT1-10, occurrence FT1-4, priceOverride FT1-11 (extended
// amount), performer FT1-20 and reason FT1-19 (diagnoses). A DFT without
// FT1 is a type-mismatch.
func (d *decoder) dft() *DecodeError {
	var ft1s []*Segment
	for _, s := range d.msg.All() {
		if s.Name() == "FT1" {
			ft1s = append(ft1s, s)
		}
	}
	if len(ft1s) == 0 {
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no FT1 segment")
	}
	subject, err := d.firstSubject()
	if err != nil {
		return err
	}
	for _, s := range ft1s {
		res, codes := d.chargeItem(s)
		d.emit("ChargeItem", subject, codes, res)
	}
	return nil
}

func (d *decoder) chargeItem(seg *Segment) (map[string]any, []record.Coding) {
	var ft1 fieldSet
	seg.fields(ft1[:])
	res := make(map[string]any, 10)
	res["status"] = "billable"
	if id := entityIdentifier(ft1.get(2).Rep(1), d.source, "transaction", ""); id != nil {
		res["identifier"] = []any{id}
	}
	code, codes := codeableConcept(ft1.get(7).Rep(1), d.source)
	if code == nil {
		code, codes = codeableConcept(ft1.get(25).Rep(1), d.source)
	}
	if code == nil {
		code = absent("unknown")
	}
	res["code"] = code
	if v, ok := number(text(ft1.get(10).Comp(1))); ok {
		res["quantity"] = map[string]any{"value": v}
	}
	when := ft1.get(4).Rep(1) // DR (start ^ end) from 2.5, TS before
	start, okS := dateTime(when.Comp(1).Sub(1))
	end, okE := dateTime(when.Comp(2).Sub(1))
	switch {
	case okS && okE:
		res["occurrencePeriod"] = map[string]any{"start": start, "end": end}
	case okS:
		res["occurrenceDateTime"] = start
	}
	price := ft1.get(11).Comp(1) // CP.1 is an MO: quantity & denomination
	if v, ok := number(price.Sub(1)); ok {
		money := map[string]any{"value": v}
		if cur := clean(price.Sub(2)); len(cur) == 3 && isUpperAlnum(cur) {
			money["currency"] = cur
		}
		res["priceOverride"] = money
	}
	if ref := displayRef("Practitioner", personDisplay(ft1.get(20).Rep(1))); ref != nil {
		res["performer"] = []any{map[string]any{"actor": ref}}
	}
	var reasons []any
	f := ft1.get(19)
	for i := 1; i <= f.NumReps(); i++ {
		if cc, c := codeableConcept(f.Rep(i), d.source); cc != nil {
			reasons = append(reasons, cc)
			codes = append(codes, c...)
		}
	}
	if len(reasons) > 0 {
		res["reason"] = reasons
	}
	return res, codes
}
