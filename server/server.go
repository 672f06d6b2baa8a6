// Package server wires the hub's components into one running process: the
// broker connection (or the embedded broker), the store, the key manager,
// the patient index, the policy engine, the ingest pipeline and the GraphQL
// API. Backends are chosen here by an explicit switch on configuration (not
// by init-time registries); cmd/hub, the demo and the end-to-end tests all
// start the hub through Start, so they run exactly the same wiring.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/broker"
	"github.com/carecrest/hub/codemap"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/health"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/kafkaconn"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/labels"
	"github.com/carecrest/hub/metrics"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Hub is a running hub.
type Hub struct {
	Config *config.Config
	Log    *slog.Logger

	Broker   *broker.Broker // nil unless kafka.backend is embedded
	Store    Store
	Sealer   *phi.Sealer
	Index    *mpi.Index
	Policy   *policy.Engine
	Reader   *query.Reader
	Pipeline *ingest.Pipeline
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry
	Health   *health.Checker
	Proofs   *merkle.Service // signed checkpoints and proofs of the audit log

	consumer  *kafka.Reader
	dlq       *kafka.Writer
	mllp      []*mllp.Server
	gw        *kafka.Writer
	mllpAddrs []string
	http      *http.Server
	listener  net.Listener

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func() error
}

