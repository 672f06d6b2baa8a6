package mllp

import (
	"bytes"
	"time"
)

// Observer receives the gateway's events, for metrics (metrics.Metrics is
// one). Its methods must be cheap, safe for concurrent use and must not
// block. Every argument comes from a closed set (the listener's source
// name, the constants below, HL7 ACK codes): never message content.
type Observer interface {
	// MLLPConnection counts a connection event: ConnOpened, ConnClosed or
	// ConnRefused (MaxConns reached).
	MLLPConnection(source, event string)
	// MLLPMessage counts one answered frame by its acknowledgment code
	// (AckAccept, AckError, AckReject) and observes the time from the
	// frame's last byte to the ACK written.
	MLLPMessage(source, ack string, d time.Duration)
	// MLLPFrameError counts a framing failure: FrameTooLarge (answered AR),
	// FrameNoStartBlock (the peer does not speak MLLP; closed), FrameTimeout
	// (read timeout, idle or trickling; closed) or FrameBroken (the
	// connection failed mid-frame).
	MLLPFrameError(source, kind string)
}

// Connection events of Observer.MLLPConnection.
const (
	ConnOpened  = "opened"
	ConnClosed  = "closed"
	ConnRefused = "refused"
)

// Frame error kinds of Observer.MLLPFrameError.
const (
	FrameTooLarge     = "too_large"
	FrameNoStartBlock = "no_start_block"
	FrameTimeout      = "timeout"
	FrameBroken       = "broken"
)

// noObserver discards events.
type noObserver struct{}

func (noObserver) MLLPConnection(string, string)             {}
func (noObserver) MLLPMessage(string, string, time.Duration) {}
func (noObserver) MLLPFrameError(string, string)             {}

// ackCode reads MSA-1 of an ACK this package built ("" if it has none).
func ackCode(ack []byte) string {
	i := bytes.Index(ack, []byte("\rMSA"))
	if i < 0 || len(ack) < i+7 {
		return ""
	}
	switch c := string(ack[i+5 : i+7]); c {
	case AckAccept, AckError, AckReject:
		return c
	}
	return ""
}
