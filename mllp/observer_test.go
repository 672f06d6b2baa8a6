package mllp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu     sync.Mutex
	events []string
	acks   []string
	frames []string
	times  []time.Duration
}

func (r *recorder) MLLPConnection(source, event string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, source+":"+event)
}

func (r *recorder) MLLPMessage(source, ack string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, source+":"+ack)
	r.times = append(r.times, d)
}

func (r *recorder) MLLPFrameError(source, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, source+":"+kind)
}

func (r *recorder) snapshot() (events, acks, frames []string, times []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.acks), slices.Clone(r.frames), slices.Clone(r.times)
}

// TestObserver: connections, every answer by its ACK code with its latency,
// and framing failures are reported, labelled with the listener's source.
func TestObserver(t *testing.T) {
	checkLeaks(t)
	rec := &recorder{}
	pub := &fakePublisher{}
	srv, err := New(Config{Source: "lis", MaxFrame: 4096, MaxConns: 2, ReadTimeout: 300 * time.Millisecond},
		Deps{Publisher: pub, Logger: slog.New(slog.DiscardHandler), Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	addr := ln.Addr().String()

	c := dial(t, addr)
	wantAck(t, c.send(adt("O-1", "\r")), AckAccept, "O-1")
	pub.setFail(errors.New("kafka: leader not available"))
	wantAck(t, c.send(adt("O-2", "\r")), AckError, "O-2")
	pub.setFail(nil)
	wantAck(t, c.send("not hl7 at all"), AckReject, "")
	wantAck(t, c.send(adt("O-3", "\r")+string(bytes.Repeat([]byte("OBX|1|TX|N||x\r"), 400))), AckReject, "O-3") // too large

	// A second connection that never frames anything, and a third refused.
	g := dial(t, addr)
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(third) // closed at once: max_conns
	third.Close()
	go g.conn.Write(bytes.Repeat([]byte("A"), 8192))
	g.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(g.conn)
	c.conn.Close()

	deadline := time.Now().Add(5 * time.Second)
	for {
		events, _, frames, _ := rec.snapshot()
		if len(events) >= 5 && len(frames) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	events, acks, frames, times := rec.snapshot()
	count := func(l []string, v string) (n int) {
		for _, x := range l {
			if x == v {
				n++
			}
		}
		return n
	}
	if count(events, "lis:opened") != 2 || count(events, "lis:closed") != 2 || count(events, "lis:refused") != 1 {
		t.Errorf("connection events %v, want 2 opened, 2 closed, 1 refused", events)
	}
	if want := []string{"lis:AA", "lis:AE", "lis:AR", "lis:AR"}; !slices.Equal(acks, want) {
		t.Errorf("acks %v, want %v", acks, want)
	}
	for _, d := range times {
		if d <= 0 {
			t.Errorf("ack latency %v", d)
		}
	}
	if count(frames, "lis:too_large") != 1 || count(frames, "lis:no_start_block") != 1 {
		t.Errorf("frame errors %v, want too_large and no_start_block", frames)
	}
}

func TestAckCode(t *testing.T) {
	h := header{}
	for _, code := range []string{AckAccept, AckError, AckReject} {
		if got := ackCode(buildAck(h, code, "X1", time.Now(), nil)); got != code {
			t.Errorf("ackCode = %q, want %q", got, code)
		}
	}
	if got := ackCode([]byte("MSH|^~\\&\r")); got != "" {
		t.Errorf("no MSA: %q", got)
	}
}
