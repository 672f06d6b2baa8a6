package alert_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/alert/alerttest"
	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/store/sqlite"
)

// benchDelay measures the delay from an access (its audit event's time) to
// the alert's delivery by a sink, end to end over a real SQLite audit log,
// and reports p50 and p99.
func benchDelay(b *testing.B, viaPoller bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "hub.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sink := &alerttest.Collect{C: make(chan alert.Alert, 16)}
	cfg := alert.Config{Enabled: true}
	e, err := alert.New(cfg, alert.Deps{Appender: st, Sinks: []alert.Sink{sink}})
	if err != nil {
		b.Fatal(err)
	}
	var app audit.Appender = alert.Appender{Next: st, Engine: e}
	if viaPoller {
		app = st
		p := alert.NewPoller(st, e) // default interval 500ms, overlap 5s
		go p.Run(ctx)
	} else {
		go e.Run(ctx)
	}
	var delays []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev := audit.Event{Time: time.Now(), Code: audit.CodeBreakGlass, Action: audit.ActionRead, Outcome: audit.OutcomeAllow,
			ActorID: "E1", ActorRoles: []string{"physician"}, Purpose: "ETREAT", PatientID: fmt.Sprintf("Pbench%d", i), RecordType: "Patient"}
		if err := app.Append(ctx, []audit.Event{ev}); err != nil {
			b.Fatal(err)
		}
		select {
		case a := <-sink.C:
			delays = append(delays, time.Since(a.At))
		case <-time.After(10 * time.Second):
			b.Fatal("no alert within 10s")
		}
	}
	b.StopTimer()
	slices.Sort(delays)
	q := func(p float64) float64 { return float64(delays[int(p*float64(len(delays)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkAlertDelayInProcess: the appender wrapper feeds the engine
// right after the durable append.
func BenchmarkAlertDelayInProcess(b *testing.B) { benchDelay(b, false) }

// BenchmarkAlertDelayPoller: another instance's event, seen by tailing the
// log (poll interval 500ms).
func BenchmarkAlertDelayPoller(b *testing.B) { benchDelay(b, true) }

// BenchmarkEngineMonth: rule evaluation throughput over the test month.
func BenchmarkEngineMonth(b *testing.B) {
	for b.Loop() {
		e, err := alert.New(alerttest.Config(month), alert.Deps{Appender: &alerttest.Log{}, Demographics: month.Directory(), Relationships: month.Directory()})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Observe(context.Background(), month.Events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(month.Events)*b.N)/b.Elapsed().Seconds(), "events/s")
}
