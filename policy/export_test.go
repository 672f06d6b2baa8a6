package policy

import "context"

// DecideUnfiltered is Decide without the consent pre-filter, for tests
// that compare the two.
func DecideUnfiltered(ctx context.Context, e *Engine, in Input) (Decision, error) {
	p := *e.current.Load()
	p.filter = nil
	u := &Engine{src: e.src, profile: e.profile, logger: e.logger}
	u.current.Store(&p)
	return u.Decide(ctx, in)
}

// Prefilters reports whether the policy in force uses the consent
// pre-filter.
func Prefilters(e *Engine) bool { return e.current.Load().filter != nil }
