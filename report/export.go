package report

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// Format is an export format.
type Format string

// Export formats.
const (
	FormatCSV        Format = "csv"         // RFC 4180, header row, Columns order
	FormatNDJSON     Format = "ndjson"      // one Row per line
	FormatFHIR       Format = "fhir"        // FHIR R4 Bundle (collection) of AuditEvent
	FormatFHIRNDJSON Format = "fhir-ndjson" // one FHIR R4 AuditEvent per line (bulk data style)
)

// Formats lists the valid formats.
var Formats = []Format{FormatCSV, FormatNDJSON, FormatFHIR, FormatFHIRNDJSON}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("format %q unknown; valid: %s", s, strings.Join(names, ", "))
}

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	switch f {
	case FormatCSV:
		return "text/csv; charset=utf-8; header=present"
	case FormatNDJSON:
		return "application/x-ndjson"
	case FormatFHIR:
		return "application/fhir+json"
	default:
		return "application/fhir+ndjson"
	}
}

// Ext is the file name extension of the format.
func (f Format) Ext() string {
	switch f {
	case FormatCSV:
		return "csv"
	case FormatFHIR:
		return "json"
	default:
		return "ndjson"
	}
}

// Row is an audit event as exported (NDJSON objects, CSV columns): exactly
// the audit row's fields, under the names of the GraphQL AuditEvent type.
type Row struct {
	ID             string   `json:"id"`
	Time           string   `json:"time"`
	Code           string   `json:"code"`
	Action         string   `json:"action"`
	Outcome        string   `json:"outcome"`
	Actor          string   `json:"actor"`
	Roles          []string `json:"roles"`
	Organization   string   `json:"organization"`
	Application    string   `json:"application"`
	Purpose        string   `json:"purpose"`
	Patient        string   `json:"patient"`
	RecordType     string   `json:"recordType"`
	RecordIDs      []string `json:"recordIds"`
	Disclosed      []string `json:"disclosed"`
	Masked         []string `json:"masked"`
	PolicyRevision string   `json:"policyRevision"`
	Rules          []string `json:"rules"`
	Consents       []string `json:"consents"`
	Reason         string   `json:"reason"`
	RequestID      string   `json:"requestId"`
	Shard          string   `json:"shard"`
	Seq            uint64   `json:"seq"`
	Hash           string   `json:"hash"`
}

// RowOf converts an event. Lists are never null.
func RowOf(e audit.Event) Row {
	l := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return Row{
		ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), Code: e.Code, Action: e.Action, Outcome: e.Outcome,
		Actor: e.ActorID, Roles: l(e.ActorRoles), Organization: e.ActorOrg, Application: e.Application,
		Purpose: e.Purpose, Patient: e.PatientID, RecordType: e.RecordType, RecordIDs: l(e.RecordIDs),
		Disclosed: l(e.Disclosed), Masked: l(e.Masked), PolicyRevision: e.PolicyRevision, Rules: l(e.Rules),
		Consents: l(e.Consents), Reason: e.Reason, RequestID: e.RequestID, Shard: e.Shard, Seq: e.Seq, Hash: e.Hash,
	}
}

// Columns is the CSV header, in its stable order (new columns are only
// ever appended).
var Columns = []string{
	"id", "time", "code", "action", "outcome", "actor", "roles", "organization", "application", "purpose",
	"patient", "recordType", "recordIds", "disclosed", "masked", "policyRevision", "rules", "consents",
	"reason", "requestId", "shard", "seq", "hash",
}

// csvFields returns the row's CSV fields in Columns order. Lists are
// joined with ";". A field a spreadsheet would run as a formula (starting
// with =, +, -, @, tab or CR) is prefixed with a single quote: exports are
// opened in spreadsheets, and reasons can carry text a user typed.
func (r Row) csvFields() []string {
	j := func(s []string) string { return strings.Join(s, ";") }
	f := []string{
		r.ID, r.Time, r.Code, r.Action, r.Outcome, r.Actor, j(r.Roles), r.Organization, r.Application, r.Purpose,
		r.Patient, r.RecordType, j(r.RecordIDs), j(r.Disclosed), j(r.Masked), r.PolicyRevision, j(r.Rules),
		j(r.Consents), r.Reason, r.RequestID, r.Shard, strconv.FormatUint(r.Seq, 10), r.Hash,
	}
	for i, s := range f {
		if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			f[i] = "'" + s
		}
	}
	return f
}

