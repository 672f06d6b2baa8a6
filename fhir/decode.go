// Package fhir decodes FHIR R4 JSON, one resource or a Bundle, into the
// hub's canonical records (package record).
//
// Every resource that is patient data becomes one record.Record: a Patient,
// or a resource that references its patient from subject, patient or
// beneficiary (and, for a few types, from participant actors or Task.for).
// Other resources (Organization, Practitioner, ValueSet, ...) and Bundle
// entries without a resource (DELETE, GET) are reported in Result.Skipped.
//
// Record.Resource is the resource's JSON object as decoded by encoding/json
// with UseNumber: numbers are json.Number, so FHIR decimals keep their exact
// text (1.50 stays 1.50) and the object marshals back to the same JSON. The
// decoder removes "id" (kept in Record.SourceID and the patient's Subject)
// and the subject, patient or beneficiary element that references the
// patient: the pipeline rewrites both. Everything else is kept as sent,
// including other references and contained resources.
//
// Decoding is all or nothing: a message with one resource whose patient
// cannot be resolved is rejected as a whole, so that a Bundle is never
// stored in part.
package fhir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/internal/jsondepth"
	"github.com/carecrest/hub/record"
)

// Default limits.
const (
	DefaultMaxBytes   = 8 << 20
	DefaultMaxEntries = 10000
	DefaultMaxDepth   = 64
)

// Limits bound what Decode accepts, so that a hostile message costs bounded
// memory and time. A zero field takes its default.
type Limits struct {
	// MaxBytes is the largest message, in bytes.
	MaxBytes int
	// MaxEntries is the largest number of Bundle entries.
	MaxEntries int
	// MaxDepth is the deepest nesting of JSON objects and arrays. It is
	// checked by a scan before decoding.
	MaxDepth int
}

