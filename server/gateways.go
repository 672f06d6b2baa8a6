package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/httpingest"
	"github.com/carecrest/hub/mllp"
	"github.com/segmentio/kafka-go"
)

// gatewayWriter is the Kafka producer the gateways share: RequiredAcks =
// all, so a gateway's acknowledgement means Kafka has the message, and
// batches large enough for the largest HTTP body.
func (h *Hub) gatewayWriter(brokers []string, transport *kafka.Transport) *kafka.Writer {
	if h.gw == nil {
		maxBody := h.Config.Gateways.HTTP.MaxBody
		if maxBody < 1<<20 {
			maxBody = 8 << 20
		}
		h.gw = &kafka.Writer{
			Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
			BatchTimeout: 2 * time.Millisecond, WriteTimeout: 10 * time.Second, Transport: transport,
			BatchBytes: maxBody + 64<<10,
		}
		h.closers = append(h.closers, h.gw.Close)
	}
	return h.gw
}

// mountHTTPIngest serves the HTTP ingest gateway on mux when enabled.
func (h *Hub) mountHTTPIngest(mux *http.ServeMux, brokers []string, transport *kafka.Transport) error {
	if !h.Config.Gateways.HTTP.Enabled {
		return nil
	}
	v, err := auth.NewVerifier(AuthConfig(h.Config.Auth))
	if err != nil {
		return err
	}
	g, err := httpingest.New(h.Config.Gateways.HTTP.Config, httpingest.Deps{
		Publisher: h.gatewayWriter(brokers, transport), Auth: httpingest.SourceSystems(v), Logger: h.Log,
		Observer: h.Metrics,
	})
	if err != nil {
		return fmt.Errorf("gateways.http: %w", err)
	}
	g.Mount(mux, "")
	return nil
}

// startGateways starts the configured MLLP listeners.
func (h *Hub) startGateways(ctx context.Context, brokers []string, transport *kafka.Transport) error {
	if len(h.Config.Gateways.MLLP) == 0 {
		return nil
	}
	w := h.gatewayWriter(brokers, transport)
	for _, gc := range h.Config.Gateways.MLLP {
		g, err := mllp.New(gc, mllp.Deps{Publisher: w, Logger: h.Log, Observer: h.Metrics})
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