// Start opens every component and starts ingest and the HTTP API. On error
// whatever was opened is closed again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Hub, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hub := &Hub{Config: cfg, Log: log}
	defer func() {
		if err != nil {
			hub.Close()
		}
	}()

	brokers := cfg.Kafka.Brokers
	switch cfg.Kafka.Backend {
	case "embedded":
		topics := append(cfg.Kafka.Topics(), cfg.Ingest.DeadLetterTopic)
		for _, s := range cfg.Route.Subscribers {
			topics = append(topics, s.Topic())
		}
		if cfg.Checkpoints.Topic != "-" {
			topics = append(topics, cfg.Checkpoints.Topic)
		}
		hub.Broker, err = broker.Start(cfg.Kafka.Embedded, topics...)
		if err != nil {
			return nil, err
		}
		hub.closers = append(hub.closers, func() error { hub.Broker.Close(); return nil })
		brokers = hub.Broker.Addrs()
		log.Info("embedded Kafka-protocol broker started", "addrs", strings.Join(brokers, ","))
	case "kafka":
	default:
		return nil, fmt.Errorf("kafka.backend %q unknown; valid: %s", cfg.Kafka.Backend, strings.Join(config.BrokerBackends, ", "))
	}

	hub.Store, err = OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	hub.closers = append(hub.closers, hub.Store.Close)

	hub.Registry = metrics.NewRegistry()
	hub.Metrics = metrics.New(hub.Registry)
	hub.Health, err = health.New(health.Config{}, log)
	if err != nil {
		return nil, err
	}

	rawMgr, closeKeys, err := KeyManager(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	hub.closers = append(hub.closers, closeKeys)
	mgr := hub.Metrics.InstrumentKeyManager(rawMgr)
	hub.Sealer, err = phi.NewSealer(mgr, hub.Store, phi.CacheConfig{
		Size: cfg.Keys.Cache.Size, TTL: cfg.Keys.Cache.TTL, OnHit: hub.Metrics.KeyCacheHit, OnMiss: hub.Metrics.KeyCacheMiss,
	})
	if err != nil {
		return nil, err
	}
	indexKey, err := hub.Sealer.DataKey(ctx, keys.OwnerIndex)
	if err != nil {
		return nil, fmt.Errorf("patient index key: %w", err)
	}
	hub.Index = mpi.New(indexKey, hub.Store)

	hub.Policy, err = policy.New(ctx, policy.Config{Dir: cfg.Policy.Dir, Bundle: cfg.Policy.Bundle, Profile: cfg.Policy.Profile}, log)
	if err != nil {
		return nil, err
	}

	decider := measuredDecider{hub.Policy, hub.Metrics}
	labeler, err := Labeler(cfg)
	if err != nil {
		return nil, err
	}
	codeMaps, err := codemap.Load(cfg.CodeMaps)
	if err != nil {
		return nil, fmt.Errorf("codemaps: %w", err)
	}

	transport, err := kafkaconn.Transport(cfg.Kafka.Security)
	if err != nil {
		return nil, err
	}
	dialer, err := kafkaconn.Dialer(cfg.Kafka.Security)
	if err != nil {
		return nil, err
	}
	hub.dlq = &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, WriteTimeout: 10 * time.Second, Transport: transport,
	}
	hub.closers = append(hub.closers, hub.dlq.Close)
	deps := ingest.Deps{
		Decode: ingest.Decode, Resolver: hub.Index, Decider: decider, Sealer: hub.Sealer,
		Store: measuredCommitter{hub.Store, hub.Metrics}, DeadLetter: hub.dlq, Logger: log,
		Observer: hub.Metrics,
		// Local codes gain their standard codes first, so labels see them.
		Label: func(rs []record.Record) { codeMaps.Apply(rs); labeler.Apply(rs) },
	}
	if len(cfg.Route.Subscribers) > 0 {
		router, err := route.New(cfg.Route, route.Deps{Decider: decider, Consents: hub.Store, Opener: hub.Sealer, Logger: log})
		if err != nil {
			return nil, err
		}
		out := &kafka.Writer{ // one patient's messages stay ordered: keyed by patient, hashed
			Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond, WriteTimeout: 10 * time.Second, Transport: transport,
		}
		hub.closers = append(hub.closers, out.Close)
		deps.Router, deps.Audit, deps.Outbound = router, measuredAppender{hub.Store, hub.Metrics}, out
	}
	hub.Pipeline, err = ingest.New(cfg.Ingest, deps)
	if err != nil {
		return nil, err
	}

	hub.Reader = &query.Reader{
		Index: hub.Index, Records: hub.Store, Consents: hub.Store, Decider: decider, Opener: hub.Sealer,
		Audit: measuredAppender{hub.Store, hub.Metrics}, Querier: hub.Store, Logger: log,
		Groups: hub.Index, Relationships: hub.Index, Explainer: hub.Policy,
	}
	alertsExt, err := hub.startAlerts(ctx, brokers, transport)
	if err != nil {
		return nil, err
	}
	gov, err := NewGovernance(hub)
	if err != nil {
		return nil, err
	}
	reports, err := NewReports(cfg, hub.Reader)
	if err != nil {
		return nil, err
	}
	proofs, err := hub.newCheckpoints(ctx, brokers, transport)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoints: %w", err)
	}
	hub.Proofs = proofs
	exts := append(gov.Extensions(), alertsExt, reports.Extension(), query.ExplainExtension(hub.Reader), (&query.Proofs{Reader: hub.Reader, Prover: proofs}).Extension())
	schema, err := query.Schema(hub.Reader, exts...)
	if err != nil {
		return nil, fmt.Errorf("graphql schema: %w", err)
	}
	authn, err := NewAuthenticator(cfg.Auth)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &query.Handler{Schema: schema, Auth: authn, Observe: hub.Metrics.ObserveGraphQL})
	gov.Mount(mux, authn)
	MountReports(mux, reports, authn)
	if cfg.HTTP.MetricsEnabled() {
		mux.Handle("/metrics", metrics.Handler(hub.Registry))
	}
	if err := hub.mountHTTPIngest(mux, brokers, transport); err != nil {
		return nil, err
	}
	hub.registerChecks(rawMgr, transport, brokers)
	hub.Health.Mount(mux)
	hub.listener, err = net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen %s: %w", cfg.HTTP.Addr, err)
	}
	hub.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 90 * time.Second} // above body read + ingest publish timeout

	hub.consumer = kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, GroupID: cfg.Kafka.Group, GroupTopics: cfg.Kafka.Topics(),
		Dialer:      dialer,
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
		QueueCapacity:     2 * hub.Pipeline.BatchSize(), // fetch ahead while a batch is being made durable
		CommitInterval:    0,                            // synchronous: CommitMessages returns once the broker has the offsets
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: 500 * time.Millisecond, ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 250 * time.Millisecond,
	})

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hub.cancel = cancel
	hub.startCheckpoints(runCtx, proofs)
	if err := hub.startGateways(runCtx, brokers, transport); err != nil {
		cancel()
		return nil, err
	}
	hub.wg.Go(func() {
		if err := hub.Pipeline.Run(runCtx, hub.consumer); err != nil {
			log.Error("ingest stopped", "err", err)
		}
	})
	hub.wg.Go(func() { hub.observeConsumer(runCtx) })
	hub.wg.Go(func() { gov.Watch(runCtx) })
	if (cfg.Policy.Dir != "" || cfg.Policy.Bundle != "") && cfg.Policy.Reload > 0 {
		hub.wg.Go(func() { hub.watchPolicy(runCtx) })
	}
	hub.wg.Go(func() {
		if err := hub.http.Serve(hub.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	})
	log.Info("hub started", "instance", cfg.Instance, "graphql", hub.GraphQLURL(), "policy", hub.Policy.Revision(),
		"store", cfg.Store.Backend, "keys", cfg.Keys.Backend, "topics", strings.Join(cfg.Kafka.Topics(), ","))
	return hub, nil
}

