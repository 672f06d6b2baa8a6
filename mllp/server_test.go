package mllp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/carecrest/hub/hl7"
	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
)

// fakePublisher records published messages and fails while fail is set.
type fakePublisher struct {
	mu   sync.Mutex
	msgs []kafka.Message
	fail error
}

func (p *fakePublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *fakePublisher) setFail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

func (p *fakePublisher) published() []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]kafka.Message(nil), p.msgs...)
}

// checkLeaks fails the test if goroutines it started outlive it (checked
// after every other cleanup, so after the server's Close).
func checkLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// startServer serves cfg (Source "lab" unless set) on a loopback port and
// stops it at the end of the test.
func startServer(t testing.TB, cfg Config, pub Publisher) (string, *Server) {
	t.Helper()
	if cfg.Source == "" {
		cfg.Source = "lab"
	}
	srv, err := New(cfg, Deps{Publisher: pub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String(), srv
}

// client is a test MLLP sender.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := NewReader(conn, 1<<20)
	r.Timeout = 10 * time.Second
	return &client{t: t, conn: conn, r: r}
}

// send writes one frame and returns the parsed ACK.
func (c *client) send(msg string) *hl7.Message {
	c.t.Helper()
	if err := WriteFrame(c.conn, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
	return c.readAck()
}

func (c *client) readAck() *hl7.Message {
	c.t.Helper()
	frame, err := c.r.ReadFrame()
	if err != nil {
		c.t.Fatalf("reading ACK: %v", err)
	}
	ack, err := hl7.Parse(frame, hl7.Limits{})
	if err != nil {
		c.t.Fatalf("ACK does not parse: %v\n%q", err, frame)
	}
	return ack
}

// adt returns a synthetic ADT^A01 with control id id; sep separates segments.
func adt(id, sep string) string {
	return strings.Join([]string{
		`MSH|^~\&|REGAPP|NORTHCLINIC|HUB|CARECREST|20240305081522+0100||ADT^A01^ADT_A01|` + id + `|P|2.5.1`,
		`EVN|A01|20240305081500+0100`,
		`PID|1||MRN-1001^^^NorthClinic^MR||Quill^Ada||19800229|F`,
		`PV1|1|I`,
	}, sep) + sep
}

func wantAck(t *testing.T, ack *hl7.Message, code, msa2 string) {
	t.Helper()
	if got := ack.Get("MSA-1"); got != code {
		t.Errorf("MSA-1 = %q, want %q (MSA-3 %q)", got, code, ack.Get("MSA-3"))
	}
	if got := ack.Get("MSA-2"); got != msa2 {
		t.Errorf("MSA-2 = %q, want %q", got, msa2)
	}
}

func TestAcceptRoundTrip(t *testing.T) {
	checkLeaks(t)
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{}, pub)
	c := dial(t, addr)
	ack := c.send(adt("CTRL-1", "\r"))
	wantAck(t, ack, AckAccept, "CTRL-1")

	// The ACK mirrors the inbound header.
	for _, tc := range []struct{ path, want string }{
		{"MSH-3", "HUB"}, {"MSH-4", "CARECREST"}, {"MSH-5", "REGAPP"}, {"MSH-6", "NORTHCLINIC"},
		{"MSH-9", "ACK^A01^ACK"}, {"MSH-11", "P"}, {"MSH-12", "2.5.1"},
	} {
		if got := ack.Get(tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
	if id := ack.ControlID(); id == "" || id == "CTRL-1" {
		t.Errorf("ACK control id %q: want a new one", id)
	}
	if ack.Segment("ERR") != nil {
		t.Error("AA carries an ERR segment")
	}

	msgs := pub.published()
	if len(msgs) != 1 {
		t.Fatalf("published %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Topic != "hub.in.lab" {
		t.Errorf("topic %q", m.Topic)
	}
	if string(m.Value) != adt("CTRL-1", "\r") {
		t.Errorf("value is not the raw message: %q", m.Value)
	}
	if string(m.Key) != "REGAPP|NORTHCLINIC" {
		t.Errorf("key %q", m.Key)
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[HeaderContentType] != "application/hl7-v2" || headers[HeaderControlID] != "CTRL-1" ||
		headers[HeaderMessageType] != "ADT^A01^ADT_A01" || !strings.HasPrefix(headers[HeaderPeer], "127.0.0.1:") {
		t.Errorf("headers %v", headers)
	}
	if _, err := time.Parse(time.RFC3339Nano, headers[HeaderReceived]); err != nil {
		t.Errorf("received header: %v", err)
	}
}

func TestSegmentTerminators(t *testing.T) {
	for name, sep := range map[string]string{"CR": "\r", "LF": "\n", "CRLF": "\r\n"} {
		t.Run(name, func(t *testing.T) {
			pub := &fakePublisher{}
			addr, _ := startServer(t, Config{}, pub)
			wantAck(t, dial(t, addr).send(adt("T-"+name, sep)), AckAccept, "T-"+name)
			if n := len(pub.published()); n != 1 {
				t.Fatalf("published %d", n)
			}
		})
	}
}

func TestTwoMessagesOneConnection(t *testing.T) {
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{}, pub)
	c := dial(t, addr)
	wantAck(t, c.send(adt("ONE", "\r")), AckAccept, "ONE")
	wantAck(t, c.send(adt("TWO", "\r")), AckAccept, "TWO")

	// Pipelined: both frames (and garbage between them) in one write.
	var buf bytes.Buffer
	WriteFrame(&buf, []byte(adt("THREE", "\r")))
	buf.WriteString("\n junk ")
	WriteFrame(&buf, []byte(adt("FOUR", "\r")))
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	wantAck(t, c.readAck(), AckAccept, "THREE")
	wantAck(t, c.readAck(), AckAccept, "FOUR")
	if n := len(pub.published()); n != 4 {
		t.Fatalf("published %d, want 4", n)
	}
}

func TestRetransmissionPublishedOnce(t *testing.T) {
	pub := &fakePublisher{}
	addr, srv := startServer(t, Config{}, pub)
	wantAck(t, dial(t, addr).send(adt("DUP-1", "\r")), AckAccept, "DUP-1")
	// The sender lost the ACK, reconnects and resends.
	wantAck(t, dial(t, addr).send(adt("DUP-1", "\r")), AckAccept, "DUP-1")
	if n := len(pub.published()); n != 1 {
		t.Fatalf("published %d times, want once", n)
	}
	// Same control id from another sending facility is another message.
	other := strings.Replace(adt("DUP-1", "\r"), "NORTHCLINIC", "SOUTHCLINIC", 1)
	wantAck(t, dial(t, addr).send(other), AckAccept, "DUP-1")
	// Same id and sender but different content: published, the hub decides.
	changed := strings.Replace(adt("DUP-1", "\r"), "PV1|1|I", "PV1|1|O", 1)
	wantAck(t, dial(t, addr).send(changed), AckAccept, "DUP-1")
	if n := len(pub.published()); n != 3 {
		t.Fatalf("published %d, want 3", n)
	}
	if n := srv.dedup.len(); n != 2 {
		t.Errorf("cache holds %d keys, want 2", n)
	}
}

func TestPublishFailureIsAE(t *testing.T) {
	pub := &fakePublisher{}
	pub.setFail(errors.New("kafka: leader not available"))
	addr, _ := startServer(t, Config{}, pub)
	c := dial(t, addr)
	ack := c.send(adt("FAIL-1", "\r"))
	wantAck(t, ack, AckError, "FAIL-1")
	if ack.Get("MSA-3") == "" || ack.Get("ERR-3.1") != "207" || ack.Get("ERR-4") != "E" {
		t.Errorf("AE without reason: %q", ack.Text())
	}
	if strings.Contains(ack.Text(), "leader") {
		t.Errorf("ACK leaks an internal error: %q", ack.Text())
	}
	// Not remembered as acknowledged: the retry is published.
	pub.setFail(nil)
	wantAck(t, c.send(adt("FAIL-1", "\r")), AckAccept, "FAIL-1")
	if n := len(pub.published()); n != 1 {
		t.Fatalf("published %d, want 1", n)
	}
}

func TestRejections(t *testing.T) {
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{}, pub)
	for _, tc := range []struct {
		name, frame, msa2, reason string
	}{
		{"not HL7", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
		{"empty", "", "", "empty"},
		{"no MSH", "PID|1||MRN-1001^^^NorthClinic^MR||Quill^Ada\r", "", "no-msh"},
		{"binary", "\x00\x01\x02\xff\xfe", "", ""},
		{"bad segment after MSH", adt("BAD-1", "\r") + "this is not a segment Quill\r", "BAD-1", "bad-segment"},
		{"no control id", adt("", "\r"), "", ""},
		{"two messages", adt("A", "\r") + adt("B", "\r"), "A", "not-one-message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack := dial(t, addr).send(tc.frame)
			wantAck(t, ack, AckReject, tc.msa2)
			if ack.Segment("ERR") == nil || ack.Get("MSA-3") == "" {
				t.Errorf("AR without reason: %q", ack.Text())
			}
			if tc.reason != "" && !strings.Contains(ack.Get("MSA-3"), tc.reason) {
				t.Errorf("MSA-3 %q does not name %q", ack.Get("MSA-3"), tc.reason)
			}
			for _, secret := range []string{"Quill", "MRN-1001", "HTTP"} {
				if strings.Contains(ack.Text(), secret) {
					t.Errorf("ACK leaks message content %q: %q", secret, ack.Text())
				}
			}
		})
	}
	if n := len(pub.published()); n != 0 {
		t.Fatalf("published %d rejected messages", n)
	}
}

func TestAckUsesInboundDelimitersAndVersion(t *testing.T) {
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{}, pub)
	msg := "MSH#*@!%#LIS#MAIN#HUB#CC#20240101120000##ORU*R01#L-7#T#2.3\rPID###MRN-1\r"
	ack := dial(t, addr).send(msg)
	if !strings.HasPrefix(ack.Text(), "MSH#*@!%#HUB#CC#LIS#MAIN#") {
		t.Errorf("ACK header %q", ack.Header().Raw())
	}
	if got := ack.Header().Field(9).Raw(); got != "ACK*R01*ACK" {
		t.Errorf("MSH-9 %q", got)
	}
	wantAck(t, ack, AckAccept, "L-7")
	if ack.Get("MSH-11") != "T" || ack.Version() != "2.3" {
		t.Errorf("ACK MSH-11/12: %q", ack.Header().Raw())
	}
}

func TestFrameTooLarge(t *testing.T) {
	checkLeaks(t)
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{MaxFrame: 64 << 10}, pub)
	c := dial(t, addr)
	// 8 MiB of OBX: 128 times the limit.
	var big strings.Builder
	big.WriteString(adt("BIG-1", "\r"))
	line := "OBX|1|TX|NOTE||" + strings.Repeat("x", 1000) + "\r"
	for big.Len() < 8<<20 {
		big.WriteString(line)
	}
	done := make(chan *hl7.Message, 1)
	go func() { done <- c.send(big.String()) }()
	select {
	case ack := <-done:
		wantAck(t, ack, AckReject, "BIG-1")
		if !strings.Contains(ack.Get("MSA-3"), "too-large") {
			t.Errorf("MSA-3 %q", ack.Get("MSA-3"))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to an oversized frame")
	}
	// The connection is still in sync.
	wantAck(t, c.send(adt("AFTER-BIG", "\r")), AckAccept, "AFTER-BIG")
	if n := len(pub.published()); n != 1 {
		t.Fatalf("published %d, want 1", n)
	}
}

func TestGarbageWithoutFramingClosed(t *testing.T) {
	addr, _ := startServer(t, Config{MaxFrame: 1024}, &fakePublisher{})
	c := dial(t, addr)
	go c.conn.Write(bytes.Repeat([]byte("A"), 4096)) // never a start block
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c.conn); !closedByPeer(err) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

func TestIdleConnectionClosedByReadTimeout(t *testing.T) {
	addr, _ := startServer(t, Config{ReadTimeout: 200 * time.Millisecond}, &fakePublisher{})
	c := dial(t, addr)
	// Slowloris: a frame started and trickled, never finished.
	c.conn.Write([]byte{StartBlock, 'M'})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.conn.Write([]byte("S")); err != nil {
					return
				}
			}
		}
	}()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(c.conn); !closedByPeer(err) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestMaxConns(t *testing.T) {
	addr, _ := startServer(t, Config{MaxConns: 1}, &fakePublisher{})
	first := dial(t, addr)
	wantAck(t, first.send(adt("C-1", "\r")), AckAccept, "C-1")
	second := dial(t, addr)
	second.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("second connection served beyond MaxConns (n=%d err=%v)", n, err)
	}
	first.conn.Close()
	// The slot is free again (after the server notices the close).
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, addr)
		WriteFrame(c.conn, []byte(adt("C-2", "\r")))
		c.r.Timeout = time.Second
		if frame, err := c.r.ReadFrame(); err == nil {
			ack, _ := hl7.Parse(frame, hl7.Limits{})
			wantAck(t, ack, AckAccept, "C-2")
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("connection slot never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConcurrentConnections(t *testing.T) {
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{}, pub)
	const conns, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns*each)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			r := NewReader(conn, 1<<20)
			r.Timeout = 10 * time.Second
			for j := range each {
				id := fmt.Sprintf("C%d-%d", i, j)
				if err := WriteFrame(conn, []byte(adt(id, "\r"))); err != nil {
					errs <- err
					return
				}
				frame, err := r.ReadFrame()
				if err != nil {
					errs <- err
					return
				}
				ack, err := hl7.Parse(frame, hl7.Limits{})
				if err != nil || ack.Get("MSA-1") != AckAccept || ack.Get("MSA-2") != id {
					errs <- fmt.Errorf("bad ACK for %s: %q", id, frame)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(pub.published()); n != conns*each {
		t.Fatalf("published %d, want %d", n, conns*each)
	}
}

// panicPublisher panics while armed: a bug behind the gateway must cost one
// connection, not the server.
type panicPublisher struct {
	fakePublisher
	armed atomic.Bool
}

func (p *panicPublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if p.armed.Load() {
		panic("boom MRN-1001")
	}
	return p.fakePublisher.WriteMessages(ctx, msgs...)
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	pub := &panicPublisher{}
	pub.armed.Store(true)
	addr, _ := startServer(t, Config{}, pub)
	c := dial(t, addr)
	WriteFrame(c.conn, []byte(adt("P-1", "\r")))
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c.conn); err != nil {
		t.Fatalf("connection not closed: %v", err)
	}
	// The server still serves.
	pub.armed.Store(false)
	wantAck(t, dial(t, addr).send(adt("P-2", "\r")), AckAccept, "P-2")
}

