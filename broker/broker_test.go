package broker

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestKafkaGoGroupRoundTrip produces with kafka-go and consumes with a
// kafka-go consumer group, committing offsets, as the hub does.
func TestKafkaGoGroupRoundTrip(t *testing.T) {
	b, err := Start(Config{Addr: "127.0.0.1:0", Partitions: 2}, "t.in")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "t.in", RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, Balancer: &kafka.Hash{}}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 20 {
		msgs = append(msgs, kafka.Message{Key: []byte{byte(i)}, Value: []byte("m")})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	read := func(n int) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), GroupID: "g", GroupTopics: []string{"t.in"}, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		for range n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	read(20)
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("x"), Value: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	// A new member of the group resumes after the committed offsets.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), GroupID: "g", GroupTopics: []string{"t.in"}, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Value) != "late" {
		t.Fatalf("resumed at %q, want the message after the committed offsets", m.Value)
	}
}
