package route

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/carecrest/hub/record"
	"github.com/segmentio/kafka-go"
)

// Headers of FormatBundle messages (instead of HeaderRecordID).
const (
	// HeaderBundleID is the Bundle.id; subscribers of bundles dedupe on it.
	HeaderBundleID = "hub-bundle-id"
	// HeaderRecordIDs lists the hub record ids of the Bundle's entries,
	// comma-separated, in entry order.
	HeaderRecordIDs = "hub-record-ids"
)

// MaxBundleBytes bounds the encoded size of one outbound Bundle, below
// kafka-go's default BatchBytes (1 MiB) and Kafka's default
// message.max.bytes. A source message whose disclosed records would exceed
// it is sent as several Bundles, each complete in itself; a single entry
// larger than it is sent alone.
const MaxBundleBytes = 900 << 10

// A FormatBundle subscriber receives one FHIR R4 Bundle per source message
// and patient: the records of one HL7 v2 message, FHIR Bundle or DICOM
// study metadata that the subscriber takes and policy allows, each masked
// exactly as it would be on its own (resource), in the order of the batch.
//
//   - Bundle.type is the subscriber's BundleType. Bundle.id is derived from
//     the subscriber and the entries' idempotency keys, so a retried batch
//     yields the same id; Bundle.timestamp is when the batch was planned.
//   - Each entry's fullUrl is urn:uuid:<UUID derived from the record id>.
//   - transaction: each entry has request PUT <type>/<id>, an idempotent
//     upsert, so a redelivered Bundle changes nothing at the receiver. A
//     Patient entry is the enterprise patient: its id and request URL are
//     the enterprise patient id (Patient/P...), the reference every other
//     resource's subject already holds, so references resolve inside the
//     transaction and one receiver-side Patient is updated by each
//     registration. (Its hub record id is in HeaderRecordIDs.)
//   - A Bundle with a 42 CFR part 2 entry carries the part 2 security label
//     and the redisclosure notice in Bundle.meta too, so that the notice
//     accompanies the disclosure as a whole; the entries keep theirs.
//
// Each entry is still audited as its own disclosure (CodeRouted, one event
// per record, before the message is written), with the Bundle.id as the
// event's RequestID.
type bundleGroup struct {
	sub     Subscriber
	patient string
	entries []bundleEntry
}

// bundleEntry is one disclosed record of a bundleGroup.
type bundleEntry struct {
	rec   *record.Sealed
	res   map[string]any
	event int // index of its CodeRouted event in Plan.Events
}

// groupKey groups the records of one source message for one patient and
// subscriber.
type groupKey struct{ sub, patient, source, message string }

// encodedEntry is a Bundle entry ready to be written.
type encodedEntry struct {
	e    *bundleEntry
	json []byte
}

// messages encodes the group as one or more Bundles (see MaxBundleBytes)
// and sets each entry's event RequestID to its Bundle's id.
func (g *bundleGroup) messages(plan *Plan, now time.Time) ([]kafka.Message, error) {
	var (
		out  []kafka.Message
		part []encodedEntry
		size int
	)
	for i := range g.entries {
		e := &g.entries[i]
		b, err := json.Marshal(g.entry(e))
		if err != nil {
			// The encoder's error is dropped: it can quote a value.
			return nil, fmt.Errorf("route: %s record %s is not JSON-encodable", e.rec.Type, e.rec.ID)
		}
		if len(part) > 0 && size+len(b)+1 > MaxBundleBytes-bundleOverhead {
			m, err := g.bundle(plan, part, now)
			if err != nil {
				return nil, err
			}
			out, part, size = append(out, m), nil, 0
		}
		part = append(part, encodedEntry{e, b})
		size += len(b) + 1
	}
	m, err := g.bundle(plan, part, now)
	if err != nil {
		return nil, err
	}
	return append(out, m), nil
}

// bundleOverhead is room kept for everything of a Bundle but its entries.
const bundleOverhead = 2 << 10

// entry returns the Bundle entry of one disclosed record.
func (g *bundleGroup) entry(e *bundleEntry) map[string]any {
	res, typ, id := e.res, e.rec.Type, e.rec.ID
	if g.sub.BundleType == BundleTransaction && typ == "Patient" {
		res = maps.Clone(res)
		res["id"] = e.rec.PatientID
		id = e.rec.PatientID
	}
	out := map[string]any{"fullUrl": "urn:uuid:" + uuidOf(e.rec.ID), "resource": res}
	if g.sub.BundleType == BundleTransaction {
		out["request"] = map[string]any{"method": "PUT", "url": typ + "/" + id}
	}
	return out
}

// bundle writes one Bundle of entries as a message.
func (g *bundleGroup) bundle(plan *Plan, entries []encodedEntry, now time.Time) (kafka.Message, error) {
	h := sha256.New()
	h.Write([]byte(g.sub.Name))
	ids := make([]string, len(entries))
	hasPart2 := false
	for i, e := range entries {
		h.Write([]byte{0})
		h.Write([]byte(e.e.rec.Key))
		ids[i] = e.e.rec.ID
		hasPart2 = hasPart2 || part2(e.e.rec.Labels)
	}
	id := "b-" + hex.EncodeToString(h.Sum(nil))[:24]
	head := map[string]any{
		"resourceType": "Bundle", "id": id, "type": g.sub.BundleType,
		"timestamp": now.Format(time.RFC3339Nano),
	}
	if hasPart2 {
		meta := map[string]any{}
		addPart2(meta)
		head["meta"] = meta
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("route: Bundle header is not JSON-encodable")
	}
	// {head..., "entry":[e1,e2,...]}: the entries are encoded once.
	var b strings.Builder
	b.Grow(len(hb) + 16 + len(entries)*256)
	b.Write(hb[:len(hb)-1])
	b.WriteString(`,"entry":[`)
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.json)
		plan.Events[e.e.event].RequestID = id
	}
	b.WriteString("]}")
	return kafka.Message{
		Topic: g.sub.Topic(),
		Key:   []byte(g.patient),
		Value: []byte(b.String()),
		Headers: []kafka.Header{
			{Key: HeaderContentType, Value: []byte(ContentFHIRJSON)},
			{Key: HeaderBundleID, Value: []byte(id)},
			{Key: HeaderRecordIDs, Value: []byte(strings.Join(ids, ","))},
			{Key: HeaderPurpose, Value: []byte(g.sub.Purpose)},
		},
	}, nil
}

// uuidOf derives a stable UUID (RFC 9562 version 8, name-based by SHA-256)
// from a hub record id: the same record always has the same fullUrl.
func uuidOf(id string) string {
	sum := sha256.Sum256([]byte("carecrest-hub/record/" + id))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
