package server

import (
	"context"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/metrics"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/store"
)

// The decorators below measure the hub's contracts from outside, so that
// the domain packages stay free of metrics code. They add no behaviour.

type measuredDecider struct {
	policy.Decider
	m *metrics.Metrics
}

func (d measuredDecider) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	start := time.Now()
	dec, err := d.Decider.Decide(ctx, in)
	d.m.ObservePolicyDecision(in.Action, dec.Allow, err, time.Since(start))
	return dec, err
}

type measuredAppender struct {
	audit.Appender
	m *metrics.Metrics
}

func (a measuredAppender) Append(ctx context.Context, events []audit.Event) error {
	start := time.Now()
	err := a.Appender.Append(ctx, events)
	a.m.ObserveAuditAppend(time.Since(start), err)
	if err == nil {
		for _, e := range events {
			a.m.AuditEvent(e.Code)
		}
	}
	return err
}

type measuredCommitter struct {
	store.Committer
	m *metrics.Metrics
}

func (c measuredCommitter) Commit(ctx context.Context, b store.Batch) (store.Result, error) {
	start := time.Now()
	res, err := c.Committer.Commit(ctx, b)
	c.m.ObserveAuditAppend(time.Since(start), err)
	if err == nil {
		for _, e := range b.Events {
			c.m.AuditEvent(e.Code)
		}
	}
	return res, err
}

var (
	_ policy.Decider  = measuredDecider{}
	_ audit.Appender  = measuredAppender{}
	_ store.Committer = measuredCommitter{}
)
