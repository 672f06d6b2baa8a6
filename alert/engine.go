package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/metrics"
)

// EngineActor is the actor id of the audit events that record alerts.
const EngineActor = "carecrest-alerts"

// Audit actions of alert events.
const (
	ActionRaise     = "alert.raise"
	ActionManage    = "alert.manage" // policy action for reading, acknowledging and resolving alerts
	RecordTypeAlert = "Alert"
)

// Deps are the engine's collaborators.
type Deps struct {
	// Appender records alerts. It must be the hub's audit log itself, not
	// an Appender wrapping this engine.
	Appender      audit.Appender
	Demographics  Demographics  // nil: own-record and shared-demographics never fire
	Relationships Relationships // nil: no-relationship never fires, VIP care teams are not exempt
	Sinks         []Sink
	Logger        *slog.Logger
	Metrics       *metrics.Alerts
	Now           func() time.Time
}

// Engine runs the rules over audit events, records the alerts they raise
// and hands recorded alerts to the sinks. It is safe for concurrent use.
type Engine struct {
	cfg  Config
	deps Deps
	feed chan []audit.Event

	mu       sync.Mutex
	rules    *rules
	seen     map[string]time.Time // event id → event time
	raised   map[string]time.Time // alert id → access time
	inflight map[string]bool
	pending  []Alert // raised, not yet durably recorded
	horizon  time.Time

	recordMu sync.Mutex
}

// New returns an engine. cfg gets its defaults and is validated.
func New(cfg Config, d Deps) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Appender == nil {
		return nil, fmt.Errorf("alert: an audit appender is required (alerts are recorded before they are sent)")
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	roster, err := cfg.LoadRoster()
	if err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Engine{
		cfg: cfg, deps: d, feed: make(chan []audit.Event, max(1, cfg.Feed/100)),
		rules: newRules(cfg.Rules, loc, roster, d.Demographics, d.Relationships),
		seen:  map[string]time.Time{}, raised: map[string]time.Time{}, inflight: map[string]bool{},
	}, nil
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Observe runs the rules over events (in log order), durably records the
// alerts they raise and then hands them to the sinks. Events without an id,
// events seen before and alert events are skipped, so the same events may
// be observed from several feeds. When recording fails, the alerts are kept
// and retried on the next call, and the error is returned; nothing unrecorded
// reaches a sink.
func (e *Engine) Observe(ctx context.Context, events []audit.Event) error {
	e.mu.Lock()
	var fresh []Alert
	now := e.deps.Now()
	for i := range events {
		ev := &events[i]
		if ev.ID == "" || strings.HasPrefix(ev.Code, "CC80") {
			continue
		}
		if _, dup := e.seen[ev.ID]; dup {
			continue
		}
		e.seen[ev.ID] = ev.Time
		if ev.Time.After(e.horizon) {
			e.horizon = ev.Time
		}
		for _, a := range e.rules.observe(ctx, ev) {
			if _, done := e.raised[a.ID]; done || e.inflight[a.ID] {
				continue
			}
			e.inflight[a.ID] = true
			a.Raised = now
			fresh = append(fresh, a)
		}
	}
	todo := append(e.pending, fresh...)
	e.pending = nil
	e.prune()
	e.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}

	e.recordMu.Lock()
	err := e.record(ctx, todo)
	e.recordMu.Unlock()
	e.mu.Lock()
	if err != nil {
		e.pending = append(todo, e.pending...)
		e.mu.Unlock()
		e.deps.Logger.Error("alert: recording alerts failed; will retry", "alerts", len(todo), "err", err)
		return err
	}
	for _, a := range todo {
		delete(e.inflight, a.ID)
		e.raised[a.ID] = a.At
	}
	e.mu.Unlock()
	for _, a := range todo {
		e.deps.Metrics.AlertRaised(a.Rule)
		for _, s := range e.deps.Sinks {
			s.Deliver(a)
		}
	}
	return nil
}

