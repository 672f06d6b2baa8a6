// Package registry is the consent registry's service: FHIR R4 Consents in
// over GraphQL (recordConsent, withdrawConsent) and out over GraphQL
// (consents) and FHIR JSON (GET /fhir/Consent). Recording goes through the
// ingest pipeline, exactly as a Consent from Kafka does (decode, link, write
// policy, seal, one durable commit with its audit events); a withdrawal is a
// new version of the directive with status inactive, committed with its
// audit event. Every call is decided by policy (consent.write) and audited.
//
// Reads load consents from the store on every decision (query.Reader,
// route.Router): there is no consent cache, so a withdrawal is in force on
// every hub instance from its next decision after the commit.
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
	"github.com/segmentio/kafka-go"
)

// Source is the source-system name of consents recorded through the
// registry: their messages enter the pipeline as from topic
// hub.in.consent-registry, so the write policy must let source
// consent-registry write Consent (rego/data.json sources).
const Source = "consent-registry"

// MaxResource bounds a recorded Consent's JSON.
const MaxResource = 256 << 10

// Processor runs messages through the ingest pipeline to durability
// (ingest.Pipeline).
type Processor interface {
	Process(ctx context.Context, msgs []kafka.Message) (ingest.Stats, error)
}

// History reads every stored version of a patient's directives, oldest
// first in commit order, each idempotency key once (store/sqlite and
// store/clickhouse; conformance: storetest.ConsentHistoryReader).
type History interface {
	ConsentHistory(ctx context.Context, patientID string) ([]consent.Directive, error)
}

// Store is what the registry needs of the store.
type Store interface {
	store.Committer
	History
}

// Deps are the registry's collaborators.
type Deps struct {
	// Reader governs and audits (Govern, AppendAudit), resolves patients
	// (Index) and knows erasures (Erasures, optional).
	Reader   *query.Reader
	Pipeline Processor
	Store    Store
	Logger   *slog.Logger
	Now      func() time.Time
}

// Registry is the consent registry. It is safe for concurrent use.
type Registry struct {
	d   Deps
	seq atomic.Int64 // offsets of the registry's synthetic messages
}

var _ query.ConsentRegistry = (*Registry)(nil)

// New returns a registry.
func New(d Deps) (*Registry, error) {
	if d.Reader == nil || d.Reader.Index == nil || d.Pipeline == nil || d.Store == nil {
		return nil, errors.New("registry: a reader with a patient index, a pipeline and a store are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	r := &Registry{d: d}
	r.seq.Store(d.Now().UnixNano())
	return r, nil
}

// errRejected: the pipeline dead-lettered the message (its audit event has
// the reason).
var errRejected = query.BadRequest("the Consent was rejected by the ingest pipeline (dead-lettered); the audit log has the reason")

// Record records a FHIR R4 Consent (JSON) through the ingest pipeline. The
// Consent references its patient by a business identifier (as every source
// does); the patient must be known to the hub. A Consent without id gets
// one, and one without meta.versionId gets a digest of its content, so
// sending the same resource twice stores one version.
func (r *Registry) Record(ctx context.Context, c query.Caller, resource []byte) (query.ConsentVersion, error) {
	now := r.d.Now().UTC()
	payload, rec, d, err := r.prepare(resource, now)
	if err != nil {
		return query.ConsentVersion{}, err
	}
	patientID, err := r.patientOf(ctx, rec.Subject)
	if err != nil {
		return query.ConsentVersion{}, err
	}
	d.PatientID = patientID
	err = r.d.Reader.Govern(ctx, c, query.Governed{
		Action: query.ActionConsentWrite, Code: audit.CodeConsentChange, DenyCode: audit.CodeRecordWriteDeny,
		PatientID: patientID, RecordType: "Consent", RecordIDs: []string{rec.ID},
		Describe: fmt.Sprintf("record consent %s: status %s, decision %s", d.ID, d.Status, d.Decision),
	}, func(ctx context.Context) error {
		if patientID == "" {
			// Audits the miss (without the identifier) and says NOT_FOUND.
			_, err := r.d.Reader.LookupPatient(ctx, c, rec.Subject[0])
			if err == nil {
				err = query.ErrNotFound // linked meanwhile: ask again
			}
			return err
		}
		if err := r.notErased(ctx, patientID); err != nil {
			return err
		}
		off := r.seq.Add(1)
		st, err := r.d.Pipeline.Process(ctx, []kafka.Message{{
			Topic: ingest.TopicPrefix + Source, Partition: 0, Offset: off, Value: payload, Time: now,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentFHIRJSON)}},
		}})
		if err != nil {
			return fmt.Errorf("registry: ingest: %w", err)
		}
		if st.Rejected > 0 {
			return errRejected
		}
		return nil
	})
	if err != nil {
		return query.ConsentVersion{}, err
	}
	return r.version(ctx, d)
}

