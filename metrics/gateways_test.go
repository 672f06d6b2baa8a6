package metrics_test

import (
	"testing"
	"time"

	"github.com/carecrest/hub/httpingest"
	"github.com/carecrest/hub/metrics"
	"github.com/carecrest/hub/mllp"
	"github.com/prometheus/client_golang/prometheus"
)

// The gateways report to the hub's metrics.
var (
	_ mllp.Observer       = (*metrics.Metrics)(nil)
	_ httpingest.Observer = (*metrics.Metrics)(nil)
)

func TestGatewayMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.MLLPConnection("lis", mllp.ConnOpened)
	m.MLLPConnection("lis", mllp.ConnOpened)
	m.MLLPConnection("lis", mllp.ConnClosed)
	m.MLLPConnection("lis", mllp.ConnRefused)
	m.MLLPMessage("lis", mllp.AckAccept, 2*time.Millisecond)
	m.MLLPMessage("lis", mllp.AckAccept, 3*time.Millisecond)
	m.MLLPMessage("lis", mllp.AckError, time.Second)
	m.MLLPMessage("lis", mllp.AckReject, time.Millisecond)
	m.MLLPFrameError("lis", mllp.FrameTooLarge)
	m.MLLPFrameError("lis", mllp.FrameNoStartBlock)
	m.ObserveHTTPIngest("fhir-resource", 202, 5*time.Millisecond)
	m.ObserveHTTPIngest("fhir-resource", 422, time.Millisecond)
	m.ObserveHTTPIngest("dicom", 503, time.Second)
	m.ObserveHTTPIngest("unknown", 999, 0)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"carecrest_hub_mllp_connections_total", []string{"source", "lis", "event", "opened"}, 2},
		{"carecrest_hub_mllp_connections_total", []string{"source", "lis", "event", "refused"}, 1},
		{"carecrest_hub_mllp_connections_open", []string{"source", "lis"}, 1},
		{"carecrest_hub_mllp_messages_total", []string{"source", "lis", "ack", "AA"}, 2},
		{"carecrest_hub_mllp_messages_total", []string{"source", "lis", "ack", "AE"}, 1},
		{"carecrest_hub_mllp_messages_total", []string{"source", "lis", "ack", "AR"}, 1},
		{"carecrest_hub_mllp_ack_duration_seconds", []string{"source", "lis"}, 4},
		{"carecrest_hub_mllp_frame_errors_total", []string{"source", "lis", "kind", "too_large"}, 1},
		{"carecrest_hub_mllp_frame_errors_total", []string{"source", "lis", "kind", "no_start_block"}, 1},
		{"carecrest_hub_http_ingest_requests_total", []string{"route", "fhir-resource", "class", "2xx"}, 1},
		{"carecrest_hub_http_ingest_requests_total", []string{"route", "fhir-resource", "class", "4xx"}, 1},
		{"carecrest_hub_http_ingest_requests_total", []string{"route", "dicom", "class", "5xx"}, 1},
		{"carecrest_hub_http_ingest_requests_total", []string{"route", "unknown", "class", "other"}, 1},
		{"carecrest_hub_http_ingest_request_duration_seconds", []string{"route", "fhir-resource"}, 2},
	} {
		if got := gathered(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// gathered returns a series' value (a histogram's sample count).
func gathered(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			if len(s.GetLabel())*2 != len(labels) {
				continue
			}
			for _, lp := range s.GetLabel() {
				found := false
				for j := 0; j+1 < len(labels); j += 2 {
					if labels[j] == lp.GetName() && labels[j+1] == lp.GetValue() {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case s.GetCounter() != nil:
				return s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				return s.GetGauge().GetValue()
			case s.GetHistogram() != nil:
				return float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}
