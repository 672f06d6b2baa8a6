package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/metrics"
	"github.com/carecrest/hub/query"
	"github.com/segmentio/kafka-go"
)

// startAlerts starts the anomalous-access alert engine when alerts.enabled
// (config alerts.*): the in-process feed (it wraps the read service's audit
// appender, so it must run after h.Reader is built), the audit-log poller
// and the sinks. It returns the GraphQL extension (alerts query,
// acknowledgeAlert and resolveAlert mutations), which is served whether or
// not this instance runs the engine: alert state lives in the audit log.
func (h *Hub) startAlerts(ctx context.Context, brokers []string, transport *kafka.Transport) (query.Extension, error) {
	ext := query.AlertsExtension(h.Reader)
	cfg := h.Config.Alerts
	if !cfg.Enabled {
		return ext, nil
	}
	m := metrics.NewAlerts(h.Registry, alert.Rules)
	var sinks []alert.Sink
	if cfg.Webhook.URL != "" {
		secret, err := os.ReadFile(cfg.Webhook.SecretFile)
		if err != nil {
			return ext, fmt.Errorf("alerts.webhook.secret_file: %w", err)
		}
		s, err := alert.NewWebhook(cfg.Webhook, []byte(strings.TrimSpace(string(secret))), nil, m, h.Log)
		if err != nil {
			return ext, err
		}
		sinks = append(sinks, s)
	}
	if cfg.Kafka.Topic != "" {
		sinks = append(sinks, alert.NewKafka(alert.NewKafkaWriter(brokers, cfg.Kafka.Topic, transport), cfg.Kafka.Queue, m, h.Log))
	}
	roster, err := cfg.LoadRoster()
	if err != nil {
		return ext, err
	}
	idx := alert.NewIndex(h.Index, roster)
	e, err := alert.New(cfg, alert.Deps{
		Appender: h.Store, Demographics: idx, Relationships: idx, Sinks: sinks, Logger: h.Log, Metrics: m,
	})
	if err != nil {
		return ext, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	poller := alert.NewPoller(h.Store, e)
	if err := e.Prime(runCtx, h.Store, poller.Now().Add(-48*time.Hour)); err != nil {
		h.Log.Warn("alerts: could not read recent alerts; some may be sent to sinks again", "err", err)
	}
	h.Reader.Audit = alert.Appender{Next: h.Reader.Audit, Engine: e}
	// The engine has its own context and wait group: it stops with the
	// closers (after ingest and the API, which feed it), not with h.wg,
	// which Close waits on before running the closers.
	var wg sync.WaitGroup
	wg.Go(func() { e.Run(runCtx) })
	if cfg.Poll.PollOn() {
		wg.Go(func() { poller.Run(runCtx) })
	}
	h.closers = append(h.closers, func() error {
		cancel()
		wg.Wait()
		var first error
		for _, s := range sinks {
			closeCtx, done := context.WithTimeout(context.Background(), cfg.Webhook.Timeout)
			if err := s.Close(closeCtx); err != nil && first == nil {
				first = err
			}
			done()
		}
		return first
	})
	h.Log.Info("alerts started", "rules", len(alert.Rules), "roster", len(roster), "sinks", len(sinks), "poll", cfg.Poll.PollOn())
	return ext, nil
}