// Encoder writes exported events one at a time.
type Encoder interface {
	// Write encodes one event.
	Write(e audit.Event) error
	// Close writes any trailer and flushes; it does not close the writer.
	Close() error
}

// Observer identifies the hub instance that recorded the events (the FHIR
// AuditEvent.source.observer).
type Observer struct {
	Instance string // hub instance name (its audit chain shard)
	Site     string // optional: the site or organisation running the hub
}

// NewEncoder returns an encoder of format f writing to w.
func NewEncoder(f Format, w io.Writer, obs Observer) (Encoder, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch f {
	case FormatCSV:
		cw := csv.NewWriter(bw)
		cw.UseCRLF = true // RFC 4180
		return &csvEncoder{w: cw, bw: bw}, nil
	case FormatNDJSON:
		return &jsonLines{bw: bw, enc: json.NewEncoder(bw), conv: func(e audit.Event) any { return RowOf(e) }}, nil
	case FormatFHIRNDJSON:
		return &jsonLines{bw: bw, enc: json.NewEncoder(bw), conv: func(e audit.Event) any { return FHIRAuditEvent(e, obs) }}, nil
	case FormatFHIR:
		return &bundleEncoder{bw: bw, obs: obs}, nil
	}
	_, err := ParseFormat(string(f))
	return nil, err
}

type csvEncoder struct {
	w      *csv.Writer
	bw     *bufio.Writer
	header bool
}

func (c *csvEncoder) Write(e audit.Event) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	return c.w.Write(RowOf(e).csvFields())
}

func (c *csvEncoder) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	return c.w.Write(Columns)
}

func (c *csvEncoder) Close() error {
	if err := c.writeHeader(); err != nil { // an empty export still has its header
		return err
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

type jsonLines struct {
	bw   *bufio.Writer
	enc  *json.Encoder
	conv func(audit.Event) any
}

func (j *jsonLines) Write(e audit.Event) error { return j.enc.Encode(j.conv(e)) }
func (j *jsonLines) Close() error              { return j.bw.Flush() }

// bundleEncoder streams a FHIR Bundle: the opening is written before the
// first entry and the closing after the last, so the Bundle is never held
// in memory.
type bundleEncoder struct {
	bw    *bufio.Writer
	obs   Observer
	n     int
	begun bool
}

func (b *bundleEncoder) begin() error {
	if b.begun {
		return nil
	}
	b.begun = true
	_, err := fmt.Fprintf(b.bw, `{"resourceType":"Bundle","type":"collection","timestamp":%q,"entry":[`,
		time.Now().UTC().Format(time.RFC3339))
	return err
}

func (b *bundleEncoder) Write(e audit.Event) error {
	if err := b.begin(); err != nil {
		return err
	}
	if b.n > 0 {
		if err := b.bw.WriteByte(','); err != nil {
			return err
		}
	}
	b.n++
	raw, err := json.Marshal(map[string]any{"fullUrl": "urn:carecrest:audit:" + e.ID, "resource": FHIRAuditEvent(e, b.obs)})
	if err != nil {
		return err
	}
	_, err = b.bw.Write(raw)
	return err
}

func (b *bundleEncoder) Close() error {
	if err := b.begin(); err != nil {
		return err
	}
	if _, err := b.bw.WriteString("]}\n"); err != nil {
		return err
	}
	return b.bw.Flush()
}

// Export writes every event f selects to enc, oldest first, a page at a
// time, and closes enc. It returns how many events it wrote. The caller
// governs and audits the export before calling it.
func Export(ctx context.Context, q audit.Querier, f audit.Filter, enc Encoder) (int, error) {
	n := 0
	err := Each(ctx, q, f, func(e audit.Event) error {
		n++
		return enc.Write(e)
	})
	if err != nil {
		return n, err
	}
	return n, enc.Close()
}
