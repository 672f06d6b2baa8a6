package phi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
)

const fieldPrefix = "carecrest/field/v1|"

// Seal returns rec with its PHI elements encrypted under the data key of
// rec.PatientID (created on first use). Clear elements (see IsPHI) go to
// Sealed.Clear as one JSON object; each PHI element's JSON value is sealed
// separately into Sealed.Fields with the additional data
//
//	"carecrest/field/v1|" + PatientID + "|" + ID + "|" + element
//
// so a ciphertext moved to another patient, record or element does not open.
// rec.PatientID and rec.ID are required; ID and element names may not
// contain '|'. The resource type is rec.Type, or the resource's resourceType
// when Type is empty; the two must agree. Seal does not modify rec and the
// result shares no memory with it. rec.Subject (identifiers) is not carried
// over: it is PHI and the patient is named by PatientID.
func (s *Sealer) Seal(ctx context.Context, rec *record.Record) (record.Sealed, error) {
	if rec == nil {
		return record.Sealed{}, fmt.Errorf("%w: nil record", ErrInvalid)
	}
	if rec.PatientID == "" || rec.ID == "" {
		return record.Sealed{}, fmt.Errorf("%w: record needs PatientID and ID", ErrInvalid)
	}
	if strings.Contains(rec.ID, "|") {
		return record.Sealed{}, fmt.Errorf("%w: record id contains '|'", ErrInvalid)
	}
	typ, err := resourceType(rec)
	if err != nil {
		return record.Sealed{}, err
	}
	var (
		clearEls = make(map[string]any)
		fields   = make(map[string][]byte)
		dk       *dataKey
	)
	for name, v := range rec.Resource {
		if !IsPHI(typ, name) {
			clearEls[name] = v
			continue
		}
		if strings.Contains(name, "|") {
			return record.Sealed{}, fmt.Errorf("%w: element name contains '|'", ErrInvalid)
		}
		// The encoder's error is dropped: it can quote the value.
		b, err := json.Marshal(v)
		if err != nil {
			return record.Sealed{}, fmt.Errorf("%w: element %q is not JSON-encodable", ErrInvalid, name)
		}
		if dk == nil {
			if dk, err = s.dataKey(ctx, rec.PatientID, true); err != nil {
				return record.Sealed{}, err
			}
		}
		fields[name] = seal(dk.aead, b, fieldAAD(rec.PatientID, rec.ID, name))
		clear(b)
	}
	clearJSON, err := json.Marshal(clearEls)
	if err != nil {
		return record.Sealed{}, fmt.Errorf("%w: clear elements are not JSON-encodable", ErrInvalid)
	}
	return record.Sealed{
		ID:        rec.ID,
		Type:      typ,
		Source:    rec.Source,
		MessageID: MessageDigest(rec.Source, rec.MessageID),
		Key:       rec.Key,
		PatientID: rec.PatientID,
		Labels:    slices.Clone(rec.Labels),
		Codes:     slices.Clone(rec.Codes),
		Clear:     clearJSON,
		Fields:    fields,
		Received:  rec.Received,
	}, nil
}

func resourceType(rec *record.Record) (string, error) {
	rt, _ := rec.Resource["resourceType"].(string)
	switch {
	case rec.Type == "" && rt == "":
		return "", fmt.Errorf("%w: record has no resource type", ErrInvalid)
	case rec.Type == "":
		return rt, nil
	case rt != "" && rt != rec.Type:
		return "", fmt.Errorf("%w: record type and resourceType differ", ErrInvalid)
	}
	return rec.Type, nil
}

// Open returns the resource of s with its clear elements and the requested
// PHI elements decrypted: elements nil or empty means none, []string{"*"}
// means all; requested names that s does not hold as PHI are ignored. PHI
// elements not requested are neither decrypted nor authenticated.
//
// JSON numbers are returned as json.Number so FHIR decimals keep their
// precision. A ciphertext that fails authentication yields ErrIntegrity; a
// patient without a data key (destroyed) yields ErrNoKey.
//
// Clear, Labels and Codes are not authenticated by Open: their integrity is
// the store's job.
func (s *Sealer) Open(ctx context.Context, sr *record.Sealed, elements []string) (map[string]any, error) {
	if sr == nil {
		return nil, fmt.Errorf("%w: nil record", ErrInvalid)
	}
	out := make(map[string]any)
	if len(sr.Clear) > 0 {
		if err := decodeJSON(sr.Clear, &out); err != nil {
			return nil, fmt.Errorf("%w: clear elements are not a JSON object", ErrIntegrity)
		}
		if out == nil { // "null"
			out = make(map[string]any)
		}
	}
	names := requested(sr, elements)
	if len(names) == 0 {
		return out, nil
	}
	if sr.PatientID == "" || sr.ID == "" {
		return nil, fmt.Errorf("%w: sealed record needs PatientID and ID", ErrInvalid)
	}
	dk, err := s.dataKey(ctx, sr.PatientID, false)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		plain, err := open(dk.aead, sr.Fields[name], fieldAAD(sr.PatientID, sr.ID, name))
		if err != nil {
			return nil, fmt.Errorf("%w: element %q", ErrIntegrity, name)
		}
		var v any
		err = decodeJSON(plain, &v)
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("%w: element %q is not JSON", ErrIntegrity, name)
		}
		out[name] = v
	}
	return out, nil
}

// requested returns the sealed element names to decrypt, sorted and unique.
func requested(sr *record.Sealed, elements []string) []string {
	if slices.Contains(elements, "*") {
		return slices.Sorted(maps.Keys(sr.Fields))
	}
	var names []string
	for _, e := range elements {
		if _, ok := sr.Fields[e]; ok && !slices.Contains(names, e) {
			names = append(names, e)
		}
	}
	slices.Sort(names)
	return names
}

func fieldAAD(patientID, recordID, element string) []byte {
	b := make([]byte, 0, len(fieldPrefix)+len(patientID)+len(recordID)+len(element)+2)
	b = append(b, fieldPrefix...)
	b = append(b, patientID...)
	b = append(b, '|')
	b = append(b, recordID...)
	b = append(b, '|')
	return append(b, element...)
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// MessageDigest is what the hub stores of a source message id: a digest.
// Source systems sometimes build message and resource ids from MRNs or
// names, so the id itself is PHI-capable and never stored in clear; the
// digest still lets an operator match a record to a message they hold.
func MessageDigest(source, messageID string) string {
	if messageID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("carecrest/msgid/v1|" + source + "|" + messageID))
	return "sha256:" + hex.EncodeToString(sum[:16])
}
