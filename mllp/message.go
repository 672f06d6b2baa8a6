package mllp

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"time"

	"github.com/carecrest/hub/hl7"
	"github.com/segmentio/kafka-go"
)

// ContentHL7v2 is the content type of published messages (ingest.ContentHL7v2).
const ContentHL7v2 = "application/hl7-v2"

// Kafka headers of a published message. Values are transport facts and MSH
// header fields: never patient data.
const (
	HeaderContentType     = "content-type"            // ContentHL7v2
	HeaderPeer            = "mllp-peer"               // remote address, host:port
	HeaderReceived        = "mllp-received"           // RFC 3339, UTC, nanoseconds
	HeaderControlID       = "hl7-control-id"          // MSH-10
	HeaderMessageType     = "hl7-message-type"        // MSH-9 as encoded (ADT^A01^ADT_A01)
	HeaderVersion         = "hl7-version"             // MSH-12.1
	HeaderProcessingID    = "hl7-processing-id"       // MSH-11 (P, T, D)
	HeaderSendingApp      = "hl7-sending-application" // MSH-3 as encoded
	HeaderSendingFacility = "hl7-sending-facility"    // MSH-4 as encoded
)

const hl7ReasonTooLarge = hl7.ReasonTooLarge

// handle answers one frame: reject what is not an HL7 message, acknowledge
// a retransmission, publish anything else and acknowledge it when Kafka has.
func (s *Server) handle(ctx context.Context, frame []byte, peer string) []byte {
	received := s.now()
	m, err := hl7.Parse(frame, hl7.Limits{MaxBytes: s.cfg.MaxFrame})
	if err != nil {
		e := parseAckError(err)
		h := headerOfFrame(frame)
		s.log.Warn("mllp message rejected", "peer", peer, "reason", e.text, "control_id", h.controlID)
		return s.reject(h, e)
	}
	h := headerOf(m)
	code, _, _ := m.Type()
	switch {
	case h.controlID == "":
		s.log.Warn("mllp message rejected", "peer", peer, "reason", "MSH-10 empty")
		return s.reject(h, &ackError{code: errCodeRequiredMissing, text: "message control id (MSH-10) is empty", field: 10})
	case code == "":
		s.log.Warn("mllp message rejected", "peer", peer, "reason", "MSH-9 empty", "control_id", h.controlID)
		return s.reject(h, &ackError{code: errCodeRequiredMissing, text: "message type (MSH-9) is empty", field: 9})
	}

	key := dedupKey(h.sendApp, h.sendFac, h.controlID)
	digest := sha256.Sum256(frame)
	switch known, same := s.dedup.lookup(key, digest); {
	case known && same:
		s.log.Info("mllp retransmission acknowledged without publishing", "peer", peer, "control_id", h.controlID)
		return buildAck(h, AckAccept, s.nextAckID(), s.now(), nil)
	case known:
		s.log.Warn("mllp control id reused with different content; publishing, the hub dedupes", "peer", peer, "control_id", h.controlID)
	}

	msg := kafka.Message{
		Topic: s.cfg.Topic(),
		Key:   []byte(h.sendApp + "|" + h.sendFac),
		Value: frame,
		Time:  received,
		Headers: []kafka.Header{
			{Key: HeaderContentType, Value: []byte(ContentHL7v2)},
			{Key: HeaderPeer, Value: []byte(peer)},
			{Key: HeaderReceived, Value: []byte(received.UTC().Format(time.RFC3339Nano))},
			{Key: HeaderControlID, Value: []byte(h.controlID)},
			{Key: HeaderMessageType, Value: []byte(clip(m.Header().Field(9).Raw()))},
			{Key: HeaderVersion, Value: []byte(h.version)},
			{Key: HeaderProcessingID, Value: []byte(h.processing)},
			{Key: HeaderSendingApp, Value: []byte(h.sendApp)},
			{Key: HeaderSendingFacility, Value: []byte(h.sendFac)},
		},
	}
	// The publish outlives a shutdown (bounded by PublishTimeout): a message
	// Kafka already holds should be acknowledged, not resent.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	err = s.pub.WriteMessages(pctx, msg)
	cancel()
	if err != nil {
		// kafka-go errors name brokers, topics and protocol codes, not values.
		s.log.Warn("mllp publish failed; answered AE", "peer", peer, "control_id", h.controlID, "error", err)
		return buildAck(h, AckError, s.nextAckID(), s.now(),
			&ackError{code: errCodeInternal, text: "message could not be stored now; resend it later"})
	}
	s.dedup.add(key, digest)
	return buildAck(h, AckAccept, s.nextAckID(), s.now(), nil)
}

// reject answers AR.
func (s *Server) reject(h header, e *ackError) []byte {
	return buildAck(h, AckReject, s.nextAckID(), s.now(), e)
}

// nextAckID returns a control id for an ACK, unique within this process and
// very likely across processes (random prefix), at most 19 characters.
func (s *Server) nextAckID() string {
	return s.ackPrefix + strconv.FormatUint(s.ackSeq.Add(1), 36)
}

// parseAckError turns a parse failure into a content-free ACK error: the
// hl7.DecodeError reason and description, which never carry message content.
func parseAckError(err error) *ackError {
	var de *hl7.DecodeError
	if !errors.As(err, &de) {
		return &ackError{code: errCodeDataType, text: "message could not be parsed"}
	}
	e := &ackError{code: errCodeDataType, text: de.Msg + " (" + de.Reason + ")"}
	switch de.Reason {
	case hl7.ReasonEmpty, hl7.ReasonNoMSH, hl7.ReasonBadSegment, hl7.ReasonNotOneMessage:
		e.code = errCodeSegmentSequence
	case hl7.ReasonTruncated:
		e.code = errCodeRequiredMissing
	}
	if de.Segment == 0 && de.Field > 0 {
		e.field = de.Field
	}
	return e
}
