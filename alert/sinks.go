package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/carecrest/hub/metrics"
	"github.com/segmentio/kafka-go"
)

// queue is the bounded, non-blocking delivery queue both sinks use: one
// worker delivers in order, retrying with exponential backoff.
type queue struct {
	name     string
	ch       chan Alert
	deliver  func(ctx context.Context, a Alert) (retry bool, err error)
	attempts int
	metrics  *metrics.Alerts
	log      *slog.Logger
	now      func() time.Time

	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

func newQueue(name string, size, attempts int, m *metrics.Alerts, log *slog.Logger, deliver func(context.Context, Alert) (bool, error)) *queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &queue{name: name, ch: make(chan Alert, size), deliver: deliver, attempts: attempts, metrics: m, log: log,
		now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *queue) Name() string { return q.name }

// Deliver queues a without blocking; a full queue drops it.
func (q *queue) Deliver(a Alert) {
	select {
	case q.ch <- a:
	default:
		q.metrics.AlertDropped(q.name)
		q.log.Warn("alert: sink queue full; alert dropped from this sink (it stays recorded)", "sink", q.name, "alert", a.ID)
	}
}

func (q *queue) run() {
	defer close(q.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case a := <-q.ch:
			q.send(ctx, a)
		case <-q.stop:
			for {
				select {
				case a := <-q.ch:
					q.send(ctx, a)
				default:
					return
				}
			}
		}
	}
}

func (q *queue) send(ctx context.Context, a Alert) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, err := q.deliver(ctx, a)
		if err == nil {
			q.metrics.AlertDelivery(q.name, "ok", q.now().Sub(a.At))
			return
		}
		if !retry || attempt >= q.attempts {
			q.metrics.AlertDelivery(q.name, "failed", 0)
			q.log.Error("alert: delivery failed; giving up on this sink", "sink", q.name, "alert", a.ID, "attempts", attempt, "err", err)
			return
		}
		q.metrics.AlertDelivery(q.name, "retry", 0)
		select {
		case <-time.After(wait):
		case <-q.stop:
			// Closing: one last attempt without waiting.
			if attempt+1 >= q.attempts {
				return
			}
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// Close delivers what is queued until ctx ends.
func (q *queue) Close(ctx context.Context) error {
	q.closed.Do(func() { close(q.stop) })
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alert: sink %s: %d alerts undelivered at close: %w", q.name, len(q.ch), ctx.Err())
	}
}

// Webhook signature headers. The signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), timestamp
// being the X-CareCrest-Timestamp header (Unix seconds), so a receiver can
// reject replays.
const (
	HeaderSignature = "X-CareCrest-Signature"
	HeaderTimestamp = "X-CareCrest-Timestamp"
	HeaderAlertID   = "X-CareCrest-Alert-Id"
)

// Sign returns the signature header value of body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook request's signature (for receivers and tests).
func Verify(secret []byte, ts, signature string, body []byte) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}

// NewWebhook returns a sink that POSTs each alert as JSON to url, signed
// with secret. 2xx is delivered; 408, 429, 5xx and network errors are
// retried with backoff up to cfg.MaxAttempts; other statuses are not.
func NewWebhook(cfg WebhookConfig, secret []byte, client *http.Client, m *metrics.Alerts, log *slog.Logger) (Sink, error) {
	if cfg.URL == "" || len(secret) == 0 {
		return nil, errors.New("alert: webhook needs a URL and a signing secret")
	}
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	deliver := func(ctx context.Context, a Alert) (bool, error) {
		body, err := json.Marshal(a)
		if err != nil {
			return false, err
		}
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(secret, ts, body))
		req.Header.Set(HeaderAlertID, a.ID)
		resp, err := client.Do(req)
		if err != nil {
			return true, err
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return false, nil
		case resp.StatusCode == 408, resp.StatusCode == 429, resp.StatusCode >= 500:
			return true, fmt.Errorf("webhook answered %d", resp.StatusCode)
		default:
			return false, fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
	}
	return newQueue("webhook", cfg.Queue, cfg.MaxAttempts, m, log, deliver), nil
}

// kafkaSink writes alerts to a topic with acks from all in-sync replicas.
type kafkaSink struct {
	*queue
	w *kafka.Writer
}

// NewKafka returns a sink that writes each alert as JSON to w's topic,
// keyed by alert id. w should require all acks (RequiredAcks:
// kafka.RequireAll) and be synchronous; NewKafkaWriter makes one.
func NewKafka(w *kafka.Writer, queueSize int, m *metrics.Alerts, log *slog.Logger) Sink {
	deliver := func(ctx context.Context, a Alert) (bool, error) {
		body, err := json.Marshal(a)
		if err != nil {
			return false, err
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return true, w.WriteMessages(ctx, kafka.Message{Key: []byte(a.ID), Value: body,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/json")}}})
	}
	return &kafkaSink{queue: newQueue("kafka", queueSize, 8, m, log, deliver), w: w}
}

// NewKafkaWriter returns a synchronous writer requiring all acks.
func NewKafkaWriter(brokers []string, topic string, transport kafka.RoundTripper) *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{},
		BatchTimeout: time.Millisecond, AllowAutoTopicCreation: true, Transport: transport,
	}
}

// Close drains the queue, then closes the writer.
func (k *kafkaSink) Close(ctx context.Context) error {
	err := k.queue.Close(ctx)
	return errors.Join(err, k.w.Close())
}
