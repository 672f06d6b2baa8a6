package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Gateway label values: the MLLP gateway's connection events, ACK codes
// and frame errors (mllp.ConnOpened, mllp.AckAccept, mllp.FrameTooLarge,
// ...), the HTTP ingest gateway's routes and status classes.
var (
	mllpConnEvents  = set("opened", "closed", "refused")
	mllpAcks        = set("AA", "AE", "AR")
	mllpFrameErrors = set("too_large", "no_start_block", "timeout", "broken")
	httpRoutes      = set("fhir-bundle", "fhir-resource", "dicom", "unknown")
)

// gateways are the collectors of the MLLP and HTTP ingest gateways.
type gateways struct {
	mllpConns       *prometheus.CounterVec   // source, event
	mllpOpen        *prometheus.GaugeVec     // source
	mllpMessages    *prometheus.CounterVec   // source, ack
	mllpFrameErrors *prometheus.CounterVec   // source, kind
	mllpAckLatency  *prometheus.HistogramVec // source
	httpRequests    *prometheus.CounterVec   // route, class
	httpDuration    *prometheus.HistogramVec // route
}

// latencyBuckets cover an in-memory round trip (tens of µs) to a slow
// Kafka acknowledgement (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newGateways() gateways {
	return gateways{
		mllpConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "mllp", Name: "connections_total",
			Help: "MLLP connections by listener source and event (opened, closed, refused: max_conns reached).",
		}, []string{"source", "event"}),
		mllpOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "mllp", Name: "connections_open",
			Help: "MLLP connections open now, by listener source.",
		}, []string{"source"}),
		mllpMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "mllp", Name: "messages_total",
			Help: "MLLP frames answered, by listener source and acknowledgment code (AA in Kafka, AE retry later, AR rejected).",
		}, []string{"source", "ack"}),
		mllpFrameErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "mllp", Name: "frame_errors_total",
			Help: "MLLP framing failures, by listener source and kind (too_large, no_start_block, timeout, broken).",
		}, []string{"source", "kind"}),
		mllpAckLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "mllp", Name: "ack_duration_seconds",
			Help:    "Time from a frame's last byte to its ACK written (parse, Kafka acknowledgement), by listener source.",
			Buckets: latencyBuckets,
		}, []string{"source"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http_ingest", Name: "requests_total",
			Help: "HTTP ingest requests, by route (fhir-bundle, fhir-resource, dicom, unknown) and status class (2xx, 4xx, 5xx).",
		}, []string{"route", "class"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http_ingest", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP ingest request (validation, Kafka acknowledgement), by route.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
	}
}

func (g gateways) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.mllpConns, g.mllpOpen, g.mllpMessages, g.mllpFrameErrors, g.mllpAckLatency, g.httpRequests, g.httpDuration}
}

// MLLPConnection counts a connection event of the MLLP listener of source
// (mllp.Observer).
func (m *Metrics) MLLPConnection(source, event string) {
	if m == nil {
		return
	}
	source, event = m.sourceLabel(source), closed(mllpConnEvents, event)
	m.gw.mllpConns.WithLabelValues(source, event).Inc()
	switch event {
	case "opened":
		m.gw.mllpOpen.WithLabelValues(source).Inc()
	case "closed":
		m.gw.mllpOpen.WithLabelValues(source).Dec()
	}
}

// MLLPMessage counts one answered MLLP frame by its ACK code and observes
// the time to answer it (mllp.Observer).
func (m *Metrics) MLLPMessage(source, ack string, d time.Duration) {
	if m == nil {
		return
	}
	source = m.sourceLabel(source)
	m.gw.mllpMessages.WithLabelValues(source, closed(mllpAcks, ack)).Inc()
	m.gw.mllpAckLatency.WithLabelValues(source).Observe(d.Seconds())
}

// MLLPFrameError counts an MLLP framing failure (mllp.Observer).
func (m *Metrics) MLLPFrameError(source, kind string) {
	if m == nil {
		return
	}
	m.gw.mllpFrameErrors.WithLabelValues(m.sourceLabel(source), closed(mllpFrameErrors, kind)).Inc()
}

// ObserveHTTPIngest counts one HTTP ingest request by route and status
// class and observes its duration (httpingest.Observer).
func (m *Metrics) ObserveHTTPIngest(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	route = closed(httpRoutes, route)
	m.gw.httpRequests.WithLabelValues(route, statusClass(status)).Inc()
	m.gw.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// statusClass is "2xx" ... "5xx", or Other.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return Other
	}
	return string(rune('0'+status/100)) + "xx"
}