// prepare validates a Consent, gives it an id and a version id when it
// lacks them, and decodes it as the pipeline will.
func (r *Registry) prepare(resource []byte, now time.Time) ([]byte, record.Record, consent.Directive, error) {
	fail := func(msg string) ([]byte, record.Record, consent.Directive, error) {
		return nil, record.Record{}, consent.Directive{}, query.BadRequest(msg)
	}
	if len(resource) == 0 || len(resource) > MaxResource {
		return fail(fmt.Sprintf("resource must be a FHIR R4 Consent of at most %d bytes", MaxResource))
	}
	// The pipeline's decoder first: it bounds nesting and size, and its
	// errors name elements, never values.
	if _, err := decodeOne(resource, now); err != nil {
		return nil, record.Record{}, consent.Directive{}, err
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return fail("resource must be a FHIR JSON object")
	}
	if id, _ := obj["id"].(string); id == "" {
		obj["id"] = "cr-" + strings.ToLower(audit.NewID(now))
	}
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	if v, _ := meta["versionId"].(string); v == "" {
		content, _ := json.Marshal(obj) // map keys sorted: a canonical form
		sum := sha256.Sum256(content)
		meta["versionId"] = "h" + hex.EncodeToString(sum[:8])
		obj["meta"] = meta
	}
	payload, err := json.Marshal(obj)
	if err != nil {
		return fail("resource cannot be encoded")
	}
	rec, err := decodeOne(payload, now)
	if err != nil {
		return nil, record.Record{}, consent.Directive{}, err
	}
	d, err := consent.FromFHIR(rec.Resource, "", Source, now)
	if err != nil {
		return fail("invalid Consent: " + err.Error())
	}
	d.ID = ingest.ConsentID(Source, &rec)
	return payload, rec, d, nil
}

// decodeOne decodes payload as the pipeline does and requires exactly one
// Consent that names its patient.
func decodeOne(payload []byte, now time.Time) (record.Record, error) {
	if ct := ingest.Sniff(payload); ct != ingest.ContentFHIRJSON {
		return record.Record{}, query.BadRequest("resource must be FHIR R4 JSON with a resourceType")
	}
	recs, err := ingest.Decode(ingest.ContentFHIRJSON, Source, payload, now)
	if err != nil {
		return record.Record{}, query.BadRequest("invalid FHIR: " + err.Error())
	}
	if len(recs) != 1 || recs[0].Type != "Consent" {
		return record.Record{}, query.BadRequest("resource must be one FHIR R4 Consent (not a Bundle) that references its patient")
	}
	if len(recs[0].Subject) == 0 {
		return record.Record{}, query.BadRequest("Consent.patient must reference the patient by a business identifier")
	}
	return recs[0], nil
}

// patientOf finds the enterprise patient of a Consent's identifiers without
// creating one: "" when none is known.
func (r *Registry) patientOf(ctx context.Context, ids []record.Identifier) (string, error) {
	found := ""
	for _, id := range ids {
		p, ok, err := r.d.Reader.Index.Lookup(ctx, id)
		if err != nil {
			return "", fmt.Errorf("registry: patient lookup: %w", err)
		}
		if !ok {
			continue
		}
		if found != "" && p != found {
			return "", query.BadRequest("the Consent's patient identifiers name different patients")
		}
		found = p
	}
	return found, nil
}

func (r *Registry) notErased(ctx context.Context, patientID string) error {
	if r.d.Reader.Erasures == nil {
		return nil
	}
	at, erased, err := r.d.Reader.Erasures.ErasedAt(ctx, patientID)
	if err != nil {
		return fmt.Errorf("registry: erasure status: %w", err)
	}
	if erased {
		return &query.ErasedError{At: at}
	}
	return nil
}

