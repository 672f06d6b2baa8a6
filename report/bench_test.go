package report_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/report"
	"github.com/carecrest/hub/store/clickhouse"
	"github.com/carecrest/hub/store/sqlite"
)

// benchLog is an audit log the query benchmarks run against.
type benchLog interface {
	audit.Appender
	audit.Querier
	audit.ChainReader
}

// BenchmarkAuditQueries measures the privacy office's two hot questions on
// a large audit log: who accessed a patient (the first page of 100 of the
// patient's reads and routings) and the patient's accounting of
// disclosures (six years, every page). The log holds CARECREST_BENCH_EVENTS
// events (default 1,000,000; about 200 per patient), loaded in batches of
// 20,000 before timing. It runs on SQLite, and on ClickHouse when
// CLICKHOUSE_ADDR is set (a fresh database, dropped afterwards);
// CARECREST_BENCH_BACKENDS=clickhouse skips SQLite, e.g. for 10 million:
//
//	CLICKHOUSE_ADDR=127.0.0.1:19000 CARECREST_BENCH_EVENTS=10000000 CARECREST_BENCH_BACKENDS=clickhouse \
//	  go test -run '^$' -bench AuditQueries -benchtime 200x -timeout 60m ./report/
func BenchmarkAuditQueries(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("CARECREST_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("CARECREST_BENCH_EVENTS=%q: want a number >= 1000", v)
		}
	}
	backends := os.Getenv("CARECREST_BENCH_BACKENDS")
	want := func(name string) bool { return backends == "" || strings.Contains(backends, name) }
	if want("sqlite") {
		b.Run(fmt.Sprintf("backend=sqlite/events=%d", n), func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "hub.db"), Shard: "hub-0"})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			benchQueries(b, st, n)
		})
	}
	if addr := os.Getenv("CLICKHOUSE_ADDR"); addr != "" && want("clickhouse") {
		b.Run(fmt.Sprintf("backend=clickhouse/events=%d", n), func(b *testing.B) {
			st := benchClickHouse(b, addr)
			benchQueries(b, st, n)
		})
	}
}

