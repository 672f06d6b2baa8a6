package server

import (
	"context"
	"errors"
	"time"

	"github.com/carecrest/hub/audit/merkle"
	"github.com/segmentio/kafka-go"
)

// newCheckpoints builds the proof service of the hub's audit log: its
// signing key is the data key of keys.OwnerAuditSigning (through the
// sealer, so wrapped by the key manager), its checkpoints are recorded in
// the store's audit log and, unless checkpoints.topic is "-", written to
// that Kafka topic. Call it once the store and the sealer are open; start
// the schedule with startCheckpoints once the hub runs.
func (h *Hub) newCheckpoints(ctx context.Context, brokers []string, transport *kafka.Transport) (*merkle.Service, error) {
	signer, err := merkle.KeySigner(ctx, h.Sealer)
	if err != nil {
		return nil, err
	}
	cfg := h.Config.Checkpoints
	d := merkle.Deps{
		Chain: h.Store, Events: h.Store, Log: measuredAppender{h.Store, h.Metrics}, Signer: signer,
		Instance: h.Config.Instance, Logger: h.Log,
	}
	if cfg.Topic != "-" {
		w := &kafka.Writer{
			Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond, WriteTimeout: 10 * time.Second, Transport: transport,
		}
		h.closers = append(h.closers, w.Close)
		d.Publisher, d.Topic = w, cfg.Topic
	}
	return merkle.NewService(d)
}

// startCheckpoints publishes a checkpoint of this instance's audit shard
// now and every checkpoints.interval until ctx ends (none when the interval
// is negative), skipping ticks when nothing was appended. A log that no
// longer matches its last checkpoint is never signed over: that is logged
// as an error on every tick until someone runs hubctl audit verify.
func (h *Hub) startCheckpoints(ctx context.Context, svc *merkle.Service) {
	every := h.Config.Checkpoints.Interval
	if every <= 0 {
		return
	}
	shard := h.Config.Instance
	publish := func() {
		cp, ok, err := svc.PublishIfGrown(ctx, shard)
		switch {
		case errors.Is(err, merkle.ErrTampered):
			h.Log.Error("audit log does not match its signed checkpoints; not signing (run hubctl audit verify)", "shard", shard, "err", err)
		case errors.Is(err, merkle.ErrPublish):
			h.Log.Warn("audit checkpoint recorded but not written to Kafka", "shard", shard, "size", cp.Size, "err", err)
		case err != nil && ctx.Err() == nil:
			h.Log.Warn("audit checkpoint failed; retrying next tick", "shard", shard, "err", err)
		case ok:
			h.Log.Debug("audit checkpoint", "shard", shard, "size", cp.Size)
		}
	}
	h.wg.Go(func() {
		publish()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				publish()
			}
		}
	})
}
