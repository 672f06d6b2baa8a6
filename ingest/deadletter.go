package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/segmentio/kafka-go"
)

// DeadLetter is the value of a message on the dead-letter topic. The
// original payload may hold PHI, so it travels only encrypted under the
// hub's dead-letter data key (envelope encryption, bound to its origin by
// AAD); the reason is written to be free of PHI.
type DeadLetter struct {
	Version    int       `json:"version"`
	Reason     string    `json:"reason"`
	ReasonCode string    `json:"reason_code"` // audit event code
	Source     string    `json:"source"`
	Topic      string    `json:"topic"`
	Partition  int       `json:"partition"`
	Offset     int64     `json:"offset"`
	Rejected   time.Time `json:"rejected"`
	// Payload is nonce || AES-256-GCM ciphertext of the original message,
	// under the data key of owner keys.OwnerDeadLetter, AAD = DeadLetterAAD.
	Payload []byte `json:"payload"`
}

// DeadLetterAAD binds a dead-lettered payload to where it came from.
func DeadLetterAAD(topic string, partition int, offset int64) []byte {
	return []byte("carecrest/deadletter/v1|" + topic + "|" + strconv.Itoa(partition) + "|" + strconv.FormatInt(offset, 10))
}

func (p *Pipeline) deadLetter(ctx context.Context, it *item, now time.Time) (kafka.Message, error) {
	m := it.msg
	ct, err := p.Sealer.SealBlob(ctx, keys.OwnerDeadLetter, m.Value, DeadLetterAAD(m.Topic, m.Partition, m.Offset))
	if err != nil {
		return kafka.Message{}, fmt.Errorf("ingest: seal dead letter: %w", err)
	}
	v, err := json.Marshal(DeadLetter{
		Version: 1, Reason: it.reject, ReasonCode: it.rejectCode, Source: it.source,
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Rejected: now, Payload: ct,
	})
	if err != nil {
		return kafka.Message{}, fmt.Errorf("ingest: encode dead letter: %w", err)
	}
	return kafka.Message{
		Topic: p.cfg.DeadLetterTopic,
		Key:   []byte(requestID(m)),
		Value: v,
		Headers: []kafka.Header{
			{Key: "reason-code", Value: []byte(it.rejectCode)},
			{Key: "source-topic", Value: []byte(m.Topic)},
		},
	}, nil
}

// contentType returns the message's declared content type, or sniffs one.
func contentType(m kafka.Message) string {
	for _, h := range m.Headers {
		if h.Key == "content-type" {
			return string(h.Value)
		}
	}
	return Sniff(m.Value)
}

// Sniff guesses the content type of a payload: HL7 v2 starts with MSH (or a
// batch header), FHIR JSON is an object with a resourceType, DICOM JSON is an
// object or array keyed by 8-hex-digit tags.
func Sniff(b []byte) string {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case bytes.HasPrefix(b, []byte("MSH")), bytes.HasPrefix(b, []byte("FHS")), bytes.HasPrefix(b, []byte("BHS")):
		return ContentHL7v2
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		if bytes.Contains(b[:min(len(b), 4096)], []byte(`"resourceType"`)) {
			return ContentFHIRJSON
		}
		return ContentDICOMJSON
	}
	return ""
}
