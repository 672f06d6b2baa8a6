package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
	"github.com/carecrest/hub/store"
	"github.com/segmentio/kafka-go"
)

// Config tunes the pipeline.
type Config struct {
	BatchSize       int           `yaml:"batch_size"`        // messages per batch (at most)
	BatchWait       time.Duration `yaml:"batch_wait"`        // how long a batch waits to fill
	RetryMin        time.Duration `yaml:"retry_min"`         // first backoff after a failed batch
	RetryMax        time.Duration `yaml:"retry_max"`         // longest backoff
	DeadLetterTopic string        `yaml:"dead_letter_topic"` // where rejected messages go
	Workers         int           `yaml:"workers"`           // decode/seal parallelism (0 = GOMAXPROCS)
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.BatchWait == 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = "hub.deadletter"
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 1 || c.BatchSize > 100_000:
		return fmt.Errorf("ingest: batch_size %d out of range 1..100000", c.BatchSize)
	case c.BatchWait <= 0:
		return errors.New("ingest: batch_wait must be positive")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return errors.New("ingest: need 0 < retry_min <= retry_max")
	}
	return nil
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Decode   DecodeFunc
	Resolver Resolver
	// Index records merges, care relationships and demographic match keys
	// (see merge.go). When nil, the Resolver is used if it implements
	// PatientIndex (mpi.Index does); without one, merge messages are
	// rejected and no relationships are recorded (so policy finds none).
	Index      PatientIndex
	Decider    policy.Decider
	Sealer     Sealer
	Store      store.Committer
	DeadLetter Sink
	Logger     *slog.Logger
	Now        func() time.Time
	Observer   Observer // optional
	// Label, when set, adds sensitivity labels to decoded records from
	// their codes (labels.Labeler.Apply); policy decides on them.
	Label func([]record.Record)
	// Router, when set, routes the batch's records to subscribers after the
	// durable commit: its audit events go to Audit first (no audit, no
	// disclosure), then its messages to Outbound (acks from all replicas),
	// and only then may offsets be committed.
	Router   Router
	Audit    audit.Appender
	Outbound Sink
}

// Router plans disclosures of stored records to subscribers (route.Router).
type Router interface {
	Plan(ctx context.Context, recs []record.Sealed) (route.Plan, error)
}

// Pipeline processes batches of inbound messages. It is safe to run one
// Pipeline per consumer; Process itself is not meant to run concurrently
// with itself on the same partitions.
type Pipeline struct {
	cfg Config
	Deps

	// afterStore, when set (tests), runs after the durable commit and before
	// offsets are committed: the window a crash test aims at.
	afterStore func()
}

