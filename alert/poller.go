package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/carecrest/hub/audit"
)

// pollCodes are the audit codes the rules look at.
var pollCodes = []string{audit.CodeRecordRead, audit.CodeRecordReadDeny, audit.CodeBreakGlass}

// Poller tails the audit log for the engine. Each poll re-reads Overlap of
// the log behind the newest event time it has seen (events other instances
// commit late), pages through by event id, and lets the engine skip what it
// has seen. An event committed more than Overlap after its own time is
// missed by the poller (the in-process feed of its instance still sees it).
type Poller struct {
	Querier  audit.Querier
	Engine   *Engine
	Interval time.Duration
	Overlap  time.Duration
	Now      func() time.Time

	cursor time.Time
}

// NewPoller returns a poller for e with e's poll configuration, starting
// Backfill ago.
func NewPoller(q audit.Querier, e *Engine) *Poller {
	c := e.Config().Poll
	p := &Poller{Querier: q, Engine: e, Interval: c.Interval, Overlap: c.Overlap, Now: time.Now}
	p.cursor = p.Now().Add(-c.Backfill)
	return p
}

// Start sets where the next poll starts.
func (p *Poller) Start(t time.Time) { p.cursor = t }

// Poll reads what is new and observes it; it returns how many events it
// read (seen ones included).
func (p *Poller) Poll(ctx context.Context) (int, error) {
	const page = 10_000
	f := audit.Filter{Codes: pollCodes, From: p.cursor.Add(-p.Overlap), Limit: page}
	n := 0
	newest := p.cursor
	for {
		evs, err := p.Querier.Query(ctx, f)
		if err != nil {
			return n, fmt.Errorf("alert: poll: %w", err)
		}
		n += len(evs)
		if err := p.Engine.Observe(ctx, evs); err != nil {
			return n, err
		}
		for _, e := range evs {
			if e.Time.After(newest) {
				newest = e.Time
			}
		}
		if len(evs) < page {
			break
		}
		f.After = evs[len(evs)-1].ID
	}
	p.cursor = newest
	return n, nil
}

// Run polls every Interval until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if _, err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.Engine.deps.Logger.Warn("alert: poll failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
