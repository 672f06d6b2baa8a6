// Package route discloses stored records to subscriber systems (the
// CareCrest app, the regional HIE, billing, ...) over Kafka topics
// hub.out.<subscriber>. Every disclosure passes the same policy and consent
// decision as a read (action "route", the subscriber as subject), carries
// only the elements the decision allows, and is audited as a disclosure.
//
// A Router only plans: Plan turns a batch of durably stored records into
// the audit events and the outbound messages of that batch and has no side
// effect. The caller (the ingest pipeline, after its durable commit) must
// then, in this order:
//
//  1. append Plan.Events durably to the audit log (audit.Appender, with a
//     bounded context detached from cancellation). No audit, no
//     disclosure: if the append fails, write nothing and retry the batch;
//  2. write Plan.Messages with RequiredAcks = all (kafka.RequireAll), a
//     key-hashing balancer (so one patient's messages stay on one partition,
//     in order) and no topic set on the writer (each message names its own);
//  3. only then commit the source offsets.
//
// On any failure the caller retries the whole batch, planning it again:
// audit events carry idempotency keys ("r|" or "rd|", subscriber, record
// key), so a retried or redelivered batch is audited once, while a
// subscriber may receive a message twice and must dedupe by its
// hub-record-id header (hub-bundle-id for subscribers of Bundles). Because
// the audit comes first, the log may show a disclosure whose message was
// never written (a failure between steps 1 and 2 followed by a changed
// decision); it never misses one that was.
//
// Plan must be given every record of the batch, including those the store
// skipped as duplicates: a crash after the store commit and before routing
// is recovered only by routing the redelivered batch.
package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
	"github.com/segmentio/kafka-go"
)

// Opener decrypts selected PHI elements of a sealed record (phi.Sealer).
//
// Contract: Open returns the record's clear elements plus the requested PHI
// elements, decrypted; elements nil or empty means none. It never returns
// elements that were not requested.
type Opener interface {
	Open(ctx context.Context, s *record.Sealed, elements []string) (map[string]any, error)
}

// Deps are the Router's collaborators. Decider, Consents and Opener are
// required.
type Deps struct {
	Decider  policy.Decider
	Consents store.ConsentReader
	Opener   Opener
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default discards
}

// Router plans the routing of stored records to subscribers. It is safe
// for concurrent use.
type Router struct {
	subs []Subscriber
	deps Deps
}

// Plan is what one batch discloses: the audit events to append first, then
// the messages to write.
type Plan struct {
	Messages []kafka.Message
	Events   []audit.Event
}

// Message headers of every outbound message.
const (
	HeaderContentType = "content-type"  // always ContentFHIRJSON
	HeaderRecordID    = "hub-record-id" // the hub record id; subscribers dedupe on it
	HeaderPurpose     = "hub-purpose"   // the purpose of use of the disclosure
	ContentFHIRJSON   = "application/fhir+json"
)