// New returns a pipeline.
func New(cfg Config, d Deps) (*Pipeline, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Decode == nil || d.Resolver == nil || d.Decider == nil || d.Sealer == nil || d.Store == nil || d.DeadLetter == nil {
		return nil, errors.New("ingest: decode, resolver, decider, sealer, store and dead letter are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Observer == nil {
		d.Observer = noObserver{}
	}
	if d.Index == nil {
		d.Index, _ = d.Resolver.(PatientIndex)
	}
	if d.Router != nil && (d.Audit == nil || d.Outbound == nil) {
		return nil, errors.New("ingest: a router needs an audit appender and an outbound sink")
	}
	return &Pipeline{cfg: cfg, Deps: d}, nil
}

// errDeadLetter marks a failure to write to the dead-letter topic.
var errDeadLetter = errors.New("ingest: write dead letters")

// Stats counts what one batch did.
type Stats struct {
	Messages   int
	Records    int // newly stored
	Duplicates int // already stored (redelivery)
	Rejected   int // dead-lettered messages
}

// item is one message on its way through a batch.
type item struct {
	msg      kafka.Message
	source   string
	recs     []record.Record
	sealed   []record.Sealed
	consents []store.ConsentVersion
	events   []audit.Event
	allowed  map[string]policy.Decision // write decision per record type
	merges   []*mergeReq                // merges the message asks for
	facts    mpi.Facts                  // what the records teach the patient index

	// rejection, when set, sends the message to the dead-letter topic.
	reject     string // reason, free of PHI
	rejectCode string // audit code
}

func (it *item) fail(code, reason string) {
	if it.reject == "" {
		it.reject, it.rejectCode = reason, code
	}
}

// transient reports errors that must not reject a message: the batch is
// retried instead (store, audit log or key manager unavailable).
func transient(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, audit.ErrUnavailable) ||
		errors.Is(err, keys.ErrUnavailable) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// Process runs one batch to durability. It returns nil only when every
// message is either stored with its audit events or dead-lettered with an
// audited reason, so the caller may commit the batch's offsets. On error the
// caller retries the same batch.
func (p *Pipeline) Process(ctx context.Context, msgs []kafka.Message) (Stats, error) {
	now := p.Now().UTC()
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		items[i] = &item{msg: m, source: SourceOf(m.Topic)}
	}
	p.parallel(items, func(it *item) { p.decode(it, now) })

	if err := p.link(ctx, items); err != nil {
		return Stats{}, err
	}
	if err := p.decide(ctx, items, now); err != nil {
		return Stats{}, err
	}
	if err := p.planMerges(ctx, items); err != nil {
		return Stats{}, err
	}
	var owners []string
	for _, it := range items {
		if it.reject == "" {
			for i := range it.recs {
				owners = append(owners, it.recs[i].PatientID)
			}
		}
	}
	if err := p.Sealer.Prepare(ctx, owners); err != nil {
		return Stats{}, fmt.Errorf("ingest: data keys: %w", err)
	}
	var sealErr error
	var errMu sync.Mutex
	p.parallel(items, func(it *item) {
		if err := p.seal(ctx, it); err != nil {
			errMu.Lock()
			sealErr = err
			errMu.Unlock()
		}
	})
	if sealErr != nil {
		return Stats{}, sealErr
	}

	var b store.Batch
	var dead []kafka.Message
	st := Stats{Messages: len(msgs)}
	for _, it := range items {
		if it.reject != "" {
			dl, err := p.deadLetter(ctx, it, now)
			if err != nil {
				return Stats{}, err
			}
			dead = append(dead, dl)
			b.Events = append(b.Events, p.rejectEvent(it, now))
			st.Rejected++
			continue
		}
		b.Records = append(b.Records, it.sealed...)
		b.Consents = append(b.Consents, it.consents...)
		b.Events = append(b.Events, it.events...)
	}
	if len(dead) > 0 {
		if err := p.DeadLetter.WriteMessages(ctx, dead...); err != nil {
			return Stats{}, fmt.Errorf("%w: %w", errDeadLetter, err)
		}
	}
	res, err := p.Store.Commit(ctx, b)
	if err != nil {
		return Stats{}, err
	}
	st.Records, st.Duplicates = res.Records, res.Duplicates
	// The merges' audit events are durable: the merges may take effect.
	if err := p.applyMerges(ctx, items); err != nil {
		return Stats{}, err
	}
	if err := p.putFacts(ctx, items); err != nil {
		return Stats{}, err
	}
	if err := p.route(ctx, b.Records); err != nil {
		return Stats{}, err
	}
	for _, it := range items {
		if it.reject != "" {
			p.Observer.IngestMessages(it.source, "rejected", 1)
			p.Observer.DeadLetter(it.rejectCode)
		} else {
			p.Observer.IngestMessages(it.source, "stored", 1)
		}
	}
	if p.afterStore != nil {
		p.afterStore()
	}
	return st, nil
}

// route discloses the batch's records to subscribers. Every record is
// routed, duplicates included: that is how a crash after the commit but
// before routing is recovered on redelivery (audit keys make the events
// idempotent; subscribers dedupe messages by hub-record-id).
func (p *Pipeline) route(ctx context.Context, recs []record.Sealed) error {
	if p.Router == nil || len(recs) == 0 {
		return nil
	}
	plan, err := p.Router.Plan(ctx, recs)
	if err != nil {
		return fmt.Errorf("ingest: route: %w", err)
	}
	if len(plan.Events) > 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := p.Audit.Append(actx, plan.Events)
		cancel()
		if err != nil {
			return fmt.Errorf("ingest: audit routing: %w", err)
		}
	}
	if len(plan.Messages) > 0 {
		if err := p.Outbound.WriteMessages(ctx, plan.Messages...); err != nil {
			return fmt.Errorf("ingest: publish routed records: %w", err)
		}
	}
	return nil
}

