package mllp

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// countingPublisher acknowledges at once: the benchmark measures the gateway.
type countingPublisher struct{ n atomic.Int64 }

func (p *countingPublisher) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	p.n.Add(int64(len(msgs)))
	return nil
}

// BenchmarkRoundTrip measures an MLLP send → ACK round trip over loopback
// TCP through the server (parse MSH, dedup lookup, publish, ACK), one message
// at a time on one connection, as senders do. Reports p50 and p99 latency.
func BenchmarkRoundTrip(b *testing.B) {
	addr, _ := startServer(b, Config{}, &countingPublisher{})
	c := dial(b, addr)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		// A new control id each round: a repeat would be a retransmission,
		// answered from the cache without publishing.
		msg := []byte(adt("BENCH-"+strconv.Itoa(i), "\r"))
		start := time.Now()
		if err := WriteFrame(c.conn, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.r.ReadFrame(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
