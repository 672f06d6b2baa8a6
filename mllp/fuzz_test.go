package mllp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame reads every frame of arbitrary input with a small limit: no
// panic, no frame over the limit, no block character inside a payload, and
// every frame written by WriteFrame reads back unchanged.
func FuzzReadFrame(f *testing.F) {
	valid := "MSH|^~\\&|LIS|MAIN|HUB|CC|20240101||ORU^R01|X-1|P|2.5.1\rPID|1||MRN-1\r"
	for _, seed := range []string{
		"\x0b" + valid + "\x1c\r",
		"\x0b" + valid + "\x1c\r\x0b" + valid + "\x1c\r",
		"\x0bA\x1c\x0bB\x1c",
		"junk\x0bA\x1c\r\n",
		"\x0b" + valid,
		"\x1c\r\x0b\x0b\x1c\x1c",
		"\x0b" + string(bytes.Repeat([]byte("x"), 300)) + "\x1c\r",
		"",
		"GET / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	const max = 256
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), max)
		var frames int
		for {
			p, err := r.ReadFrame()
			if len(p) > max {
				t.Fatalf("frame of %d bytes over the limit %d", len(p), max)
			}
			if bytes.IndexByte(p, EndBlock) >= 0 {
				t.Fatalf("end block inside a payload")
			}
			if err != nil {
				if errors.Is(err, ErrFrameTooLarge) {
					continue
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrNoStartBlock) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			frames++
			if frames > len(in) {
				t.Fatalf("more frames than input bytes")
			}
		}
		if r.Skipped() > int64(len(in)) {
			t.Fatalf("skipped %d of %d bytes", r.Skipped(), len(in))
		}

		// Round trip: a payload without block characters survives framing.
		payload := bytes.Map(func(r rune) rune {
			if r == EndBlock {
				return -1
			}
			return r
		}, in)
		if len(payload) > max || !bytes.Equal(payload, bytes.ToValidUTF8(payload, nil)) {
			return
		}
		var buf bytes.Buffer
		WriteFrame(&buf, payload)
		got, err := NewReader(&buf, max).ReadFrame()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, payload)
		}
	})
}
