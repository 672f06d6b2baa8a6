package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/carecrest/hub/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// The hub builds one Metrics on its own registry, hands it to its
// components and serves the registry at /metrics.
func Example() {
	reg := prometheus.NewRegistry() // metrics.NewRegistry() adds Go and process metrics
	m := metrics.New(reg)

	m.IngestMessages("lis", metrics.ResultStored, 3)
	m.IngestMessages("lis", metrics.ResultRejected, 1)
	m.DeadLetter("CC1002W")
	m.ObservePolicyDecision("read", false, nil, 300*time.Microsecond)
	m.ObserveGraphQL("patient", "FORBIDDEN", 4*time.Millisecond)
	m.Redacted("Patient", 1)
	m.IngestMessages("P01JABCDEF0123456789", metrics.ResultStored, 1) // not a source name: "other"

	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "carecrest_hub_") && strings.Contains(line, "_total{") {
			fmt.Println(line)
		}
	}
	// Output:
	// carecrest_hub_ingest_dead_letters_total{reason_code="CC1002W"} 1
	// carecrest_hub_ingest_messages_total{result="rejected",source="lis"} 1
	// carecrest_hub_ingest_messages_total{result="stored",source="lis"} 3
	// carecrest_hub_ingest_messages_total{result="stored",source="other"} 1
	// carecrest_hub_policy_decisions_total{action="read",result="deny"} 1
	// carecrest_hub_query_graphql_requests_total{code="FORBIDDEN",operation="patient"} 1
	// carecrest_hub_query_redactions_total{type="Patient"} 1
}