func TestCloseUnblocksConnectionsAndServe(t *testing.T) {
	checkLeaks(t)
	srv, err := New(Config{Source: "lab"}, Deps{Publisher: &fakePublisher{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c := dial(t, ln.Addr().String())
	wantAck(t, c.send(adt("X-1", "\r")), AckAccept, "X-1")
	c.conn.Write([]byte{StartBlock, 'M', 'S'}) // a frame in progress
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	srv.Close()
	c.conn.Close()
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Source: "lab"}, true},
		{Config{Source: ""}, false},
		{Config{Source: "LAB"}, false},
		{Config{Source: "lab/../x"}, false},
		{Config{Source: "lab", MaxFrame: -1}, false},
		{Config{Source: "lab", MaxConns: -1}, false},
		{Config{Source: "lab", ReadTimeout: -time.Second}, false},
	} {
		tc.cfg.Defaults()
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.cfg, err)
		}
	}
	if _, err := New(Config{Source: "lab"}, Deps{}); err == nil {
		t.Error("New without a Publisher succeeded")
	}
}

// closedByPeer reports whether a read ended because the server closed the
// connection: EOF, or a reset when the server closed with unread bytes of
// ours in its buffer. A timeout means it did not close.
func closedByPeer(err error) bool {
	return err == nil || errors.Is(err, syscall.ECONNRESET)
}