func benchClickHouse(b *testing.B, addr string) *clickhouse.Store {
	r := make([]byte, 4)
	rand.Read(r)
	cfg := clickhouse.Config{Addr: []string{addr}, Database: "hub_bench_" + hex.EncodeToString(r), Shard: "hub-0", WriteTimeout: 5 * time.Minute}
	ctx := context.Background()
	if err := clickhouse.Migrate(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := ch.Open(&ch.Options{Addr: []string{addr}})
		if err == nil {
			err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)
			conn.Close()
		}
		if err != nil {
			b.Logf("drop %s: %v", cfg.Database, err)
		}
	})
	st, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchQueries(b *testing.B, log benchLog, n int) {
	ctx := context.Background()
	patients := max(100, n/200)
	start := time.Now()
	loadBenchLog(b, log, n, patients)
	b.Logf("loaded %d events for %d patients in %s", n, patients, time.Since(start).Round(time.Millisecond))
	cfg := report.Config{InternalOrgs: []string{"hospital"}}
	cfg.Defaults()
	pd, err := report.LoadPolicyData(nil)
	if err != nil {
		b.Fatal(err)
	}
	codes := report.AccessCodes()
	b.Run("who-accessed-patient", func(b *testing.B) {
		i, rows := 0, 0
		for b.Loop() {
			evs, err := log.Query(ctx, audit.Filter{PatientID: benchPatient(i * 7919 % patients), Codes: codes, Limit: 100})
			if err != nil {
				b.Fatal(err)
			}
			rows += len(evs)
			i++
		}
		b.ReportMetric(float64(rows)/float64(i), "events/op")
	})
	b.Run("accounting-of-disclosures", func(b *testing.B) {
		now := time.Now()
		w, _ := report.AccountingWindow(time.Time{}, time.Time{}, now)
		i, listed := 0, 0
		for b.Loop() {
			acc, err := report.AccountingOf(ctx, log, nil, cfg, pd, benchPatient(i*7919%patients), w, now)
			if err != nil {
				b.Fatal(err)
			}
			listed += len(acc.Disclosures)
			i++
		}
		b.ReportMetric(float64(listed)/float64(i), "disclosures/op")
	})
	// Verify walks the whole log once per run (10 million events take a
	// while), whatever b.N: the metric is its throughput, and ns/op, which
	// would divide one walk by b.N, is suppressed.
	b.Run("verify", func(b *testing.B) {
		start := time.Now()
		rep, err := audit.Verify(ctx, log)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Events < uint64(n) {
			b.Fatalf("verify: %d events, %d problems", rep.Events, len(rep.Problems))
		}
		b.ReportMetric(float64(rep.Events)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	})
}

func benchPatient(i int) string { return fmt.Sprintf("P%08d", i) }

// loadBenchLog appends n events over the last two years: writes, workforce
// reads, denials, break-the-glass, routings to the HIE (TREAT), the
// research registry (HRESCH) and public health (PUBHLTH), and audit queries.
func loadBenchLog(b *testing.B, log audit.Appender, n, patients int) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	now := time.Now()
	const batch = 20_000
	evs := make([]audit.Event, 0, batch)
	subs := []struct{ name, org, purpose string }{{"hie", "regional-hie", "TREAT"}, {"research", "university", "HRESCH"}, {"state-health", "state-doh", "PUBHLTH"}}
	for i := range n {
		t := now.Add(-time.Duration(rng.Int64N(int64(2 * 365 * 24 * time.Hour))))
		e := audit.Event{
			ID: audit.NewID(t), Time: t, PatientID: benchPatient(rng.IntN(patients)), RecordType: "Observation",
			RecordIDs: []string{fmt.Sprintf("R%d", i)}, Disclosed: []string{"code", "status", "valueQuantity"}, PolicyRevision: "rev-bench",
		}
		switch k := rng.IntN(100); {
		case k < 35:
			e.Code, e.Action, e.Outcome, e.ActorID, e.Application = audit.CodeRecordWrite, "write", audit.OutcomeAllow, "lis", "hub.in.lis"
		case k < 80:
			e.Code, e.Action, e.Outcome, e.Purpose = audit.CodeRecordRead, "read", audit.OutcomeAllow, "TREAT"
			e.ActorID, e.ActorOrg, e.ActorRoles, e.Application = fmt.Sprintf("E%05d", rng.IntN(500)), "hospital", []string{"nurse"}, "carecrest-ehr"
		case k < 85:
			e.Code, e.Action, e.Outcome, e.Purpose = audit.CodeRecordReadDeny, "read", audit.OutcomeDeny, "HPAYMT"
			e.ActorID, e.ActorOrg, e.Disclosed, e.Reason = fmt.Sprintf("E%05d", rng.IntN(500)), "hospital", nil, "record type not permitted for role and purpose"
		case k < 86:
			e.Code, e.Action, e.Outcome, e.Purpose = audit.CodeBreakGlass, "read", audit.OutcomeAllow, "ETREAT"
			e.ActorID, e.ActorOrg, e.Reason = fmt.Sprintf("E%05d", rng.IntN(500)), "hospital", "emergency"
		case k < 96:
			s := subs[rng.IntN(len(subs))]
			e.Code, e.Action, e.Outcome, e.Purpose = audit.CodeRouted, "route", audit.OutcomeAllow, s.purpose
			e.ActorID, e.ActorOrg, e.Application = s.name, s.org, "hub.out."+s.name
		default:
			e.Code, e.Action, e.Outcome, e.Purpose, e.RecordType = audit.CodeAuditQuery, "audit.query", audit.OutcomeAllow, "HOPERAT", "AuditEvent"
			e.ActorID, e.ActorOrg, e.RecordIDs, e.Disclosed, e.Reason = "po.1", "hospital", nil, nil, "audit query patient="+e.PatientID
		}
		evs = append(evs, e)
		if len(evs) == batch || i == n-1 {
			if err := log.Append(context.Background(), evs); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
}
