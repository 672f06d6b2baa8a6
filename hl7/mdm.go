package hl7

import (
	"encoding/base64"
	"strings"
)

// mdm maps a document message (MDM^T02 original document, MDM^T04
// replacement or edit) to one DocumentReference from its TXA and OBX:
//
//   - status from TXA-19 (availability: OB obsolete is superseded, CA
//     cancelled entered-in-error, else current); docStatus preliminary when
//     TXA-17 (completion status) says the document is not finished, else
//     final for T02 and amended for T04;
//   - type TXA-2; date (an instant) from TXA-6 (origination), else TXA-4;
//     context.period.start TXA-4 (activity); author TXA-9; masterIdentifier
//     TXA-12; for T04, relatesTo replaces TXA-13 (parent document);
//     securityLabel from TXA-18 (R restricted, V very restricted);
//   - content: the text of the TX, FT and ST OBX, repetitions and segments
//     joined by newlines, as a text/plain attachment (base64 data); and one
//     attachment per ED OBX that carries Base64 data. The text is PHI: the
//     pipeline seals the content element.
//
// The event is MSH-9's: EVN-1, deprecated since 2.3 in favour of MSH-9.2,
// is not read, and a contradicting EVN-1 (some senders put T10 there) is
// neither an error nor recorded. A message without TXA or without OBX is a
// type-mismatch.
func (d *decoder) mdm(trigger string) *DecodeError {
	txaAt, nOBX := -1, 0
	for i, s := range d.msg.All() {
		switch s.Name() {
		case "TXA":
			if txaAt >= 0 {
				return errorf(ReasonTypeMismatch, i, 0, d.label+" message has more than one TXA segment")
			}
			txaAt = i
		case "OBX":
			nOBX++
		}
	}
	if txaAt < 0 {
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no TXA segment")
	}
	if nOBX == 0 {
		return errorf(ReasonTypeMismatch, -1, 0, d.label+" message has no OBX segment")
	}
	subject, err := d.firstSubject()
	if err != nil {
		return err
	}
	var txa fieldSet
	d.msg.At(txaAt).fields(txa[:])
	res := make(map[string]any, 12)
	switch text(txa.get(19).Comp(1)) {
	case "OB":
		res["status"] = "superseded"
	case "CA":
		res["status"] = "entered-in-error"
	default:
		res["status"] = "current"
	}
	switch text(txa.get(17).Comp(1)) {
	case "IP", "IN", "DI", "DO", "PA":
		res["docStatus"] = "preliminary"
	default:
		if trigger == "T04" {
			res["docStatus"] = "amended"
		} else {
			res["docStatus"] = "final"
		}
	}
	typ, codes := codeableConcept(txa.get(2).Rep(1), d.source)
	if typ != nil {
		res["type"] = typ
	}
	if id := documentIdentifier(txa.get(12).Rep(1), d.source); id != nil {
		res["masterIdentifier"] = id
	}
	if trigger == "T04" {
		if id := documentIdentifier(txa.get(13).Rep(1), d.source); id != nil {
			res["relatesTo"] = []any{map[string]any{"code": "replaces", "target": map[string]any{"identifier": id}}}
		}
	}
	if v, ok := instant(txa.get(6).Comp(1).String()); ok {
		res["date"] = v
	} else if v, ok := instant(txa.get(4).Comp(1).String()); ok {
		res["date"] = v
	}
	if v, ok := dateTime(txa.get(4).Comp(1).String()); ok {
		res["context"] = map[string]any{"period": map[string]any{"start": v}}
	}
	var authors []any
	f := txa.get(9)
	for i := 1; i <= f.NumReps(); i++ {
		if ref := displayRef("Practitioner", personDisplay(f.Rep(i))); ref != nil {
			authors = append(authors, ref)
		}
	}
	if len(authors) > 0 {
		res["author"] = authors
	}
	switch c := text(txa.get(18).Comp(1)); c {
	case "R":
		res["securityLabel"] = []any{concept(systemConfidentiality, "R", "restricted")}
	case "V":
		res["securityLabel"] = []any{concept(systemConfidentiality, "V", "very restricted")}
	}
	if content := d.documentContent(); len(content) > 0 {
		res["content"] = content
	}
	d.emit("DocumentReference", subject, codes, res)
	return nil
}

// documentIdentifier maps a unique document number (EI): an OID without
// authority becomes the URI urn:oid:<oid> (system urn:ietf:rfc:3986).
func documentIdentifier(r Rep, source string) map[string]any {
	v := text(r.Comp(1))
	if isOID(v) && strings.Contains(v, ".") && text(r.Comp(2)) == "" && text(r.Comp(3)) == "" {
		return map[string]any{"system": "urn:ietf:rfc:3986", "value": "urn:oid:" + v}
	}
	return entityIdentifier(r, source, "document", "")
}

// documentContent returns the DocumentReference.content of the message's
// OBX segments.
func (d *decoder) documentContent() []any {
	var (
		lines   []string
		content []any
	)
	for _, s := range d.msg.All() {
		if s.Name() != "OBX" {
			continue
		}
		f := s.Field(5)
		switch strings.ToUpper(text(s.Field(2).Comp(1))) {
		case "TX", "FT", "ST":
			for i := 1; i <= f.NumReps(); i++ {
				lines = append(lines, f.Rep(i).String())
			}
		case "ED":
			// ED: source application ^ type ^ subtype ^ encoding ^ data.
			r := f.Rep(1)
			data := strings.TrimSpace(r.Comp(5).String())
			if !strings.EqualFold(text(r.Comp(4)), "Base64") || data == "" {
				continue
			}
			if _, err := base64.StdEncoding.DecodeString(data); err != nil {
				continue
			}
			att := map[string]any{"data": data}
			if typ, sub := text(r.Comp(2)), text(r.Comp(3)); typ != "" && sub != "" && !strings.ContainsAny(typ+sub, " /;") {
				att["contentType"] = strings.ToLower(typ + "/" + sub)
			}
			content = append(content, map[string]any{"attachment": att})
		}
	}
	if len(lines) == 0 {
		return content
	}
	txt := map[string]any{"attachment": map[string]any{
		"contentType": "text/plain",
		"data":        base64.StdEncoding.EncodeToString([]byte(strings.Join(lines, "\n"))),
	}}
	return append([]any{txt}, content...)
}
