package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/server"
	"github.com/segmentio/kafka-go"
)

// mllpSend sends one HL7 v2 message over MLLP on a new connection and
// returns the ACK.
func mllpSend(t testing.TB, addr, msg string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := mllp.WriteFrame(conn, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	ack, err := mllp.NewReader(bufio.NewReader(conn), 1<<20).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	return string(ack)
}

// sourceToken mints the token of a source system for the HTTP gateway.
func sourceToken(t testing.TB, h *server.Hub, source string) string {
	t.Helper()
	s, err := auth.LoadSigner(h.Config.Auth.DevSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Mint(auth.Claims{Subject: source, Roles: []string{"source-system"}, Kind: "application",
		Issuer: h.Config.Auth.Issuer, Audience: h.Config.Auth.Audience}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mintUser mints a user token for one role and purpose; fhirUser (SMART)
// names the user's Practitioner, which care relationships are keyed by.
func mintUser(t testing.TB, h *server.Hub, sub, role, purpose, fhirUser string) string {
	t.Helper()
	s, err := auth.LoadSigner(h.Config.Auth.DevSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Mint(auth.Claims{Subject: sub, Roles: []string{role}, Purposes: []string{purpose}, Application: "e2e",
		FHIRUser: fhirUser, Issuer: h.Config.Auth.Issuer, Audience: h.Config.Auth.Audience}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// postIngest posts body to the HTTP ingest gateway and returns the status.
func postIngest(t testing.TB, h *server.Hub, token, path, contentType, body string) int {
	t.Helper()
	base := strings.TrimSuffix(h.GraphQLURL(), "/graphql")
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitEvent polls the audit log until an event matches and returns it.
func waitEvent(t testing.TB, h *server.Hub, f audit.Filter, match func(audit.Event) bool, what string) audit.Event {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		f.Limit = 10000
		evs, err := h.Store.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if match == nil || match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event after 60s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// events returns the audit events matching f and match.
func events(t testing.TB, h *server.Hub, f audit.Filter, match func(audit.Event) bool) []audit.Event {
	t.Helper()
	f.Limit = 10000
	evs, err := h.Store.Query(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range evs {
		if match == nil || match(e) {
			out = append(out, e)
		}
	}
	return out
}

// topicMessages returns every message a topic holds now (none when it
// does not exist), partition by partition.
func topicMessages(t testing.TB, h *server.Hub, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", h.Brokers()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil // unknown topic: nothing was ever written to it
	}
	var out []kafka.Message
	for _, p := range parts {
		if p.Topic != topic {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		lc, err := kafka.DialLeader(ctx, "tcp", h.Brokers()[0], topic, p.ID)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		first, last, err := lc.ReadOffsets()
		lc.Close()
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if last > first {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.Brokers(), Topic: topic, Partition: p.ID, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 50 * time.Millisecond})
			if err := r.SetOffset(first); err != nil {
				t.Fatal(err)
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					r.Close()
					cancel()
					t.Fatalf("read %s/%d: %v", topic, p.ID, err)
				}
				out = append(out, m)
				if m.Offset >= last-1 {
					break
				}
			}
			r.Close()
		}
		cancel()
	}
	return out
}

// outbound is one resource a subscriber received, alone or in a Bundle.
type outbound struct {
	patient  string // message key: the enterprise patient id
	resource map[string]any
	bundle   string // Bundle.type when it came in a Bundle
	msg      kafka.Message
}

// outboundResources returns the resources of every message on a topic.
func outboundResources(t testing.TB, h *server.Hub, topic string) []outbound {
	t.Helper()
	var out []outbound
	for _, m := range topicMessages(t, h, topic) {
		var res map[string]any
		if err := json.Unmarshal(m.Value, &res); err != nil {
			t.Fatalf("%s: message is not JSON: %v", topic, err)
		}
		if res["resourceType"] != "Bundle" {
			out = append(out, outbound{patient: string(m.Key), resource: res, msg: m})
			continue
		}
		typ, _ := res["type"].(string)
		entries, _ := res["entry"].([]any)
		for _, e := range entries {
			r, _ := e.(map[string]any)["resource"].(map[string]any)
			out = append(out, outbound{patient: string(m.Key), resource: r, bundle: typ, msg: m})
		}
	}
	return out
}

// waitOutbound waits until topic holds a resource of typ for patient.
func waitOutbound(t testing.TB, h *server.Hub, topic, patient, typ string) outbound {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, o := range outboundResources(t, h, topic) {
			if o.patient == patient && o.resource["resourceType"] == typ {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s for %s on %s after 30s", typ, patient, topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
