package alert_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/alert/alerttest"
	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
)

var month = sim.Generate(sim.Options{Seed: 42, Days: 21, Users: 150, Patients: 1200})

func newEngine(t testing.TB, m *sim.Month, cfg alert.Config, log audit.Appender, sinks ...alert.Sink) *alert.Engine {
	t.Helper()
	dir := m.Directory()
	e, err := alert.New(cfg, alert.Deps{Appender: log, Demographics: dir, Relationships: dir, Sinks: sinks,
		Now: func() time.Time { return m.End }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// observeAll feeds the month in batches, as the appender would.
func observeAll(t testing.TB, e *alert.Engine, events []audit.Event) {
	t.Helper()
	for i := 0; i < len(events); i += 500 {
		if err := e.Observe(context.Background(), events[i:min(i+500, len(events))]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEachIncidentRaisesExactlyItsAlert(t *testing.T) {
	log, sink := &alerttest.Log{}, &alerttest.Collect{}
	e := newEngine(t, month, alerttest.Config(month), log, sink)
	observeAll(t, e, month.Events)
	alerts := log.Alerts()
	t.Logf("%d events, %d incidents, %d alerts", len(month.Events), len(month.Incidents), len(alerts))
	for _, p := range alerttest.Mismatch(month, alerts) {
		t.Error(p)
	}
	if got := len(sink.Alerts()); got != len(alerts) {
		t.Errorf("sink got %d alerts, log recorded %d", got, len(alerts))
	}
	rules := map[string]bool{}
	for _, a := range alerts {
		rules[a.Rule] = true
	}
	for _, r := range alert.Rules {
		if !rules[r] {
			t.Errorf("rule %s never fired on the month", r)
		}
	}
}

func TestExplanationsCarryNoPHI(t *testing.T) {
	log := &alerttest.Log{}
	e := newEngine(t, month, alerttest.Config(month), log)
	observeAll(t, e, month.Events)
	var phi []string
	for _, s := range month.Roster {
		phi = append(phi, s.Surname, s.Address)
	}
	for _, p := range month.Patients {
		phi = append(phi, p.Surname, p.Address, strings.SplitN(p.MRN, "|", 2)[1])
	}
	for _, ev := range log.Events {
		for _, v := range phi {
			if strings.Contains(ev.Reason, v) {
				t.Fatalf("alert event %s quotes PHI", ev.RecordIDs)
			}
		}
	}
	for _, a := range log.Alerts() {
		if a.Text == "" || len(a.EventIDs) == 0 || a.ActorID == "" {
			t.Errorf("alert %s does not explain itself: %+v", a.ID, a)
		}
	}
}

func TestReplayAndTwoFeedsNeverDuplicate(t *testing.T) {
	log, sink := &alerttest.Log{}, &alerttest.Collect{}
	e := newEngine(t, month, alerttest.Config(month), log, sink)
	observeAll(t, e, month.Events)
	n := len(sink.Alerts())
	observeAll(t, e, month.Events) // the poller re-reading what the feed saw
	if got := len(sink.Alerts()); got != n {
		t.Errorf("replay sent %d more alerts", got-n)
	}
	// A second instance replaying the same log derives the same alert ids.
	log2 := &alerttest.Log{}
	e2 := newEngine(t, month, alerttest.Config(month), log2)
	observeAll(t, e2, month.Events)
	ids := func(as []alert.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(log.Alerts()), ids(log2.Alerts())) {
		t.Error("two engines over the same log raised different alert ids")
	}
}

func TestDisabledRuleDoesNotFire(t *testing.T) {
	for _, rule := range alert.Rules {
		t.Run(rule, func(t *testing.T) {
			cfg := alerttest.Config(month)
			off := false
			r := &cfg.Rules
			switch rule {
			case alert.RuleBreakGlass:
				r.BreakGlass.Enabled = &off
			case alert.RuleVIPAccess:
				r.VIPAccess.Enabled = &off
			case alert.RuleOwnRecord:
				r.OwnRecord.Enabled = &off
			case alert.RuleSharedDemographics:
				r.SharedDemographics.Enabled = &off
			case alert.RuleNoRelationship:
				r.NoRelationship.Enabled = &off
			case alert.RuleOffHours:
				r.OffHours.Enabled = &off
			case alert.RuleVolumeSpike:
				r.VolumeSpike.Enabled = &off
			case alert.RuleRepeatedDenials:
				r.RepeatedDenials.Enabled = &off
			case alert.RuleBulkExport:
				r.BulkExport.Enabled = &off
			}
			log := &alerttest.Log{}
			observeAll(t, newEngine(t, month, cfg, log), month.Events)
			for _, a := range log.Alerts() {
				if a.Rule == rule {
					t.Fatalf("disabled rule fired: %s", a.Text)
				}
			}
		})
	}
}

// TestThresholds checks the numbers: one event short of a threshold does
// not fire, the threshold does, once.
func TestThresholds(t *testing.T) {
	base := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	deny := func(i int) audit.Event {
		return audit.Event{ID: audit.NewID(base.Add(time.Duration(i) * time.Minute)), Time: base.Add(time.Duration(i) * time.Minute),
			Code: audit.CodeRecordReadDeny, Outcome: audit.OutcomeDeny, ActorID: "E1", ActorRoles: []string{"nurse"}, PatientID: "Px"}
	}
	read := func(i int, at time.Time) audit.Event {
		return audit.Event{ID: audit.NewID(at), Time: at, Code: audit.CodeRecordRead, Outcome: audit.OutcomeAllow,
			ActorID: "E2", ActorRoles: []string{"billing_clerk"}, Purpose: "HPAYMT", PatientID: "P" + strings.Repeat("a", i%7) + string(rune('a'+i/7%26)) + string(rune('a'+i/182))}
	}
	cfg := alert.Config{Enabled: true, Roster: []alert.Staff{{ID: "E2", UsualHours: [2]int{8, 17}}}}
	cfg.Defaults()
	run := func(events []audit.Event) []alert.Alert {
		log := &alerttest.Log{}
		e, err := alert.New(cfg, alert.Deps{Appender: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Observe(context.Background(), events); err != nil {
			t.Fatal(err)
		}
		return log.Alerts()
	}
	var four, five []audit.Event
	for i := range 5 {
		five = append(five, deny(i*2))
		if i < 4 {
			four = append(four, deny(i*2))
		}
	}
	if got := run(four); len(got) != 0 {
		t.Errorf("4 denials raised %v", got)
	}
	if got := run(append(five, deny(11))); len(got) != 1 || got[0].Rule != alert.RuleRepeatedDenials || len(got[0].EventIDs) != 5 {
		t.Errorf("5 denials in 10 minutes raised %+v, want one repeated-denials alert with 5 events", got)
	}
	var bulk []audit.Event
	for i := range 40 {
		bulk = append(bulk, read(i, base.Add(time.Duration(i)*20*time.Second)))
	}
	if got := run(bulk[:39]); len(got) != 0 {
		t.Errorf("39 patients in 13 minutes raised %v", got)
	}
	got := run(bulk)
	if len(got) != 1 || got[0].Rule != alert.RuleBulkExport || !strings.Contains(got[0].Text, "40 distinct patients") {
		t.Errorf("40 patients in 13 minutes raised %+v", got)
	}
	// Off hours with grace: 17:29 is inside the 30-minute grace, 17:31 not.
	late := func(h, m int) audit.Event {
		return read(1, time.Date(2026, 3, 2, h, m, 0, 0, time.UTC))
	}
	if got := run([]audit.Event{late(17, 29), late(7, 31)}); len(got) != 0 {
		t.Errorf("within grace raised %v", got)
	}
	if got := run([]audit.Event{late(17, 31), late(23, 0)}); len(got) != 1 || got[0].Rule != alert.RuleOffHours {
		t.Errorf("after hours raised %+v, want one off-hours alert a day", got)
	}
}

func TestUnrecordedAlertsAreRetriedNotSent(t *testing.T) {
	log, sink := &alerttest.Log{Fail: audit.ErrUnavailable}, &alerttest.Collect{}
	e := newEngine(t, month, alerttest.Config(month), log, sink)
	var bg []audit.Event
	for _, ev := range month.Events {
		if ev.Code == audit.CodeBreakGlass {
			bg = append(bg, ev)
		}
	}
	if err := e.Observe(context.Background(), bg); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Observe with the log down: %v", err)
	}
	if n := len(sink.Alerts()); n != 0 {
		t.Fatalf("%d alerts sent before they were recorded", n)
	}
	log.Fail = nil
	if err := e.Observe(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n, m := len(sink.Alerts()), len(log.Alerts()); n != 2 || m != 2 {
		t.Errorf("after recovery: %d sent, %d recorded; want the 2 break-glass alerts", n, m)
	}
}
