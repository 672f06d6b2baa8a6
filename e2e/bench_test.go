package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/server"
	"github.com/carecrest/hub/store/sqlite"
	"github.com/segmentio/kafka-go"
)

// mixedFeed returns n distinct messages: HL7 ADT^A01 registrations and
// ORU^R01 results (three OBX each) from the EHR and LIS, unique per round.
func mixedFeed(round, n int) []kafka.Message {
	msgs := make([]kafka.Message, 0, n)
	for i := range n {
		mrn := fmt.Sprintf("B%03d%06d", round, i/2)
		var topic, v string
		if i%2 == 0 {
			topic = "hub.in.ehr"
			v = fmt.Sprintf("MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01|A%03d%07d|P|2.5.1\rPID|1||%s^^^H&1.2.3&ISO^MR||Bench^Pat||19700101|F|||1 Main St^^Town^ST^00000\r", round, i, mrn)
		} else {
			topic = "hub.in.lis"
			v = fmt.Sprintf("MSH|^~\\&|LIS|H|HUB|H|20261125||ORU^R01|O%03d%07d|P|2.5.1\rPID|1||%s^^^H&1.2.3&ISO^MR||Bench^Pat||19700101|F\r"+
				"OBR|1|X|Y|24323-8^CMP^LN|||20261125080000\r"+
				"OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-99|N|||F\rOBX|2|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F\rOBX|3|NM|4548-4^HbA1c^LN||5.2|%%|4.0-5.6|N|||F\r", round, i, mrn)
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(mrn), Value: []byte(v),
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentHL7v2)}}})
	}
	return msgs
}

// BenchmarkIngestThroughput measures end-to-end ingest on embedded
// defaults.
func BenchmarkIngestThroughput(b *testing.B) {
	benchIngest(b, startHubTB(b), 2000)
}

// BenchmarkIngestThroughputClickHouse is the same feed into ClickHouse
// (records, consents and the audit log), with batches of 2,000 messages as
// deploy/config/clickhouse.yaml configures. It needs CLICKHOUSE_ADDR.
func BenchmarkIngestThroughputClickHouse(b *testing.B) {
	addr := clickhouseAddr(b)
	cfg, _ := clickhouseConfig(b, addr)
	cfg.Ingest.BatchSize, cfg.Ingest.BatchWait = 2000, 200*time.Millisecond
	h, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	benchIngest(b, h, 4000)
}

// benchIngest measures end-to-end ingest: produce over the Kafka protocol,
// then wait until every message is stored, encrypted and audited (the time
// includes producing).
func benchIngest(b *testing.B, h *server.Hub, perRound int) {
	total, sent := 0, 0
	var elapsed time.Duration
	for round := 0; b.Loop(); round++ {
		msgs := mixedFeed(round, perRound)
		total += recordsIn(b, msgs)
		start := time.Now()
		w := &kafka.Writer{Addr: kafka.TCP(h.Brokers()...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 500}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
		w.Close()
		sent += perRound
		waitRecords(b, h, total)
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

// waitRecords waits until the store holds n records. On the embedded
// store it probes with max(rowid), which is O(1) (records are only ever
// inserted), so polling does not load the benchmark.
func waitRecords(tb testing.TB, h *server.Hub, n int) {
	tb.Helper()
	count := func() (int, error) { return h.Store.CountRecords(context.Background()) }
	if s, ok := h.Store.(*sqlite.Store); ok {
		count = func() (int, error) {
			var got sql.NullInt64
			err := s.DB().QueryRow(`SELECT max(rowid) FROM records`).Scan(&got)
			return int(got.Int64), err
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got, err := count()
		if err != nil {
			tb.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d records stored", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordsIn counts the records a feed decodes to.
func recordsIn(tb testing.TB, msgs []kafka.Message) int {
	n := 0
	for _, m := range msgs {
		recs, err := ingest.Decode(ingest.ContentHL7v2, "bench", m.Value, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		n += len(recs)
	}
	return n
}

// BenchmarkPatientView measures a clinician's GraphQL patient view
// (demographics and three observations, decrypted and audited) over HTTP.
func BenchmarkPatientView(b *testing.B) {
	h := startHubTB(b)
	traffic := demo.Generate(50, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publishTB(b, h, traffic.Messages)
	waitMessagesTB(b, h, len(traffic.Messages))
	tok := mintTB(b, h, demo.Attending, []string{"physician"}, []string{"TREAT"}) // on the demo patients' care team
	var lat []time.Duration
	i := 0
	for b.Loop() {
		p := traffic.Patients[i%len(traffic.Patients)]
		i++
		if p.MRN == traffic.OptedOut.MRN {
			p = traffic.Patients[0]
		}
		start := time.Now()
		r := gql(b, h, tok, demo.PatientQuery, map[string]any{"mrn": p.Identifier()})
		lat = append(lat, time.Since(start))
		if len(r.Errors) > 0 {
			b.Fatal(r.Errors)
		}
	}
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	evs, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: demo.Attending, Limit: 1})
	if len(evs) == 0 {
		b.Fatal("reads were not audited")
	}
}
