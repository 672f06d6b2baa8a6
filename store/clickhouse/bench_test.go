package clickhouse

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

// benchBatch returns an ingest batch like one of ingest's: n sealed
// records (a few encrypted elements each) and their n write events.
func benchBatch(batch, n int) store.Batch {
	var bt store.Batch
	now := time.Now()
	for i := range n {
		key := record.NewKey("lis", fmt.Sprintf("MSG-%d", batch), i)
		fields := map[string][]byte{}
		for _, f := range []string{"valueQuantity", "subject", "performer", "note"} {
			c := make([]byte, 60)
			rand.Read(c)
			fields[f] = c
		}
		r := record.Sealed{
			ID: record.IDFromKey(key), Key: key, Type: "Observation", Source: "lis",
			MessageID: fmt.Sprintf("MSG-%d", batch), PatientID: fmt.Sprintf("P%d", i%200),
			Labels: []string{"LAB"}, Codes: []record.Coding{{System: "http://loinc.org", Code: "2345-7"}},
			Clear: []byte(`{"resourceType":"Observation","status":"final","category":"laboratory"}`), Fields: fields,
			Received: now,
		}
		bt.Records = append(bt.Records, r)
		bt.Events = append(bt.Events, audit.Event{
			Code: audit.CodeRecordWrite, Action: audit.ActionWrite, Outcome: audit.OutcomeAllow, ActorID: "lis",
			Application: "hub.in.lis", PatientID: r.PatientID, RecordType: r.Type, RecordIDs: []string{r.ID},
			Disclosed: r.FieldNames(), PolicyRevision: "rev-1", RequestID: r.MessageID, Key: "write/" + key,
		})
	}
	return bt
}

func benchStore(b *testing.B, opts ...func(*Config)) *Store {
	b.Helper()
	return openAt(b, newDatabase(b), "hub-0", opts...).Store
}

// BenchmarkCommit commits ingest batches of 500 sealed records and their
// 500 audit events: the idempotency check, then three inserts (records,
// audit_chain and, through the views, audit_events, audit_by_actor and
// idem_keys).
func BenchmarkCommit(b *testing.B) { benchCommit(b, 500) }

// BenchmarkCommitLarge is BenchmarkCommit with batches of 5,000: a part
// costs ClickHouse about the same whatever its rows, so larger ingest
// batches (ingest.batch_size, batch_wait) buy throughput.
func BenchmarkCommitLarge(b *testing.B) { benchCommit(b, 5000) }

func benchCommit(b *testing.B, size int) {
	s := benchStore(b)
	ctx := context.Background()
	batches := 0
	for b.Loop() {
		b.StopTimer()
		bt := benchBatch(batches, size)
		b.StartTimer()
		res, err := s.Commit(ctx, bt)
		if err != nil || res.Records != size || res.Events != size {
			b.Fatalf("Commit = %+v, %v", res, err)
		}
		batches++
	}
	b.ReportMetric(float64(batches*size)/b.Elapsed().Seconds(), "records/s")
}

func readEvent(i int) audit.Event {
	return audit.Event{
		Code: audit.CodeRecordRead, Action: audit.ActionRead, Outcome: audit.OutcomeAllow, ActorID: "dr-a",
		ActorRoles: []string{"physician"}, Application: "ehr-viewer", Purpose: "TREAT",
		PatientID: fmt.Sprintf("P%d", i%200), RecordType: "Observation", RecordIDs: []string{"r-1", "r-2"},
		Disclosed: []string{"code", "value"}, Masked: []string{"note"}, PolicyRevision: "rev-1",
		RequestID: fmt.Sprintf("req-%d", i),
	}
}

// BenchmarkAppendRead appends one event per call, one caller at a time,
// as the GraphQL read path does before it answers, and reports the
// latency distribution.
func BenchmarkAppendRead(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		if err := s.Append(ctx, []audit.Event{readEvent(i)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkAppendReadParallel is BenchmarkAppendRead with many callers at
// once: the group commit writes what queued while the previous insert ran
// as one insert.
func BenchmarkAppendReadParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := s.Append(ctx, []audit.Event{readEvent(i)}); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(1, s.flushes.Load())), "events/insert")
}