// parallel runs fn over items on the configured number of workers.
func (p *Pipeline) parallel(items []*item, fn func(*item)) {
	if len(items) < 4 || p.cfg.Workers <= 1 {
		for _, it := range items {
			fn(it)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan *item)
	for range min(p.cfg.Workers, len(items)) {
		wg.Go(func() {
			for it := range next {
				fn(it)
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}

func (p *Pipeline) decode(it *item, now time.Time) {
	if it.source == "" {
		it.fail(audit.CodeIngestRejected, fmt.Sprintf("topic %q is not an inbound topic (want %s<system>)", it.msg.Topic, TopicPrefix))
		return
	}
	ct := contentType(it.msg)
	recs, err := p.Decode(ct, it.source, it.msg.Value, now)
	if err != nil {
		it.fail(audit.CodeIngestRejected, err.Error())
		return
	}
	if len(recs) == 0 {
		it.fail(audit.CodeIngestRejected, "message holds no patient data")
		return
	}
	for i := range recs {
		if len(recs[i].Subject) == 0 {
			it.fail(audit.CodeIngestRejected, fmt.Sprintf("%s record %d names no patient identifier", recs[i].Type, i))
			return
		}
	}
	if p.Label != nil {
		p.Label(recs)
	}
	it.recs = recs
}

// link resolves every record's patient in one index call.
func (p *Pipeline) link(ctx context.Context, items []*item) error {
	var subjects [][]record.Identifier
	for _, it := range items {
		if it.reject != "" {
			continue
		}
		for i := range it.recs {
			subjects = append(subjects, it.recs[i].Subject)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	ids, err := p.Resolver.ResolveAll(ctx, subjects)
	if err != nil {
		return fmt.Errorf("ingest: link patients: %w", err)
	}
	n := 0
	for _, it := range items {
		if it.reject != "" {
			continue
		}
		for i := range it.recs {
			it.recs[i].PatientID = ids[n]
			n++
		}
	}
	return nil
}

// decide asks policy whether each message's source may write each of its
// record types. One denied record rejects the whole message: a message is
// accepted or rejected as a unit.
func (p *Pipeline) decide(ctx context.Context, items []*item, now time.Time) error {
	type key struct{ source, typ, labels string }
	cache := map[key]policy.Decision{}
	for _, it := range items {
		if it.reject != "" {
			continue
		}
		for i := range it.recs {
			r := &it.recs[i]
			k := key{it.source, r.Type, strings.Join(r.Labels, ",")}
			d, ok := cache[k]
			if !ok {
				var err error
				d, err = p.Decider.Decide(ctx, policy.Input{
					Action:     policy.ActionWrite,
					Subject:    policy.Subject{ID: it.source, Kind: "system", Roles: []string{"source-system"}},
					PatientID:  r.PatientID,
					RecordType: r.Type,
					Labels:     r.Labels,
					Now:        now,
				})
				if err != nil && ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					d = policy.Decision{Reasons: []string{"policy evaluation failed"}, Revision: d.Revision}
				}
				cache[k] = d
			}
			if !d.Allow {
				reason := fmt.Sprintf("policy denies source %s writing %s", it.source, r.Type)
				if len(d.Reasons) > 0 {
					reason += ": " + strings.Join(d.Reasons, "; ")
				}
				it.fail(audit.CodeRecordWriteDeny, reason)
				it.events = []audit.Event{{Rules: d.Rules, PolicyRevision: d.Revision, PatientID: r.PatientID, RecordType: r.Type}}
				break
			}
			if it.allowed == nil {
				it.allowed = map[string]policy.Decision{}
			}
			it.allowed[r.Type] = d
		}
	}
	return nil
}

// seal prepares and encrypts an accepted message's records. Errors returned
// are transient; permanent problems reject the message.
func (p *Pipeline) seal(ctx context.Context, it *item) error {
	if it.reject != "" {
		return nil
	}
	it.sealed = make([]record.Sealed, 0, len(it.recs))
	for i := range it.recs {
		r := &it.recs[i]
		r.Resource["id"] = r.ID
		if ref := patientRefElement(r.Type); ref != "" {
			r.Resource[ref] = map[string]any{"reference": "Patient/" + r.PatientID}
		}
		if r.Type == "Consent" {
			d, err := consent.FromFHIR(r.Resource, r.PatientID, it.source, r.Received)
			if err != nil {
				it.fail(audit.CodeIngestRejected, "invalid Consent: "+err.Error())
				return nil
			}
			d.ID = ConsentID(it.source, r)
			it.consents = append(it.consents, store.ConsentVersion{Key: r.Key, Directive: d})
			it.events = append(it.events, consentEvent(it, r, d))
		}
		factsOf(r, &it.facts)
		s, err := p.Sealer.Seal(ctx, r)
		if err != nil {
			if transient(err) {
				return fmt.Errorf("ingest: seal: %w", err)
			}
			it.fail(audit.CodeIngestRejected, "cannot encrypt record: "+err.Error())
			return nil
		}
		it.sealed = append(it.sealed, s)
	}
	it.events = append(it.events, writeEvents(it, it.recs[0].Received)...)
	it.events = append(it.events, mergeEvents(it)...)
	return nil
}

// writeEvents audits an accepted message: one event per patient and record
// type, naming the records and the PHI elements written. Its key makes it
// idempotent under redelivery.
func writeEvents(it *item, now time.Time) []audit.Event {
	type group struct{ patient, typ string }
	var order []group
	byGroup := map[group]*audit.Event{}
	for i := range it.sealed {
		s := &it.sealed[i]
		g := group{s.PatientID, s.Type}
		e, ok := byGroup[g]
		if !ok {
			d := it.allowed[s.Type]
			e = &audit.Event{
				Time: now, Code: audit.CodeRecordWrite, Action: audit.ActionWrite, Outcome: audit.OutcomeAllow,
				ActorID: it.source, ActorRoles: []string{"source-system"}, Application: it.msg.Topic,
				PatientID: s.PatientID, RecordType: s.Type,
				PolicyRevision: d.Revision, Rules: d.Rules, RequestID: requestID(it.msg),
				Key: "w|" + s.Key,
			}
			byGroup[g] = e
			order = append(order, g)
		}
		e.RecordIDs = append(e.RecordIDs, s.ID)
		for el := range s.Fields {
			if !slices.Contains(e.Disclosed, el) {
				e.Disclosed = append(e.Disclosed, el)
			}
		}
	}
	out := make([]audit.Event, 0, len(order))
	for _, g := range order {
		e := byGroup[g]
		sort.Strings(e.Disclosed)
		out = append(out, *e)
	}
	return out
}

// ConsentID is the stable id of a consent directive across its versions,
// derived from the source system and the Consent's id at the source (as a
// digest: source ids can embed identifiers), or the record id when the
// source gave none.
func ConsentID(source string, r *record.Record) string {
	if r.SourceID != "" {
		return "consent:" + source + ":" + strings.TrimPrefix(phi.MessageDigest(source, "Consent/"+r.SourceID), "sha256:")
	}
	return "consent:" + r.ID
}

// patientRefElement names the element of an R4 resource type that
// references its patient; the pipeline writes the enterprise reference
// there. "" means the type has no single such element (Patient itself;
// Appointment and Schedule name patients among their participants, which
// stay encrypted as sent).
func patientRefElement(typ string) string {
	if el, ok := patientElements[typ]; ok {
		return el
	}
	return "subject"
}

var patientElements = map[string]string{
	"Patient": "", "Appointment": "", "AppointmentResponse": "", "Schedule": "", "Task": "",
	"AllergyIntolerance": "patient", "Immunization": "patient", "ImmunizationEvaluation": "patient",
	"ImmunizationRecommendation": "patient", "EpisodeOfCare": "patient", "FamilyMemberHistory": "patient",
	"Consent": "patient", "Claim": "patient", "ClaimResponse": "patient", "ExplanationOfBenefit": "patient",
	"RelatedPerson": "patient", "CoverageEligibilityRequest": "patient", "CoverageEligibilityResponse": "patient",
	"DetectedIssue": "patient", "VisionPrescription": "patient",
	"Coverage": "beneficiary",
}

// SourceOf returns the system name of an inbound topic (hub.in.lis → lis),
// or "" for any other topic.
func SourceOf(topic string) string {
	s, ok := strings.CutPrefix(topic, TopicPrefix)
	if !ok || s == "" || strings.ContainsAny(s, ". ") {
		return ""
	}
	return s
}

func requestID(m kafka.Message) string {
	return "kafka:" + m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
}

func consentEvent(it *item, r *record.Record, d consent.Directive) audit.Event {
	return audit.Event{
		Time: r.Received, Code: audit.CodeConsentChange, Action: audit.ActionConsent, Outcome: audit.OutcomeAllow,
		ActorID: it.source, ActorRoles: []string{"source-system"}, Application: it.msg.Topic,
		PatientID: r.PatientID, RecordType: "Consent", RecordIDs: []string{r.ID}, Consents: []string{d.ID},
		Reason:    fmt.Sprintf("consent %s: status %s, decision %s", d.ID, d.Status, d.Decision),
		RequestID: requestID(it.msg), Key: "c|" + r.Key,
	}
}

func (p *Pipeline) rejectEvent(it *item, now time.Time) audit.Event {
	e := audit.Event{}
	if it.rejectCode == audit.CodeRecordWriteDeny && len(it.events) > 0 {
		e = it.events[0] // carries the deciding rules and revision
	}
	e.Time, e.Code, e.Action, e.Outcome = now, it.rejectCode, audit.ActionReject, audit.OutcomeDeny
	if it.rejectCode == audit.CodeRecordWriteDeny {
		e.Action = audit.ActionWrite
	}
	e.ActorID, e.ActorRoles, e.Application = it.source, []string{"source-system"}, it.msg.Topic
	e.Reason, e.RequestID = it.reject, requestID(it.msg)
	e.Key = "x|" + requestID(it.msg)
	return e
}

// BatchSize is the most messages one batch holds.
func (p *Pipeline) BatchSize() int { return p.cfg.BatchSize }
