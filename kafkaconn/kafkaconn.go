// Package kafkaconn builds the hub's secured connections to Kafka from one
// Config (the kafka.security section of the hub's configuration): TLS 1.2+
// with an optional client certificate, and SASL PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512.
//
//	dialer, err := kafkaconn.Dialer(cfg)        // kafka.ReaderConfig.Dialer
//	transport, err := kafkaconn.Transport(cfg)  // kafka.Writer.Transport, kafka.Client.Transport
//
// It also holds the two broker reads operations need: Ping, for the
// readiness check, and GroupLag, the consumer group's lag per partition.
//
// Passwords never appear in errors, String output or logs (see
// SASLConfig).
package kafkaconn

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// ClientID is the client id the hub presents to the brokers (broker logs,
// quotas).
const ClientID = "carecrest-hub"

// dialTimeout bounds connecting, TLS and SASL together.
const dialTimeout = 10 * time.Second

// Dialer returns a kafka-go Dialer for cfg, for kafka.ReaderConfig.Dialer
// (the consumer group and its partition readers connect through it).
func Dialer(cfg Config) (*kafka.Dialer, error) {
	tc, mech, err := build(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID: ClientID, Timeout: dialTimeout, DualStack: true,
		TLS: tc, SASLMechanism: mech,
	}, nil
}

// Transport returns a kafka-go Transport for cfg, for kafka.Writer.Transport
// and kafka.Client.Transport. A Transport pools connections: make one per
// process and share it; close its idle connections with CloseIdleConnections
// at shutdown.
func Transport(cfg Config) (*kafka.Transport, error) {
	tc, mech, err := build(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		ClientID: ClientID, DialTimeout: dialTimeout, IdleTimeout: 30 * time.Second,
		MetadataTTL: 6 * time.Second, TLS: tc, SASL: mech,
	}, nil
}

func build(cfg Config) (tc *tls.Config, mech sasl.Mechanism, err error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if tc, err = TLSClientConfig(cfg.TLS); err != nil {
		return nil, nil, err
	}
	if mech, err = SASLMechanism(cfg.SASL); err != nil {
		return nil, nil, err
	}
	return tc, mech, nil
}

// Ping asks the brokers for their API versions through t: it succeeds only
// if a broker is reachable and accepts the hub's TLS and SASL credentials.
// For the broker readiness check.
func Ping(ctx context.Context, t *kafka.Transport, brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("kafkaconn: no brokers")
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: t}
	res, err := c.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		// How a broker ends a failed SASL exchange, among other things.
		return fmt.Errorf("kafkaconn: ping: broker closed the connection (wrong credentials, or TLS or SASL settings that do not match the listener?): %w", err)
	}
	if err != nil {
		return fmt.Errorf("kafkaconn: ping: %w", err)
	}
	if res.Error != nil {
		return fmt.Errorf("kafkaconn: ping: %w", res.Error)
	}
	return nil
}

// PartitionLag is a consumer group's position on one partition.
type PartitionLag struct {
	Topic     string
	Partition int
	// Committed is the group's committed offset (the next message it will
	// read), or -1 if it has committed none.
	Committed int64
	// End is the partition's high watermark (the offset of the next message
	// written).
	End int64
	// Lag is End minus Committed, or, with nothing committed, the messages
	// retained in the partition (the group starts at the first offset).
	Lag int64
}

// GroupLag returns the lag of a consumer group on every partition of
// topics, sorted by topic and partition: what it has yet to read and commit.
// It reads only metadata and offsets, never messages. Call it every few
// seconds and feed metrics.SetConsumerLag.
func GroupLag(ctx context.Context, c *kafka.Client, group string, topics []string) ([]PartitionLag, error) {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafkaconn: lag: metadata: %w", err)
	}
	parts := map[string][]int{}
	ends := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("kafkaconn: lag: topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			ends[t.Name] = append(ends[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(parts) == 0 {
		return nil, nil
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return nil, fmt.Errorf("kafkaconn: lag: committed offsets: %w", err)
	}
	if committed.Error != nil {
		return nil, fmt.Errorf("kafkaconn: lag: committed offsets: %w", committed.Error)
	}
	offsets, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: ends})
	if err != nil {
		return nil, fmt.Errorf("kafkaconn: lag: end offsets: %w", err)
	}
	type key struct {
		topic string
		part  int
	}
	commit := map[key]int64{}
	for topic, ps := range committed.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("kafkaconn: lag: %s/%d: %w", topic, p.Partition, p.Error)
			}
			commit[key{topic, p.Partition}] = p.CommittedOffset
		}
	}
	var out []PartitionLag
	for topic, ps := range offsets.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("kafkaconn: lag: %s/%d: %w", topic, p.Partition, p.Error)
			}
			pl := PartitionLag{Topic: topic, Partition: p.Partition, Committed: -1, End: p.LastOffset}
			if off, ok := commit[key{topic, p.Partition}]; ok && off >= 0 {
				pl.Committed = off
				pl.Lag = p.LastOffset - off
			} else {
				pl.Lag = p.LastOffset - p.FirstOffset
			}
			pl.Lag = max(pl.Lag, 0)
			out = append(out, pl)
		}
	}
	slices.SortFunc(out, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}
