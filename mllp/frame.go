package mllp

import (
	"bufio"
	"errors"
	"io"
	"time"
)

// MLLP block characters: a frame is StartBlock, the message, EndBlock, CR.
const (
	StartBlock     = 0x0B // VT
	EndBlock       = 0x1C // FS
	CarriageReturn = 0x0D // CR, after EndBlock
)

// DefaultMaxFrame is the default limit of one frame's payload: 4 MiB.
const DefaultMaxFrame = 4 << 20

var (
	// ErrFrameTooLarge is returned by ReadFrame for a frame whose payload
	// exceeds the limit. The frame was read to its end and discarded beyond
	// the limit, so the stream stays in sync and the next frame can be read.
	ErrFrameTooLarge = errors.New("mllp: frame exceeds the size limit")
	// ErrNoStartBlock is returned by ReadFrame when more bytes than the frame
	// limit arrive outside any frame: the peer does not speak MLLP. The
	// stream cannot be resynchronised; close the connection.
	ErrNoStartBlock = errors.New("mllp: too much data outside a frame")
)

// deadliner is the part of a net.Conn the Reader uses for its timeout.
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// Reader reads MLLP frames from a stream. Its memory is bounded by the frame
// limit whatever the peer sends: bytes before a start block are skipped (and
// counted, see Skipped), and the part of an oversized frame beyond the limit
// is discarded as it is read.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// Timeout, when positive and the underlying reader has SetReadDeadline
	// (a net.Conn), bounds each ReadFrame call: waiting for the frame and
	// receiving all of it. It closes idle connections and defeats peers that
	// trickle a frame byte by byte (slowloris).
	Timeout time.Duration

	r        *bufio.Reader
	dl       deadliner
	max      int
	skipped  int64
	trailing bool // the previous frame ended at EndBlock; a CR may follow
}

// NewReader returns a Reader of frames of at most maxFrame bytes of payload
// (DefaultMaxFrame when maxFrame <= 0). If r has a SetReadDeadline method it
// is used for Timeout; a *bufio.Reader is used as is.
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	fr := &Reader{max: maxFrame}
	if d, ok := r.(deadliner); ok {
		fr.dl = d
	}
	if br, ok := r.(*bufio.Reader); ok {
		fr.r = br
	} else {
		fr.r = bufio.NewReaderSize(r, 64<<10)
	}
	return fr
}

// Skipped returns the number of bytes skipped outside frames so far
// (garbage before a start block). The CR that ends a frame is not counted.
func (r *Reader) Skipped() int64 { return r.skipped }

// ReadFrame reads the next frame and returns its payload, without the block
// characters. The caller owns the returned slice.
//
// Errors: io.EOF when the stream ends between frames; io.ErrUnexpectedEOF
// when it ends inside a frame; ErrFrameTooLarge with the first maxFrame
// bytes of the payload (the rest is discarded; the Reader can go on);
// ErrNoStartBlock; or the underlying reader's error (a net.Error timeout
// when Timeout passed). After any error but ErrFrameTooLarge the stream
// should be abandoned.
//
// A frame ends at the EndBlock; the CR that should follow it is consumed by
// the next call, so that a peer that omits it still gets its answer.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.Timeout > 0 && r.dl != nil {
		if err := r.dl.SetReadDeadline(time.Now().Add(r.Timeout)); err != nil {
			return nil, err
		}
	}
	if err := r.skipToStart(); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, min(r.max, 4<<10))
	tooLarge := false
	for {
		chunk, err := r.r.ReadSlice(EndBlock)
		data := chunk
		if err == nil {
			data = chunk[:len(chunk)-1] // without the EndBlock
		}
		if !tooLarge {
			if room := r.max - len(buf); len(data) > room {
				buf = append(buf, data[:room]...)
				tooLarge = true
			} else {
				buf = append(buf, data...)
			}
		}
		switch {
		case err == nil:
			r.trailing = true
			if tooLarge {
				return buf, ErrFrameTooLarge
			}
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// skipToStart consumes bytes up to and including the next StartBlock.
func (r *Reader) skipToStart() error {
	garbage := 0
	for {
		b, err := r.r.ReadByte()
		if err != nil {
			return err // io.EOF between frames is a clean end
		}
		if b == StartBlock {
			r.trailing = false
			return nil
		}
		if r.trailing && b == CarriageReturn {
			r.trailing = false
			continue
		}
		r.trailing = false
		r.skipped++
		garbage++
		if garbage > r.max {
			return ErrNoStartBlock
		}
	}
}

// WriteFrame writes msg as one MLLP frame with a single Write call.
func WriteFrame(w io.Writer, msg []byte) error {
	buf := make([]byte, 0, len(msg)+3)
	buf = append(buf, StartBlock)
	buf = append(buf, msg...)
	buf = append(buf, EndBlock, CarriageReturn)
	_, err := w.Write(buf)
	return err
}
