package server

import (
	"context"
	"errors"
	"time"

	"github.com/carecrest/hub/health"
	"github.com/carecrest/hub/kafkaconn"
	"github.com/carecrest/hub/keys"
	"github.com/segmentio/kafka-go"
)

// pinger is a key manager that can say whether it is reachable (Vault).
type pinger interface {
	Ping(ctx context.Context) error
}

// registerChecks registers the readiness checks: the hub is ready when its
// store, broker, key manager and policy all are.
func (h *Hub) registerChecks(mgr keys.Manager, transport *kafka.Transport, brokers []string) {
	h.Health.Register("store", func(ctx context.Context) error {
		return health.Categorize(health.CategoryNetwork, h.Store.Ping(ctx))
	})
	h.Health.Register("broker", func(ctx context.Context) error {
		return kafkaconn.Ping(ctx, transport, brokers)
	})
	h.Health.Register("keys", func(ctx context.Context) error {
		if p, ok := mgr.(pinger); ok {
			return p.Ping(ctx)
		}
		return nil // the local keyring is in process
	})
	h.Health.Register("policy", func(context.Context) error {
		if h.Policy.Revision() == "" {
			return health.Categorize(health.CategoryNotLoaded, errors.New("no policy"))
		}
		return nil
	})
}

// observeConsumer feeds the consumer's statistics to the metrics every 10 s
// (kafka-go resets its counters on each Stats call, so only here).
func (h *Hub) observeConsumer(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Metrics.ObserveReaderStats(h.consumer.Stats())
		}
	}
}