// KeyManager opens the configured key manager and returns it with its
// closer.
func KeyManager(ctx context.Context, cfg *config.Config, log *slog.Logger) (keys.Manager, func() error, error) {
	noop := func() error { return nil }
	switch cfg.Keys.Backend {
	case "local":
		if strings.TrimSpace(os.Getenv(local.EnvKEK)) != "" {
			// Set means meant: a malformed key is an error, never a silent
			// fall-back to (or creation of) a keyring file.
			kr, err := local.FromEnv()
			return kr, noop, err
		}
		kr, err := local.Open(cfg.Keys.Local.Path)
		return kr, noop, err
	case "vault":
		m, err := vault.New(ctx, cfg.Keys.Vault, log)
		if err != nil {
			return nil, nil, err
		}
		if err := m.EnsureKey(ctx); err != nil {
			m.Close()
			return nil, nil, err
		}
		return m, m.Close, nil
	default:
		return nil, nil, fmt.Errorf("keys.backend %q unknown; valid: %s", cfg.Keys.Backend, strings.Join(config.KeyBackends, ", "))
	}
}

// Labeler builds the sensitivity labeller from the configured code lists
// (or the built-in starter lists).
func Labeler(cfg *config.Config) (*labels.Labeler, error) {
	lc := labels.Default()
	if cfg.Labels.File != "" {
		var err error
		if lc, err = labels.Load(cfg.Labels.File); err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
	}
	return labels.New(lc)
}

// GraphQLURL is the API endpoint.
func (h *Hub) GraphQLURL() string {
	if h.listener == nil {
		return ""
	}
	return "http://" + h.listener.Addr().String() + "/graphql"
}

// Brokers returns the bootstrap addresses the hub consumes from.
func (h *Hub) Brokers() []string {
	if h.Broker != nil {
		return h.Broker.Addrs()
	}
	return h.Config.Kafka.Brokers
}

// VerifyAudit walks the audit chains.
func (h *Hub) VerifyAudit(ctx context.Context) (audit.Report, error) {
	return audit.Verify(ctx, h.Store)
}

// Close stops ingest and the API, then closes every component in reverse
// order of opening. Work in flight finishes or is left uncommitted, never
// half-done: an uncommitted batch is redelivered on the next start.
func (h *Hub) Close() error {
	if h.Health != nil {
		h.Health.Drain() // readiness fails first, so traffic moves away
	}
	if h.cancel != nil {
		h.cancel()
	}
	for _, g := range h.mllp {
		_ = g.Close() // senders get their ACKs for messages in flight
	}
	if h.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.http.Shutdown(sctx); err != nil {
			// Handlers still running (a long export): cut their
			// connections before the store closes under them.
			_ = h.http.Close()
		}
		cancel()
	}
	h.wg.Wait()
	var errs []error
	if h.consumer != nil {
		errs = append(errs, h.consumer.Close())
	}
	for i := len(h.closers) - 1; i >= 0; i-- {
		errs = append(errs, h.closers[i]())
	}
	h.closers = nil
	return errors.Join(errs...)
}