// Withdraw withdraws a consent: a new version of the directive with status
// inactive, committed with its audit event (CodeConsentChange) in one
// durable transaction. Withdrawing an inactive consent changes nothing.
func (r *Registry) Withdraw(ctx context.Context, c query.Caller, patientID, consentID string) (query.ConsentVersion, error) {
	if err := validPatient(patientID); err != nil {
		return query.ConsentVersion{}, err
	}
	if err := validID("consentId", consentID); err != nil {
		return query.ConsentVersion{}, err
	}
	var out consent.Directive
	err := r.d.Reader.Govern(ctx, c, query.Governed{
		Action: query.ActionConsentWrite, Code: audit.CodeConsentChange, DenyCode: audit.CodeRecordWriteDeny,
		PatientID: patientID, RecordType: "Consent", Describe: "withdraw consent " + consentID,
	}, func(ctx context.Context) error {
		if err := r.notErased(ctx, patientID); err != nil {
			return err
		}
		all, err := r.d.Store.ConsentHistory(ctx, patientID)
		if err != nil {
			return fmt.Errorf("registry: load consents: %w", err)
		}
		var latest *consent.Directive
		for i := range all {
			if all[i].ID == consentID {
				latest = &all[i]
			}
		}
		if latest == nil {
			return query.ErrNotFound
		}
		if latest.Status == "inactive" {
			out = *latest
			return nil
		}
		now := r.d.Now().UTC()
		out = *latest
		out.Status, out.Recorded, out.Source = "inactive", now, Source
		key := "registry-withdraw|" + consentID + "|" + audit.NewID(now)
		_, err = r.d.Store.Commit(ctx, store.Batch{
			Consents: []store.ConsentVersion{{Key: key, Directive: out}},
			Events: []audit.Event{{
				Time: now, Code: audit.CodeConsentChange, Action: audit.ActionConsent, Outcome: audit.OutcomeAllow,
				ActorID: c.Subject.ID, ActorRoles: c.Subject.Roles, ActorOrg: c.Subject.Org,
				Application: c.Application, Purpose: c.Subject.Purpose,
				PatientID: patientID, RecordType: "Consent", Consents: []string{consentID},
				Reason:    fmt.Sprintf("consent %s: status inactive, decision %s (withdrawn)", consentID, out.Decision),
				RequestID: c.RequestID, Key: "c|" + key,
			}},
		})
		if err != nil {
			return fmt.Errorf("registry: commit withdrawal: %w", err)
		}
		return nil
	})
	if err != nil {
		return query.ConsentVersion{}, err
	}
	return r.version(ctx, out)
}

// Versions lists the patient's directives: the latest version of each, or
// with history every version, oldest first. Reviewing consents is part of
// managing them: decided by consent.write, audited as a read of Consent.
func (r *Registry) Versions(ctx context.Context, c query.Caller, patientID string, history bool) ([]query.ConsentVersion, error) {
	if err := validPatient(patientID); err != nil {
		return nil, err
	}
	var out []query.ConsentVersion
	err := r.d.Reader.Govern(ctx, c, query.Governed{
		Action: query.ActionConsentWrite, Code: audit.CodeRecordRead, DenyCode: audit.CodeRecordReadDeny,
		PatientID: patientID, RecordType: "Consent", Describe: fmt.Sprintf("consents history=%v", history),
	}, func(ctx context.Context) error {
		all, err := r.d.Store.ConsentHistory(ctx, patientID)
		if err != nil {
			return fmt.Errorf("registry: load consents: %w", err)
		}
		out = numbered(all, history)
		return nil
	})
	return out, err
}

// numbered numbers each directive's versions from 1 and returns them all,
// or only the latest of each (in the order of their latest version).
func numbered(all []consent.Directive, history bool) []query.ConsentVersion {
	n := map[string]int{}
	vs := make([]query.ConsentVersion, len(all))
	for i, d := range all {
		n[d.ID]++
		vs[i] = query.ConsentVersion{Directive: d, Version: n[d.ID]}
	}
	if history {
		return vs
	}
	var latest []query.ConsentVersion
	for _, v := range vs {
		if v.Version == n[v.ID] {
			latest = append(latest, v)
		}
	}
	return latest
}

// version returns d numbered as stored (the latest stored version of its
// id; d itself if the store has none, which cannot happen after a commit).
func (r *Registry) version(ctx context.Context, d consent.Directive) (query.ConsentVersion, error) {
	all, err := r.d.Store.ConsentHistory(ctx, d.PatientID)
	if err != nil {
		return query.ConsentVersion{}, fmt.Errorf("registry: load consents: %w", err)
	}
	for _, v := range numbered(all, false) {
		if v.ID == d.ID {
			return v, nil
		}
	}
	return query.ConsentVersion{Directive: d}, nil
}

// validID bounds an id argument (enterprise patient ids, directive ids):
// printable ASCII without spaces, at most 200 bytes.
func validID(what, id string) error {
	if id == "" || len(id) > 200 {
		return query.BadRequest(what + " is required (at most 200 characters)")
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return query.BadRequest(what + " must be printable ASCII without spaces")
		}
	}
	return nil
}

func validPatient(id string) error { return query.ValidPatientID(id) }
