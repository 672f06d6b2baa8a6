package mllp

import (
	"context"
	"testing"
	"time"

	"github.com/carecrest/hub/broker"
	"github.com/segmentio/kafka-go"
)

// TestEmbeddedBroker publishes through a real kafka-go Writer (acks=all) to
// the in-process Kafka-protocol broker and reads the message back from
// hub.in.lab.
func TestEmbeddedBroker(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"}, "hub.in.lab")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{
		Addr: kafka.TCP(b.Addrs()...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, MaxAttempts: 3,
	}
	defer w.Close()
	addr, _ := startServer(t, Config{Source: "lab"}, w)

	msg := adt("KAFKA-1", "\r")
	wantAck(t, dial(t, addr).send(msg), AckAccept, "KAFKA-1")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A group reader reads every partition (a plain Reader only partition 0).
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), GroupID: "t", GroupTopics: []string{"hub.in.lab"}, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	got, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Value) != msg || string(got.Key) != "REGAPP|NORTHCLINIC" {
		t.Fatalf("landed %q key %q", got.Value, got.Key)
	}
	headers := map[string]string{}
	for _, h := range got.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[HeaderContentType] != ContentHL7v2 || headers[HeaderControlID] != "KAFKA-1" {
		t.Fatalf("headers %v", headers)
	}
}
