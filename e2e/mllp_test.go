package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/mllp"
)

// TestRegistrationOverMLLP: a registration system sends ADT^A04 over MLLP;
// the ACK (AA, MSA-2 = MSH-10) comes only after Kafka has the message; the
// patient is then readable over GraphQL; a retransmission stores nothing
// twice.
func TestRegistrationOverMLLP(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateways.MLLP = []mllp.Config{{Addr: "127.0.0.1:0", Source: "registration"}}
	h := startWith(t, cfg)

	conn, err := net.Dial("tcp", h.MLLPAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := mllp.NewReader(bufio.NewReader(conn), 1<<20)
	adt := "MSH|^~\\&|REGSYS|H|HUB|H|20261125093000||ADT^A04^ADT_A01|REG0001|P|2.5.1\r" +
		"PID|1||MRN8801^^^H&1.2.3&ISO^MR||Lindqvist^Jonas||19750412|M|||4 Mill Street^^Ashford^ST^00000\r"
	send := func() string {
		if err := mllp.WriteFrame(conn, []byte(adt)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		ack, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		return string(ack)
	}
	ack := send()
	if !strings.Contains(ack, "MSA|AA|REG0001") {
		t.Fatalf("ACK = %q, want MSA|AA|REG0001", ack)
	}
	waitMessagesTB(t, h, 1)
	if again := send(); !strings.Contains(again, "MSA|AA|REG0001") {
		t.Fatalf("retransmission ACK = %q", again)
	}
	time.Sleep(200 * time.Millisecond)
	if n, _ := h.Store.CountRecords(context.Background()); n != 1 {
		t.Fatalf("records = %d after a retransmission, want 1", n)
	}
	tok := mintTB(t, h, "rc.ward", []string{"registration_clerk"}, []string{"HOPERAT"})
	p := patientOf(t, gql(t, h, tok, `{ patient(identifier: "urn:oid:1.2.3|MRN8801") { name { family } address { city } } }`, nil))
	if p["name"].([]any)[0].(map[string]any)["family"] != "Lindqvist" {
		t.Fatalf("patient = %v", p)
	}

	// The gateway's metrics: both frames answered AA, one connection open.
	resp, err := http.Get(strings.TrimSuffix(h.GraphQLURL(), "/graphql") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`carecrest_hub_mllp_messages_total{ack="AA",source="registration"} 2`,
		`carecrest_hub_mllp_connections_open{source="registration"} 1`,
		`carecrest_hub_mllp_ack_duration_seconds_count{source="registration"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, phi := range []string{"Lindqvist", "MRN8801", "REG0001"} {
		if strings.Contains(string(body), phi) {
			t.Errorf("/metrics contains %q", phi)
		}
	}
}