// Defaults returns l with every zero field set to its default.
func (l Limits) Defaults() Limits {
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Validate reports a negative limit.
func (l Limits) Validate() error {
	if l.MaxBytes < 0 || l.MaxEntries < 0 || l.MaxDepth < 0 {
		return errors.New("fhir: limits must not be negative")
	}
	return nil
}

// Result is what one message decodes to.
type Result struct {
	// Records are the message's patient data, in message order.
	Records []record.Record
	// Skipped lists the resources and entries that are not patient data.
	Skipped []Skip
}

// Skip is a resource or Bundle entry that Decode did not turn into a record.
type Skip struct {
	// Index is the Bundle entry index (0 for a message that is one resource).
	Index int
	// ResourceType is the skipped resource's type, "" for an entry without
	// a resource.
	ResourceType string
	// Reason is one of the Skip constants.
	Reason string
}

// Reasons of a Skip.
const (
	SkipNoPatient    = "no-patient-reference" // the resource references no patient
	SkipDelete       = "delete-request"       // a Bundle entry that deletes
	SkipRead         = "read-request"         // a Bundle entry that reads (GET, HEAD)
	SkipNoResource   = "no-resource"          // a Bundle entry without a resource
	SkipNestedBundle = "nested-bundle"        // a Bundle inside a Bundle is not opened
)

// Decode decodes one FHIR R4 JSON message from source with the default
// Limits. See Limits.Decode.
func Decode(source string, data []byte, received time.Time) (Result, error) {
	return Limits{}.Decode(source, data, received)
}

// Decode decodes one FHIR R4 JSON message, a resource or a Bundle of type
// transaction, batch, collection, document, message or searchset, received
// from source at received.
//
// Every error about the data is a *DecodeError (errors.Is(err, ErrInvalid));
// an empty source or invalid l returns another error. On error the Result is
// empty: no record of the message may be stored.
func (l Limits) Decode(source string, data []byte, received time.Time) (Result, error) {
	l = l.Defaults()
	if err := l.Validate(); err != nil {
		return Result{}, err
	}
	if source == "" {
		return Result{}, errors.New("fhir: empty source")
	}
	if len(data) > l.MaxBytes {
		return Result{}, decodeErr(ReasonTooLarge, -1, "message exceeds "+strconv.Itoa(l.MaxBytes)+" bytes")
	}
	text := bytes.TrimPrefix(data, utf8BOM)
	if jsondepth.Exceeds(text, l.MaxDepth) {
		return Result{}, decodeErr(ReasonTooDeep, -1, "JSON nests deeper than "+strconv.Itoa(l.MaxDepth)+" levels")
	}
	v, err := parse(text)
	if err != nil {
		return Result{}, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Result{}, decodeErr(ReasonNotAnObject, -1, "message is not a JSON object")
	}
	typ, err := resourceType(obj, 0)
	if err != nil {
		return Result{}, err
	}
	d := &decoder{source: source, received: received, limits: l, messageID: messageID(typ, obj, data)}
	if typ == "Bundle" {
		err = d.bundle(obj)
	} else {
		err = d.entry(0, typ, obj)
	}
	if err != nil {
		return Result{}, err
	}
	return d.out, nil
}

// parse decodes exactly one JSON value. Errors say where, never what: the
// decoder's own messages can quote the input.
func parse(text []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return nil, decodeErr(ReasonInvalidJSON, -1, "syntax error at byte offset "+strconv.FormatInt(syn.Offset, 10))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, decodeErr(ReasonInvalidJSON, -1, "unexpected end of input")
		default:
			return nil, decodeErr(ReasonInvalidJSON, -1, "malformed JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, decodeErr(ReasonInvalidJSON, -1, "data after the JSON value at byte offset "+strconv.FormatInt(dec.InputOffset(), 10))
	}
	return v, nil
}

// resourceType returns obj's resourceType, which must be an R4 type.
func resourceType(obj map[string]any, entry int) (string, error) {
	v, ok := obj["resourceType"]
	if !ok {
		return "", decodeErr(ReasonMissingType, entry, "resource has no resourceType")
	}
	t, _ := v.(string)
	if !resourceTypes[t] {
		return "", decodeErr(ReasonUnknownType, entry, "resourceType is not an R4 resource type")
	}
	return t, nil
}

// messageID identifies the message: Type/id (with /_history/versionId when
// meta has one), a Bundle's identifier, or a digest of the bytes. The type
// is part of it so that Observation/1 and Patient/1 from one source never
// share keys.
func messageID(typ string, obj map[string]any, data []byte) string {
	if id := str(obj["id"]); id != "" {
		mid := typ + "/" + id
		meta, _ := obj["meta"].(map[string]any)
		if v := str(meta["versionId"]); v != "" {
			mid += "/_history/" + v
		}
		return mid
	}
	if typ == "Bundle" {
		ident, _ := obj["identifier"].(map[string]any)
		if v := str(ident["value"]); v != "" {
			if s := str(ident["system"]); s != "" {
				return s + "|" + v
			}
			return v
		}
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:32]
}

// decoder holds the state of one Decode call.
type decoder struct {
	source    string
	received  time.Time
	limits    Limits
	messageID string
	index     *bundleIndex // nil for a single resource
	out       Result
}

// skip records that entry i is not patient data.
func (d *decoder) skip(i int, typ, reason string) {
	d.out.Skipped = append(d.out.Skipped, Skip{Index: i, ResourceType: typ, Reason: reason})
}

// entry decodes the resource of entry i (0 for a single resource) into a
// record, or records why it is skipped.
func (d *decoder) entry(i int, typ string, res map[string]any) error {
	var subject []record.Identifier
	if typ == "Patient" {
		if d.index != nil {
			subject = d.index.patients[i]
		}
		if subject == nil {
			var err error
			if subject, err = d.patientSubject(i, res); err != nil {
				return err
			}
		}
	} else {
		l, err := d.link(i, typ, res)
		if err != nil {
			return err
		}
		if l.subject == nil {
			d.skip(i, typ, SkipNoPatient)
			return nil
		}
		l.remove(res)
		subject = l.subject
	}
	sourceID := str(res["id"])
	delete(res, "id")
	key := record.NewKey(d.source, d.messageID, i)
	d.out.Records = append(d.out.Records, record.Record{
		ID:        record.IDFromKey(key),
		Type:      typ,
		Source:    d.source,
		SourceID:  sourceID,
		MessageID: d.messageID,
		Key:       key,
		Subject:   subject,
		Codes:     codesOf(typ, res),
		Resource:  res,
		Received:  d.received,
	})
	return nil
}

// bundleIndex resolves references between the entries of a Bundle.
type bundleIndex struct {
	// types maps each entry's fullUrl (without /_history/n) to its type.
	types map[string]string
	// byURL maps the fullUrl of each Patient entry to its subject.
	byURL map[string][]record.Identifier
	// byID maps "Patient/<id>" of each Patient entry to its subject, so a
	// relative reference finds the entry's business identifiers too.
	byID map[string][]record.Identifier
	// patients holds each Patient entry's subject by entry index.
	patients map[int][]record.Identifier
}

// bundleEntry is one Bundle entry after the first pass.
type bundleEntry struct {
	res  map[string]any
	typ  string
	skip string
}

// bundle decodes a Bundle in two passes: the first checks every entry and
// indexes its Patients, the second turns entries into records.
func (d *decoder) bundle(obj map[string]any) error {
	if !bundleTypes[str(obj["type"])] {
		return decodeErr(ReasonBundleType, -1, "Bundle.type must be transaction, batch, collection, document, message or searchset")
	}
	raw, ok := obj["entry"]
	if !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return decodeErr(ReasonInvalidBundle, -1, "Bundle.entry is not an array")
	}
	if len(list) > d.limits.MaxEntries {
		return decodeErr(ReasonTooManyEntries, -1, "Bundle has more than "+strconv.Itoa(d.limits.MaxEntries)+" entries")
	}
	idx := &bundleIndex{
		types:    map[string]string{},
		byURL:    map[string][]record.Identifier{},
		byID:     map[string][]record.Identifier{},
		patients: map[int][]record.Identifier{},
	}
	d.index = idx
	entries := make([]bundleEntry, len(list))
	for i, raw := range list {
		e, ok := raw.(map[string]any)
		if !ok {
			return decodeErr(ReasonNotAnObject, i, "Bundle.entry is not a JSON object")
		}
		be := &entries[i]
		req, _ := e["request"].(map[string]any)
		switch strings.ToUpper(str(req["method"])) {
		case "DELETE":
			be.skip = SkipDelete
		case "GET", "HEAD":
			be.skip = SkipRead
		}
		if rv, ok := e["resource"]; ok && be.skip == "" {
			res, ok := rv.(map[string]any)
			if !ok {
				return decodeErr(ReasonNotAnObject, i, "Bundle.entry.resource is not a JSON object")
			}
			typ, err := resourceType(res, i)
			if err != nil {
				return err
			}
			be.res, be.typ = res, typ
			if typ == "Bundle" {
				be.skip = SkipNestedBundle
			}
		} else if be.skip == "" {
			be.skip = SkipNoResource
		}
		url := stripHistory(str(e["fullUrl"]))
		if url == "" || be.skip != "" {
			continue
		}
		if _, dup := idx.types[url]; dup {
			return decodeErr(ReasonDuplicateFullURL, i, "Bundle.entry.fullUrl repeats an earlier entry's")
		}
		idx.types[url] = be.typ
	}
	// Index Patients once every fullUrl is known.
	for i, be := range entries {
		if be.skip != "" || be.typ != "Patient" {
			continue
		}
		subject, err := d.patientSubject(i, be.res)
		if err != nil {
			return err
		}
		idx.patients[i] = subject
		e := list[i].(map[string]any)
		if url := stripHistory(str(e["fullUrl"])); url != "" {
			idx.byURL[url] = subject
		}
		if id := str(be.res["id"]); id != "" {
			idx.byID["Patient/"+id] = subject
		}
	}
	for i, be := range entries {
		if be.skip != "" {
			d.skip(i, be.typ, be.skip)
			continue
		}
		if err := d.entry(i, be.typ, be.res); err != nil {
			return err
		}
	}
	return nil
}

