// Package metrics holds the hub's Prometheus collectors and the small typed
// methods components call to record what they did, one line per call site:
//
//	m.IngestMessages(source, metrics.ResultStored, n)
//	m.ObservePolicyDecision(policy.ActionRead, d.Allow, err, time.Since(start))
//
// Label values are never taken on trust. Every label comes from a closed
// set (result names, audit event codes, FHIR R4 resource types, GraphQL
// operations and error codes) or is checked against a pattern and capped in
// number (source system names, topics). Anything else is counted as
// "other". No method takes a patient id, an actor id, an identifier or any
// other PHI: metrics leave the compliance boundary (scrapers, dashboards,
// long-term storage) and must not be able to carry it.
//
// There are no globals: New registers the collectors with the registry it
// is given, so tests use their own registry and a process can run several
// hubs. A nil *Metrics is valid and records nothing, so a component can
// hold one unconditionally.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name the hub exports.
const Namespace = "carecrest_hub"

// Metrics is the hub's set of collectors. Its methods are safe for
// concurrent use and are no-ops on a nil receiver.
type Metrics struct {
	// ingest
	ingestMessages    *prometheus.CounterVec   // source, result
	recordsStored     *prometheus.CounterVec   // type
	batchDuration     prometheus.Histogram     // seconds
	batchSize         prometheus.Histogram     // messages
	batchesFailed     *prometheus.CounterVec   // cause
	deadLetters       *prometheus.CounterVec   // reason_code
	consumerLag       *prometheus.GaugeVec     // topic, partition
	readerQueue       prometheus.Gauge         // messages fetched ahead
	readerErrors      prometheus.Counter       // kafka-go reader errors
	readerRebalances  prometheus.Counter       // consumer group rebalances
	readerTimeouts    prometheus.Counter       // fetch timeouts
	policyDecisions   *prometheus.CounterVec   // action, result
	policyDuration    *prometheus.HistogramVec // action
	auditAppend       prometheus.Histogram     // seconds
	auditFailures     prometheus.Counter       //
	auditEvents       *prometheus.CounterVec   // code
	keyCacheHits      prometheus.Counter       //
	keyCacheMisses    prometheus.Counter       //
	keyCalls          *prometheus.CounterVec   // operation, result
	keyDuration       *prometheus.HistogramVec // operation
	graphqlRequests   *prometheus.CounterVec   // operation, code
	graphqlDuration   *prometheus.HistogramVec // operation
	redactions        *prometheus.CounterVec   // type
	gw                gateways                 // MLLP and HTTP ingest gateways
	sources, topicKey *boundedSet
}

// New returns the hub's collectors registered with reg. It panics if reg
// already holds collectors of the same names (a wiring error, as with
// promauto). A nil reg registers nothing, which is useful in tests that do
// not look at metrics.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ingestMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "messages_total",
			Help: "Inbound Kafka messages processed, by source system and result (stored, duplicate, rejected).",
		}, []string{"source", "result"}),
		recordsStored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "records_stored_total",
			Help: "Records newly stored, by FHIR resource type.",
		}, []string{"type"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "batch_duration_seconds",
			Help:    "Time from a batch's first processing attempt until it is durable (decode, link, decide, seal, commit, dead-letter), retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "batch_size_messages",
			Help:    "Messages per batch.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000},
		}),
		batchesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "batches_failed_total",
			Help: "Batch attempts that could not be made durable and are retried (offsets not committed), by cause.",
		}, []string{"cause"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "dead_letters_total",
			Help: "Messages sent to the dead-letter topic, by reason code (audit event code).",
		}, []string{"reason_code"}),
		consumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "consumer_lag_messages",
			Help: "Messages behind the end of the partition. topic=\"all\" partition=\"-1\" is what a kafka-go consumer-group reader reports for its most recent fetch.",
		}, []string{"topic", "partition"}),
		readerQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "reader_queue_messages",
			Help: "Messages fetched ahead and waiting in the Kafka reader's queue.",
		}),
		readerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "reader_errors_total",
			Help: "Errors reported by the Kafka reader.",
		}),
		readerRebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "reader_rebalances_total",
			Help: "Consumer group rebalances seen by the Kafka reader.",
		}),
		readerTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "ingest", Name: "reader_timeouts_total",
			Help: "Fetch timeouts seen by the Kafka reader.",
		}),
		policyDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "policy", Name: "decisions_total",
			Help: "Policy decisions, by action (write, read, route) and result (allow, deny, error).",
		}, []string{"action", "result"}),
		policyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "policy", Name: "decision_duration_seconds",
			Help:    "Time to evaluate one policy decision, by action.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}, []string{"action"}),
		auditAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "audit", Name: "append_duration_seconds",
			Help:    "Time to durably append audit events (one call, one or more events).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "audit", Name: "append_failures_total",
			Help: "Audit appends that failed; the request or batch behind each failed closed.",
		}),
		auditEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "audit", Name: "events_total",
			Help: "Audit events durably appended, by event code.",
		}, []string{"code"}),
		keyCacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "keys", Name: "cache_hits_total",
			Help: "Data-key lookups answered from the in-memory cache.",
		}),
		keyCacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "keys", Name: "cache_misses_total",
			Help: "Data-key lookups that had to load (and unwrap or generate) the key.",
		}),
		keyCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "keys", Name: "manager_calls_total",
			Help: "Calls to the key manager (local keyring or Vault Transit), by operation and result.",
		}, []string{"operation", "result"}),
		keyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "keys", Name: "manager_call_duration_seconds",
			Help:    "Time of one key-manager call, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		graphqlRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "query", Name: "graphql_requests_total",
			Help: "GraphQL requests, by top-level operation and result code (OK or the API error code).",
		}, []string{"operation", "code"}),
		graphqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "query", Name: "graphql_request_duration_seconds",
			Help:    "Time to answer a GraphQL request, audit write included, by top-level operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		redactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "query", Name: "redactions_total",
			Help: "Requested elements masked by minimum-necessary policy, by FHIR resource type.",
		}, []string{"type"}),
		gw:       newGateways(),
		sources:  newBoundedSet(maxSources, validSource),
		topicKey: newBoundedSet(maxTopicPartitions, validTopicPartition),
	}
	if reg != nil {
		reg.MustRegister(m.collectors()...)
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return append(m.gw.collectors(),
		m.ingestMessages, m.recordsStored, m.batchDuration, m.batchSize, m.batchesFailed, m.deadLetters,
		m.consumerLag, m.readerQueue, m.readerErrors, m.readerRebalances, m.readerTimeouts,
		m.policyDecisions, m.policyDuration,
		m.auditAppend, m.auditFailures, m.auditEvents,
		m.keyCacheHits, m.keyCacheMisses, m.keyCalls, m.keyDuration,
		m.graphqlRequests, m.graphqlDuration, m.redactions,
	)
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors, to pass to New and Handler. (The global default registry is
// not used, so nothing a dependency registers there is exported.)
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the metrics gathered from g in the Prometheus text (or
// OpenMetrics, when asked) exposition format, for /metrics. A collector that
// fails is reported in the response and the rest are still served; at most
// a few scrapes run at once and each is bounded in time.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})
}
