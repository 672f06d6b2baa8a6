package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/alert/alerttest"
	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
	"github.com/carecrest/hub/store/clickhouse"
	"github.com/carecrest/hub/store/sqlite"
)

// MonthLog is an audit log a month of traffic was appended to.
type MonthLog interface {
	audit.Appender
	audit.Querier
	audit.ChainReader
}

// monthOptions is the month the month tests share: the issue's
// "several hundred users, thousands of patients", smaller with -short.
func monthOptions() sim.Options {
	if testing.Short() {
		return sim.Options{Seed: 1, Days: 14, Users: 120, Patients: 800}
	}
	return sim.Options{Seed: 1}
}

// monthLogs returns the stores to run a month test on: the embedded SQLite
// store always, and a throwaway ClickHouse database when CLICKHOUSE_ADDR
// is set.
func monthLogs(t *testing.T) map[string]func(t *testing.T) MonthLog {
	logs := map[string]func(t *testing.T) MonthLog{
		"sqlite": func(t *testing.T) MonthLog {
			s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Shard: "hub-0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	if addr := os.Getenv("CLICKHOUSE_ADDR"); addr != "" {
		logs["clickhouse"] = func(t *testing.T) MonthLog {
			b := make([]byte, 4)
			rand.Read(b)
			db := "hub_month_" + hex.EncodeToString(b)
			cfg := clickhouse.Config{Addr: []string{addr}, Database: db, Shard: "hub-0"}
			t.Cleanup(func() {
				if out, err := exec.Command("clickhouse-client", "--port", port(addr), "-q", "DROP DATABASE IF EXISTS "+db).CombinedOutput(); err != nil {
					t.Logf("drop %s: %v %s", db, err, out)
				}
			})
			ctx := context.Background()
			if err := clickhouse.Migrate(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			s, err := clickhouse.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	} else {
		t.Log("ClickHouse month run skipped: scripts/clickhouse-dev.sh start; CLICKHOUSE_ADDR=127.0.0.1:19000 go test ./e2e/ -run Month")
	}
	return logs
}

// appendMonth appends the month's events to log in batches, as the hub
// would over the month.
func appendMonth(t testing.TB, log audit.Appender, m *sim.Month) {
	t.Helper()
	ctx := context.Background()
	const batch = 2000
	for i := 0; i < len(m.Events); i += batch {
		if err := log.Append(ctx, m.Events[i:min(i+batch, len(m.Events))]); err != nil {
			t.Fatalf("append events %d..: %v", i, err)
		}
	}
}

// TestMonthAlerts stores a month of traffic, tails the stored log with the
// alert poller (the path several instances sharing a store use) and checks
// that each planted incident raised exactly its alert and nothing else
// fired; the alerts are recorded in the same log and a second engine
// replaying it raises nothing new.
func TestMonthAlerts(t *testing.T) {
	m := sim.Generate(monthOptions())
	t.Logf("month: %d events, %d staff, %d patients, %d incidents", len(m.Events), len(m.Roster), len(m.Patients), len(m.Incidents))
	for name, open := range monthLogs(t) {
		t.Run(name, func(t *testing.T) {
			log := open(t)
			start := time.Now()
			appendMonth(t, log, m)
			t.Logf("%s: appended %d events in %s", name, len(m.Events), time.Since(start).Round(time.Millisecond))

			dir := m.Directory()
			sink := &alerttest.Collect{}
			e, err := alert.New(alerttest.Config(m), alert.Deps{Appender: log, Demographics: dir, Relationships: dir, Sinks: []alert.Sink{sink}})
			if err != nil {
				t.Fatal(err)
			}
			p := alert.NewPoller(log, e)
			p.Start(m.Start)
			ctx := context.Background()
			if _, err := p.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			alerts := sink.Alerts()
			for _, problem := range alerttest.Mismatch(m, alerts) {
				t.Error(problem)
			}

			// Recorded in the log, tamper-evidently, and listed as open.
			states, err := alert.Load(ctx, log)
			if err != nil {
				t.Fatal(err)
			}
			if len(states) != len(alerts) {
				t.Fatalf("log holds %d alerts, sinks got %d", len(states), len(alerts))
			}
			for _, s := range states {
				if s.Status != alert.StatusOpen {
					t.Errorf("alert %s is %s, want open", s.ID, s.Status)
				}
			}
			rep, err := audit.Verify(ctx, log)
			if err != nil || !rep.OK() {
				t.Fatalf("audit chain after alerts: %v %+v", err, rep)
			}

			// Replay by a second instance: the same alerts, nothing new recorded.
			sink2 := &alerttest.Collect{}
			e2, err := alert.New(alerttest.Config(m), alert.Deps{Appender: log, Demographics: dir, Relationships: dir, Sinks: []alert.Sink{sink2}})
			if err != nil {
				t.Fatal(err)
			}
			p2 := alert.NewPoller(log, e2)
			p2.Start(m.Start)
			if _, err := p2.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			again, err := alert.Load(ctx, log)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != len(states) {
				t.Errorf("replay recorded %d alerts more", len(again)-len(states))
			}
		})
	}
}