// New returns a Router for cfg's subscribers.
func New(cfg Config, d Deps) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Decider == nil || d.Consents == nil || d.Opener == nil {
		return nil, errors.New("route: decider, consent reader and opener are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Subscribers = slices.Clone(cfg.Subscribers) // Defaults must not touch the caller's
	cfg.Defaults()
	subs := make([]Subscriber, len(cfg.Subscribers))
	for i, s := range cfg.Subscribers {
		s.Roles = slices.Clone(s.Roles)
		s.Types = slices.Clone(s.Types)
		s.Sources = slices.Clone(s.Sources)
		subs[i] = s
	}
	return &Router{subs: subs, deps: d}, nil
}

// Topics returns the configured subscribers' topics, for creating
// them and for health checks.
func (r *Router) Topics() []string {
	out := make([]string, len(r.subs))
	for i, s := range r.subs {
		out[i] = s.Topic()
	}
	return out
}

// decisionKey caches decisions within one Plan.
type decisionKey struct{ sub, patient, typ, labels string }

// Plan decides, for every record and every subscriber that takes its type
// (and source), whether the record may be disclosed to it; it returns one
// CodeRouted event per disclosure and one CodeRouteDeny event per denial,
// and the messages: one per disclosure for FormatResource subscribers, one
// Bundle per source message and patient for FormatBundle subscribers (see
// bundleGroup), placed where the message's first disclosed record is.
// Messages keep the order of recs.
//
// A policy evaluation error is a deny. An error loading consents or opening
// a record is returned and the plan discarded: nothing of the batch may be
// routed, and the caller retries it. Plan does not modify recs.
func (r *Router) Plan(ctx context.Context, recs []record.Sealed) (Plan, error) {
	now := r.deps.Now().UTC()
	var (
		plan     Plan
		consents = map[string][]consent.Directive{}
		decided  = map[decisionKey]policy.Decision{}
		groups   = map[groupKey]*bundleGroup{}
		slots    []slot // the messages in order; a bundle is encoded last
	)
	for i := range recs {
		s := &recs[i]
		for _, sub := range r.subs {
			if !sub.wants(s.Type, s.Source) {
				continue
			}
			if s.PatientID == "" || s.Key == "" || s.ID == "" {
				// Cannot happen for stored records; never route what cannot
				// be keyed to a patient and audited idempotently.
				d := policy.Decision{Reasons: []string{"record has no patient, id or key"}}
				plan.Events = append(plan.Events, event(sub, s, d, nil, nil, now))
				continue
			}
			in, ok := consents[s.PatientID]
			if !ok {
				var err error
				if in, err = r.inForce(ctx, s.PatientID, now); err != nil {
					return Plan{}, err
				}
				consents[s.PatientID] = in
			}
			k := decisionKey{sub.Name, s.PatientID, s.Type, labelKey(s.Labels)}
			d, ok := decided[k]
			if !ok {
				var err error
				if d, err = r.decide(ctx, sub, s, in, now); err != nil {
					return Plan{}, err
				}
				decided[k] = d
			}
			if !d.Allow {
				plan.Events = append(plan.Events, event(sub, s, d, nil, nil, now))
				continue
			}
			show, hide := split(s, d)
			data, err := r.deps.Opener.Open(ctx, s, show)
			if err != nil {
				return Plan{}, fmt.Errorf("route: open %s record %s for %s: %w", s.Type, s.ID, sub.Name, err)
			}
			res := resource(s, data, show, hide)
			if sub.Format == FormatBundle {
				k := groupKey{sub.Name, s.PatientID, s.Source, s.MessageID}
				g := groups[k]
				if g == nil {
					g = &bundleGroup{sub: sub, patient: s.PatientID}
					groups[k] = g
					slots = append(slots, slot{group: g})
				}
				g.entries = append(g.entries, bundleEntry{rec: s, res: res, event: len(plan.Events)})
				plan.Events = append(plan.Events, event(sub, s, d, show, hide, now))
				continue
			}
			msg, err := message(sub, s, res)
			if err != nil {
				return Plan{}, err
			}
			slots = append(slots, slot{msg: msg})
			plan.Events = append(plan.Events, event(sub, s, d, show, hide, now))
		}
	}
	for _, sl := range slots {
		if sl.group == nil {
			plan.Messages = append(plan.Messages, sl.msg)
			continue
		}
		msgs, err := sl.group.messages(&plan, now)
		if err != nil {
			return Plan{}, err
		}
		plan.Messages = append(plan.Messages, msgs...)
	}
	return plan, nil
}

// slot is one outbound message of a plan, or the Bundle(s) of a group.
type slot struct {
	msg   kafka.Message
	group *bundleGroup
}

// decide asks policy whether s may be routed to sub. An evaluation error is
// a deny, unless ctx is done: then the batch is abandoned, not denied.
func (r *Router) decide(ctx context.Context, sub Subscriber, s *record.Sealed, in []consent.Directive, now time.Time) (policy.Decision, error) {
	d, err := r.deps.Decider.Decide(ctx, policy.Input{
		Action: policy.ActionRoute,
		Subject: policy.Subject{
			ID: sub.Name, Kind: sub.Kind, Roles: sub.Roles, Org: sub.Org, Purpose: sub.Purpose,
		},
		PatientID:  s.PatientID,
		RecordType: s.Type,
		Labels:     s.Labels,
		Consents:   in,
		Now:        now,
	})
	if err != nil {
		if ctx.Err() != nil {
			return policy.Decision{}, fmt.Errorf("route: decide: %w", ctx.Err())
		}
		r.deps.Logger.Warn("route: policy evaluation failed; denying", "subscriber", sub.Name, "record_type", s.Type, "err", err)
		return policy.Decision{Reasons: []string{policy.ReasonEvalError}, Revision: d.Revision}, nil
	}
	return d, nil
}

// inForce returns the patient's consent directives in force at now.
func (r *Router) inForce(ctx context.Context, patientID string, now time.Time) ([]consent.Directive, error) {
	all, err := r.deps.Consents.Consents(ctx, patientID)
	if err != nil {
		return nil, fmt.Errorf("route: load consents: %w", err)
	}
	return consent.InForce(all, now), nil
}

// split divides the record's PHI elements into those d allows (to open and
// send) and those it masks, each sorted.
func split(s *record.Sealed, d policy.Decision) (show, hide []string) {
	for _, el := range s.FieldNames() {
		if d.AllowsField(el) {
			show = append(show, el)
		} else {
			hide = append(hide, el)
		}
	}
	slices.Sort(show)
	slices.Sort(hide)
	return show, hide
}

// event audits one routing decision for one record. It names elements,
// never their values.
func event(sub Subscriber, s *record.Sealed, d policy.Decision, disclosed, masked []string, now time.Time) audit.Event {
	e := audit.Event{
		Time: now, Code: audit.CodeRouted, Action: policy.ActionRoute, Outcome: audit.OutcomeAllow,
		ActorID: sub.Name, ActorRoles: slices.Clone(sub.Roles), ActorOrg: sub.Org,
		Application: sub.Topic(), Purpose: sub.Purpose,
		PatientID: s.PatientID, RecordType: s.Type, RecordIDs: []string{s.ID},
		Disclosed: disclosed, Masked: masked,
		PolicyRevision: d.Revision, Rules: d.Rules, Consents: d.Consents,
		Key: "r|" + sub.Name + "|" + s.Key,
	}
	if d.Allow {
		if part2(s.Labels) {
			e.Reason = "42 CFR part 2 redisclosure notice attached"
		}
		return e
	}
	e.Code, e.Outcome = audit.CodeRouteDeny, audit.OutcomeDeny
	e.Disclosed, e.Masked = nil, nil
	e.Reason = strings.Join(d.Reasons, "; ")
	if e.Reason == "" {
		e.Reason = policy.ReasonUndefined
	}
	e.Key = "rd|" + sub.Name + "|" + s.Key
	if s.Key == "" {
		e.Key = "" // a keyless record must not collide with another's event
	}
	return e
}

// labelKey is the cache key of a label set, independent of order.
func labelKey(labels []string) string {
	l := slices.Clone(labels)
	slices.Sort(l)
	return strings.Join(slices.Compact(l), ",")
}
