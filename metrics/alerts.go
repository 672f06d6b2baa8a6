package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Alerts are the anomalous-access alert collectors (package alert). They
// are separate from Metrics so that a hub without alerts registers none.
// Labels are closed sets: rule ids given at construction, sink names from
// a fixed list; no actor or patient ever becomes a label.
type Alerts struct {
	raised      *prometheus.CounterVec   // rule
	deliveries  *prometheus.CounterVec   // sink, result
	delay       *prometheus.HistogramVec // sink
	dropped     *prometheus.CounterVec   // sink
	feedDropped prometheus.Counter
	rules       map[string]bool
}

// Alert sink names.
var alertSinks = map[string]bool{"kafka": true, "webhook": true, "test": true}

// NewAlerts registers the alert collectors with reg (nil: none) for the
// given rule ids; other rule ids count as "other".
func NewAlerts(reg prometheus.Registerer, rules []string) *Alerts {
	a := &Alerts{
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "alerts_total",
			Help: "Anomalous-access alerts raised and durably recorded, by rule.",
		}, []string{"rule"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "alerts", Name: "deliveries_total",
			Help: "Alert deliveries to sinks, by sink and result (ok, retry, failed).",
		}, []string{"sink", "result"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "alerts", Name: "delay_seconds",
			Help:    "Delay from the access (audit event time) to the alert's delivery by a sink.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "alerts", Name: "dropped_total",
			Help: "Alerts a sink dropped because its queue was full (they stay recorded in the audit log).",
		}, []string{"sink"}),
		feedDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "alerts", Name: "feed_dropped_events_total",
			Help: "Audit events the in-process alert feed could not queue (the poller sees them).",
		}),
		rules: map[string]bool{},
	}
	for _, r := range rules {
		a.rules[r] = true
	}
	if reg != nil {
		reg.MustRegister(a.raised, a.deliveries, a.delay, a.dropped, a.feedDropped)
	}
	return a
}

// AlertRaised counts one recorded alert of rule.
func (a *Alerts) AlertRaised(rule string) {
	if a == nil {
		return
	}
	if !a.rules[rule] {
		rule = "other"
	}
	a.raised.WithLabelValues(rule).Inc()
}

// AlertDelivery records one delivery attempt's result (ok, retry, failed)
// by a sink; on ok, delay is the time from the access to delivery.
func (a *Alerts) AlertDelivery(sink, result string, delay time.Duration) {
	if a == nil {
		return
	}
	if !alertSinks[sink] {
		sink = "other"
	}
	switch result {
	case "ok", "retry", "failed":
	default:
		result = "other"
	}
	a.deliveries.WithLabelValues(sink, result).Inc()
	if result == "ok" {
		a.delay.WithLabelValues(sink).Observe(delay.Seconds())
	}
}

// AlertDropped counts an alert a sink's full queue dropped.
func (a *Alerts) AlertDropped(sink string) {
	if a == nil {
		return
	}
	if !alertSinks[sink] {
		sink = "other"
	}
	a.dropped.WithLabelValues(sink).Inc()
}

// AlertFeedDropped counts audit events the in-process feed dropped.
func (a *Alerts) AlertFeedDropped(n int) {
	if a == nil {
		return
	}
	a.feedDropped.Add(float64(n))
}
