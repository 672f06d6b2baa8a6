package mllp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/hl7"
)

func frame(s string) string { return "\x0b" + s + "\x1c\r" }

func TestReadFrame(t *testing.T) {
	type result struct {
		payload string
		err     error
	}
	for _, tc := range []struct {
		name    string
		in      string
		max     int
		want    []result
		skipped int64
	}{
		{name: "one", in: frame("MSH|a"), want: []result{{"MSH|a", nil}, {"", io.EOF}}},
		{name: "two", in: frame("A") + frame("B"), want: []result{{"A", nil}, {"B", nil}, {"", io.EOF}}},
		{name: "no CR after end block", in: "\x0bA\x1c\x0bB\x1c", want: []result{{"A", nil}, {"B", nil}, {"", io.EOF}}},
		{name: "garbage skipped", in: "xyz" + frame("A") + "\r\n" + frame("B"), want: []result{{"A", nil}, {"B", nil}, {"", io.EOF}}, skipped: 5},
		{name: "empty frame", in: frame(""), want: []result{{"", nil}, {"", io.EOF}}},
		{name: "truncated", in: "\x0bMSH|", want: []result{{"", io.ErrUnexpectedEOF}}},
		{name: "only garbage", in: "hello", want: []result{{"", io.EOF}}, skipped: 5},
		{name: "too much garbage", in: strings.Repeat("g", 11), max: 10, want: []result{{"", ErrNoStartBlock}}, skipped: 11},
		{name: "too large then in sync", in: frame(strings.Repeat("x", 25)) + frame("ok"), max: 10,
			want: []result{{strings.Repeat("x", 10), ErrFrameTooLarge}, {"ok", nil}, {"", io.EOF}}},
		{name: "exactly max", in: frame("0123456789"), max: 10, want: []result{{"0123456789", nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), tc.max)
			for i, w := range tc.want {
				got, err := r.ReadFrame()
				if !errors.Is(err, w.err) || string(got) != w.payload {
					t.Fatalf("frame %d: (%q, %v), want (%q, %v)", i, got, err, w.payload, w.err)
				}
			}
			if r.Skipped() != tc.skipped {
				t.Errorf("skipped %d, want %d", r.Skipped(), tc.skipped)
			}
		})
	}
}

// TestReadFrameLargerThanBuffer crosses bufio's buffer several times.
func TestReadFrameLargerThanBuffer(t *testing.T) {
	payload := bytes.Repeat([]byte("OBX|1|TX|||note\r"), 50000) // 800 kB
	var in bytes.Buffer
	WriteFrame(&in, payload)
	got, err := NewReader(bufio.NewReaderSize(&in, 4096), 0).ReadFrame()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("len %d err %v", len(got), err)
	}
}

func TestWriteFrame(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, []byte("MSH|x")); err != nil {
		t.Fatal(err)
	}
	if b.String() != "\x0bMSH|x\x1c\r" {
		t.Fatalf("%q", b.String())
	}
}

func TestAckPre25ErrUsesELD(t *testing.T) {
	h := headerOfFrame([]byte("MSH|^~\\&|LIS|MAIN|HUB|CC|20240101||ORU^R01|X-1|P|2.3\rZZZ bad"))
	if !h.known || h.controlID != "X-1" {
		t.Fatalf("header %+v", h)
	}
	ack := buildAck(h, AckReject, "A1", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		&ackError{code: errCodeSegmentSequence, text: "a | b ^ c & d ~ e \\ f\r(bad-segment)", field: 0})
	m, err := hl7.Parse(ack, hl7.Limits{})
	if err != nil {
		t.Fatalf("%v: %q", err, ack)
	}
	if got := m.Get("ERR-1.4.1"); got != "100" {
		t.Errorf("ERR-1.4.1 %q in %q", got, ack)
	}
	if got := m.Get("MSA-3"); got != "a | b ^ c & d ~ e \\ f (bad-segment)" {
		t.Errorf("MSA-3 round trip %q", got)
	}
	if m.Len() != 3 {
		t.Errorf("ACK has %d segments: %q", m.Len(), ack)
	}
	if !strings.Contains(string(ack), "|20240102030405+0000||ACK^R01^ACK|A1|P|2.3\r") {
		t.Errorf("ACK MSH %q", ack)
	}
}

func TestHeaderOfUnreadableFrame(t *testing.T) {
	for _, in := range []string{"", "garbage", "MSH", "MSH|", "PID|1\rMSH|^~\\&|A"} {
		if h := headerOfFrame([]byte(in)); h.known && h.controlID != "" {
			t.Errorf("%q: header %+v", in, h)
		}
	}
	ack := buildAck(header{}, AckReject, "A1", time.Now(), &ackError{code: 100, text: "no MSH"})
	m, err := hl7.Parse(ack, hl7.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("MSA-2") != "" || m.Version() != "2.5.1" || m.Get("ERR-3.1") != "100" {
		t.Errorf("default ACK %q", ack)
	}
}