// prune forgets seen events and raised alerts far behind the newest event
// time; the audit Key of an alert still keeps a late replay from recording
// it twice. Called with mu held.
func (e *Engine) prune() {
	if len(e.seen) < 200_000 {
		return
	}
	keep := e.horizon.Add(-max(10*time.Minute, 4*e.cfg.Poll.Overlap))
	for id, t := range e.seen {
		if t.Before(keep) {
			delete(e.seen, id)
		}
	}
	keepAlerts := e.horizon.Add(-48 * time.Hour)
	for id, t := range e.raised {
		if t.Before(keepAlerts) {
			delete(e.raised, id)
		}
	}
}

// record appends the alerts' audit events with a bounded context that the
// caller's cancellation does not cut short.
func (e *Engine) record(ctx context.Context, alerts []Alert) error {
	events := make([]audit.Event, len(alerts))
	for i, a := range alerts {
		events[i] = Event(a)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return e.deps.Appender.Append(ctx, events)
}

// Event is the audit event that records alert a.
func Event(a Alert) audit.Event {
	body, _ := json.Marshal(a)
	return audit.Event{
		Time: a.Raised, Code: audit.CodeAlert, Action: ActionRaise, Outcome: audit.OutcomeAllow,
		ActorID: EngineActor, ActorRoles: []string{"alert-engine"}, Application: EngineActor,
		PatientID: a.PatientID, RecordType: RecordTypeAlert, RecordIDs: []string{a.ID}, Rules: []string{a.Rule},
		Reason: string(body), Key: "alert|" + a.ID,
	}
}

// Feed queues events for the engine's Run loop without blocking; when the
// queue is full the events are left to the poller (and counted).
func (e *Engine) Feed(events []audit.Event) {
	select {
	case e.feed <- events:
	default:
		e.deps.Metrics.AlertFeedDropped(len(events))
	}
}

// Run observes fed events until ctx ends, retrying unrecorded alerts once a
// second.
func (e *Engine) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case evs := <-e.feed:
			_ = e.Observe(ctx, evs)
		case <-tick.C:
			e.mu.Lock()
			retry := len(e.pending) > 0
			e.mu.Unlock()
			if retry {
				_ = e.Observe(ctx, nil)
			}
		}
	}
}

// Prime marks the alerts recorded in the log since from as raised, so that
// a restarted engine does not send them to the sinks again.
func (e *Engine) Prime(ctx context.Context, q audit.Querier, from time.Time) error {
	f := audit.Filter{Codes: []string{audit.CodeAlert}, From: from, Limit: 10_000}
	for {
		evs, err := q.Query(ctx, f)
		if err != nil {
			return fmt.Errorf("alert: prime: %w", err)
		}
		e.mu.Lock()
		for _, ev := range evs {
			if a, ok := FromEvent(ev); ok {
				e.raised[a.ID] = a.At
			}
		}
		e.mu.Unlock()
		if len(evs) < f.Limit {
			return nil
		}
		f.After = evs[len(evs)-1].ID
	}
}

// Appender wraps the hub's audit appender: after a durable append it feeds
// the appended events to the engine. It gives events without an id or time
// theirs on a copy first, so the engine's evidence names the stored ids.
type Appender struct {
	Next   audit.Appender
	Engine *Engine
}

var _ audit.Appender = Appender{}

// Append implements audit.Appender with Next's contract.
func (a Appender) Append(ctx context.Context, events []audit.Event) error {
	cp := slices.Clone(events)
	now := time.Now()
	for i := range cp {
		if cp[i].Time.IsZero() {
			cp[i].Time = now
		}
		if cp[i].ID == "" {
			cp[i].ID = audit.NewID(cp[i].Time)
		}
	}
	if err := a.Next.Append(ctx, cp); err != nil {
		return err
	}
	a.Engine.Feed(cp)
	return nil
}