// patientSubject returns the identifiers of a Patient resource: its business
// identifiers and its source-scoped logical id.
func (d *decoder) patientSubject(i int, res map[string]any) ([]record.Identifier, error) {
	ids := d.identifiers(res["identifier"])
	if id := str(res["id"]); id != "" {
		ids = appendIdentifier(ids, record.Identifier{System: d.scope("Patient"), Value: id})
	}
	if len(ids) == 0 {
		return nil, decodeErr(ReasonNoPatientID, i, "Patient has neither identifier nor id")
	}
	return ids, nil
}

// identifiers returns the {system, value} pairs of an Identifier or a list of
// them. An identifier without value is ignored; one without system gets a
// source-scoped unknown system.
func (d *decoder) identifiers(v any) []record.Identifier {
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	case map[string]any:
		list = []any{v}
	}
	var out []record.Identifier
	for _, x := range list {
		m, _ := x.(map[string]any)
		value := str(m["value"])
		if value == "" {
			continue
		}
		system := str(m["system"])
		if system == "" {
			system = d.scope("id-system-unknown")
		}
		out = appendIdentifier(out, record.Identifier{System: system, Value: value})
	}
	return out
}

// scope returns the source-scoped identifier system "urn:carecrest:source:<source>:<name>".
func (d *decoder) scope(name string) string {
	return "urn:carecrest:source:" + d.source + ":" + name
}

// appendIdentifier appends id unless ids holds it already.
func appendIdentifier(ids []record.Identifier, id record.Identifier) []record.Identifier {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

// errf builds a DecodeError whose message names only the resource type (from
// the R4 list) and element names (constants).
func errf(reason string, entry int, format string, args ...any) *DecodeError {
	return decodeErr(reason, entry, fmt.Sprintf(format, args...))
}
