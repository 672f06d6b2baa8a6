package ingest

import (
	"context"
	"errors"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/store"
	"time"

	"github.com/segmentio/kafka-go"
)

// Run consumes src until ctx ends: fetch a batch (closed on size or time),
// process it to durability, then commit its offsets. A batch that fails is
// retried with exponential backoff, never skipped, and its offsets are not
// committed meanwhile, so an outage of the store, the audit log or the key
// manager pauses ingest and loses nothing. Run returns nil when ctx ends.
func (p *Pipeline) Run(ctx context.Context, src Source) error {
	for {
		batch, err := p.fetchBatch(ctx, src)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.Logger.Warn("ingest: fetch failed", "err", err)
			if !sleep(ctx, p.cfg.RetryMin) {
				return nil
			}
			continue
		}
		if !p.processWithRetry(ctx, batch) {
			return nil
		}
		if err := src.CommitMessages(ctx, batch...); err != nil {
			// The batch is durable: losing the commit only means the batch is
			// redelivered, and redelivery is idempotent.
			if ctx.Err() != nil {
				return nil
			}
			p.Logger.Warn("ingest: offset commit failed; batch will be redelivered", "err", err, "messages", len(batch))
		}
	}
}

// processWithRetry processes batch until it succeeds (true) or ctx ends
// (false).
func (p *Pipeline) processWithRetry(ctx context.Context, batch []kafka.Message) bool {
	backoff := p.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		st, err := p.Process(ctx, batch)
		if err == nil {
			p.Observer.ObserveBatch(len(batch), time.Since(start))
			p.Logger.Debug("ingest: batch stored", "messages", st.Messages, "records", st.Records,
				"duplicates", st.Duplicates, "rejected", st.Rejected)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.Observer.BatchFailed(failureCause(err))
		p.Logger.Warn("ingest: batch failed; retrying without committing offsets",
			"err", err, "attempt", attempt, "messages", len(batch), "backoff", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, p.cfg.RetryMax)
	}
}

func (p *Pipeline) fetchBatch(ctx context.Context, src Source) ([]kafka.Message, error) {
	first, err := src.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	batch := []kafka.Message{first}
	deadline := time.Now().Add(p.cfg.BatchWait)
	for len(batch) < p.cfg.BatchSize {
		fctx, cancel := context.WithDeadline(ctx, deadline)
		m, err := src.FetchMessage(fctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				break
			}
			return batch, nil // process what we have; the error will recur on the next fetch
		}
		batch = append(batch, m)
	}
	return batch, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// failureCause names what made a batch fail, for metrics.
func failureCause(err error) string {
	switch {
	case errors.Is(err, keys.ErrUnavailable), errors.Is(err, keys.ErrDenied):
		return "keys"
	case errors.Is(err, audit.ErrUnavailable):
		return "audit"
	case errors.Is(err, store.ErrUnavailable):
		return "store"
	case errors.Is(err, errDeadLetter):
		return "deadletter"
	default:
		return "other"
	}
}
