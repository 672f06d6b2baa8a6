package server

import (
	"context"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/policy"
)

// watchPolicy reloads the policy from policy.dir or policy.bundle when it
// changes, until ctx ends. Each new revision in force, and each candidate
// rejected (it failed to compile or its tests failed: the running policy
// stays), is audited with audit.CodePolicyChange, so the log says which
// policy decided every event (each event also names its revision).
func (h *Hub) watchPolicy(ctx context.Context) {
	err := h.Policy.Watch(ctx, h.Config.Policy.Reload, func(c policy.Change) {
		e := audit.Event{
			Time: time.Now().UTC(), Code: audit.CodePolicyChange, Action: "policy.reload", Outcome: audit.OutcomeAllow,
			ActorID: h.Config.Instance, Application: "hub", RecordType: "Policy",
			PolicyRevision: c.Revision, Reason: "policy " + c.Revision + " in force; was " + c.Previous,
		}
		if c.Err != nil {
			e.Outcome, e.PolicyRevision = audit.OutcomeDeny, c.Previous
			e.Reason = "policy candidate " + c.Revision + " rejected, " + c.Previous + " stays in force: " + c.Err.Error()
			h.Log.Error("policy: candidate rejected; the running policy stays", "candidate", c.Revision, "running", c.Previous, "err", c.Err)
		} else {
			h.Log.Info("policy: new revision in force", "revision", c.Revision, "previous", c.Previous)
		}
		// The new revision already decides: keep trying until its change
		// is in the audit log (every decision event names its revision too).
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := h.Store.Append(actx, []audit.Event{e})
			cancel()
			if err == nil {
				return
			}
			h.Log.Error("policy: could not audit the policy change; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	})
	if err != nil && ctx.Err() == nil {
		h.Log.Error("policy watch stopped", "err", err)
	}
}
