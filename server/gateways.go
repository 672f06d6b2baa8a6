package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/carecrest/hub/mllp"
	"github.com/segmentio/kafka-go"
)

// startGateways starts the configured MLLP listeners. They publish with
// RequiredAcks = all, so an AA acknowledgement means Kafka has the message.
func (h *Hub) startGateways(ctx context.Context, brokers []string, transport *kafka.Transport) error {
	if len(h.Config.Gateways.MLLP) == 0 {
		return nil
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond, WriteTimeout: 10 * time.Second, Transport: transport,
	}
	h.closers = append(h.closers, w.Close)
	for _, gc := range h.Config.Gateways.MLLP {
		g, err := mllp.New(gc, mllp.Deps{Publisher: w, Logger: h.Log})
		if err != nil {
			return fmt.Errorf("gateways.mllp %s: %w", gc.Source, err)
		}
		ln, err := net.Listen("tcp", gc.Addr)
		if err != nil {
			return fmt.Errorf("gateways.mllp %s: listen %s: %w", gc.Source, gc.Addr, err)
		}
		h.mllp = append(h.mllp, g)
		h.mllpAddrs = append(h.mllpAddrs, ln.Addr().String())
		h.wg.Go(func() {
			if err := g.Serve(ctx, ln); err != nil && !errors.Is(err, mllp.ErrServerClosed) && ctx.Err() == nil {
				h.Log.Error("mllp gateway stopped", "source", gc.Source, "err", err)
			}
		})
		h.Log.Info("MLLP gateway listening", "source", gc.Source, "addr", ln.Addr().String(), "topic", gc.Topic())
	}
	return nil
}

// MLLPAddrs returns the MLLP gateways' listen addresses, in configuration
// order.
func (h *Hub) MLLPAddrs() []string { return h.mllpAddrs }
