package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/broker"
	"github.com/segmentio/kafka-go"
)

var testAlert = alert.Alert{ID: "Atest1", Rule: alert.RuleBreakGlass, Severity: alert.SeverityMedium, At: time.Now(),
	ActorID: "E10001", PatientID: "Pabc", Text: "E10001 used break-the-glass", EventIDs: []string{"01ABC"}}

func TestWebhookSignsRetriesAndDelivers(t *testing.T) {
	secret := []byte("webhook-test-secret")
	var calls atomic.Int32
	got := make(chan alert.Alert, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !alert.Verify(secret, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), body) {
			t.Errorf("bad signature %q", r.Header.Get(alert.HeaderSignature))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if calls.Add(1) < 3 { // two failures, then success
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var a alert.Alert
		if err := json.Unmarshal(body, &a); err != nil {
			t.Error(err)
		}
		got <- a
	}))
	defer srv.Close()
	cfg := alert.WebhookConfig{URL: srv.URL, SecretFile: "x"}
	c := alert.Config{Webhook: cfg}
	c.Defaults()
	sink, err := alert.NewWebhook(c.Webhook, secret, srv.Client(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink.Deliver(testAlert)
	select {
	case a := <-got:
		if a.ID != testAlert.ID || a.Text != testAlert.Text || a.EventIDs[0] != "01ABC" {
			t.Errorf("delivered %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webhook never delivered")
	}
	if err := sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !alert.Verify(secret, "1", alert.Sign(secret, "1", []byte("x")), []byte("x")) || alert.Verify([]byte("other"), "1", alert.Sign(secret, "1", []byte("x")), []byte("x")) {
		t.Error("Verify does not tell secrets apart")
	}
}

func TestWebhookNeverBlocksTheHub(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := alert.Config{Webhook: alert.WebhookConfig{URL: srv.URL, SecretFile: "x", Queue: 2}}
	c.Defaults()
	sink, err := alert.NewWebhook(c.Webhook, []byte("s"), srv.Client(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for range 100 {
			sink.Deliver(testAlert) // the receiver hangs; the queue fills and drops
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver blocked on a hung webhook")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = sink.Close(ctx) // undelivered: reported, not hung
}

func TestKafkaSinkWritesToTheTopic(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1}, "hub.alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sink := alert.NewKafka(alert.NewKafkaWriter(b.Addrs(), "hub.alerts", nil), 10, nil, nil)
	sink.Deliver(testAlert)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), Topic: "hub.alerts", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var a alert.Alert
	if err := json.Unmarshal(m.Value, &a); err != nil || a.ID != testAlert.ID || string(m.Key) != testAlert.ID {
		t.Errorf("message key %q value %s (%v)", m.Key, m.Value, err)
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
