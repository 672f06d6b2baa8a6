package httpingest

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/carecrest/hub/broker"
	"github.com/segmentio/kafka-go"
)

// TestEmbeddedBroker publishes through a real kafka-go Writer (acks=all) to
// the in-process Kafka-protocol broker and reads the message back from
// hub.in.ehr: a 202 means the message is there.
func TestEmbeddedBroker(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"}, "hub.in.ehr")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &kafka.Writer{
		Addr: kafka.TCP(b.Addrs()...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, MaxAttempts: 3,
	}
	defer w.Close()
	h, err := New(Config{PublishTimeout: 20 * time.Second}, Deps{Publisher: w, Auth: testAuth, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := env{h: h}
	body := fixture(t, "patient-planted.json")
	r := e.post(t, "/fhir/Patient", "application/json", "ehr-token", body)
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A group reader reads every partition (a plain Reader only partition 0).
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), GroupID: "t", GroupTopics: []string{"hub.in.ehr"}, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	got, err := rd.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != "hub.in.ehr" || string(got.Value) != string(body) || string(got.Key) != "ehr" {
		t.Fatalf("landed on %s key %q, value unchanged %v", got.Topic, got.Key, string(got.Value) == string(body))
	}
	if header(got, HeaderContentType) != "application/fhir+json" || header(got, HeaderRequestID) != r.header.Get("X-Request-Id") {
		t.Fatalf("headers %v", got.Headers)
	}
}
