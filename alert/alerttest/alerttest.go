// Package alerttest connects the simulated month (internal/sim) to the
// alert engine for tests: the roster and VIP list as alert configuration,
// an in-memory audit log, and the expected alerts of the planted incidents.
package alerttest

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
)

// Config returns an enabled alert configuration with m's roster and VIPs
// and the default thresholds.
func Config(m *sim.Month) alert.Config {
	cfg := alert.Config{Enabled: true, TimeZone: m.Location.String()}
	for _, s := range m.Roster {
		cfg.Roster = append(cfg.Roster, alert.Staff{
			ID: s.ID, Roles: s.Roles, Surname: s.Surname, Address: s.Address, OwnMRN: s.OwnMRN, UsualHours: s.UsualHours,
		})
	}
	cfg.Rules.VIPAccess.Patients = m.VIPs()
	cfg.Defaults()
	return cfg
}

// Log is an in-memory audit appender that keeps what it is given and
// skips events whose Key it already holds.
type Log struct {
	mu     sync.Mutex
	Events []audit.Event
	keys   map[string]bool
	Fail   error // when set, Append fails with it
}

// Append implements audit.Appender.
func (l *Log) Append(_ context.Context, events []audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Fail != nil {
		return l.Fail
	}
	if l.keys == nil {
		l.keys = map[string]bool{}
	}
	for _, e := range events {
		if e.Key != "" && l.keys[e.Key] {
			continue
		}
		l.keys[e.Key] = true
		l.Events = append(l.Events, e)
	}
	return nil
}

// Alerts decodes the alerts recorded in l.
func (l *Log) Alerts() []alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []alert.Alert
	for _, e := range l.Events {
		if a, ok := alert.FromEvent(e); ok {
			out = append(out, a)
		}
	}
	return out
}

// Collect is a sink that keeps what it is given.
type Collect struct {
	mu     sync.Mutex
	alerts []alert.Alert
	C      chan alert.Alert // when non-nil, each delivered alert is also sent here (non-blocking)
}

// Name implements alert.Sink.
func (c *Collect) Name() string { return "test" }

// Deliver implements alert.Sink.
func (c *Collect) Deliver(a alert.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
	if c.C != nil {
		select {
		case c.C <- a:
		default:
		}
	}
}

// Close implements alert.Sink.
func (c *Collect) Close(context.Context) error { return nil }

// Alerts returns what was delivered.
func (c *Collect) Alerts() []alert.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.alerts)
}

// Mismatch compares raised alerts with the month's incidents: each
// incident must be matched by exactly one alert of its rule, actor and
// patient whose evidence includes a planted event, and every alert must
// match an incident. It returns one line per problem.
func Mismatch(m *sim.Month, alerts []alert.Alert) []string {
	var problems []string
	used := make([]bool, len(alerts))
	for _, in := range m.Incidents {
		found := 0
		for i, a := range alerts {
			if a.Rule != in.Kind || a.ActorID != in.ActorID || a.PatientID != in.PatientID {
				continue
			}
			if !overlaps(a.EventIDs, in.EventIDs) {
				continue
			}
			used[i] = true
			found++
		}
		if found != 1 {
			problems = append(problems, "incident "+in.Kind+" by "+in.ActorID+" on "+in.PatientID+": "+strconv.Itoa(found)+" alerts, want 1")
		}
	}
	for i, a := range alerts {
		if !used[i] {
			problems = append(problems, "unexpected alert "+a.Rule+": "+a.Text)
		}
	}
	return problems
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
