package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Query is the Rego rule every decision evaluates. A policy directory must
// define it (package carecrest.authz, rule decision); see rego/authz.rego for
// the shape of its value.
const Query = "data.carecrest.authz.decision"

// ExplainQuery is the rule Explain evaluates (optional in a policy
// directory: without it Explain fails with ErrNoExplain).
const ExplainQuery = "data.carecrest.authz.explain"

// DefaultProfile is the jurisdiction profile when Config.Profile is empty.
const DefaultProfile = "hipaa"

// Reasons the engine itself puts on a deny.
const (
	ReasonUndefined = "no policy decision"        // the policy produced no decision
	ReasonEvalError = "policy evaluation failed"  // evaluation errored or was cancelled
	ReasonMalformed = "malformed policy decision" // the decision had the wrong shape
)

// Config selects the policy an Engine runs.
type Config struct {
	// Dir is a directory holding the policy: its top-level *.rego modules
	// and an optional data.json merged at the root of data, as `opa eval -d
	// Dir` would load them. Its *_test.rego modules are run on every load:
	// a policy whose tests fail is never put in force. Subdirectories are
	// ignored. Empty Dir and Bundle mean the default policy embedded from
	// the rego/ folder.
	Dir string `json:"dir" yaml:"dir"`
	// Bundle is an OPA bundle file (.tar.gz, as `opa build` writes):
	// modules, tests (run as for Dir) and data. At most one of Dir and
	// Bundle.
	Bundle string `json:"bundle" yaml:"bundle"`
	// Profile is the jurisdiction profile decisions apply unless the input
	// names one: "hipaa" (default) or "gdpr" (carecrest.access.profiles).
	Profile string `json:"profile" yaml:"profile"`
}

// Defaults fills unset fields: Profile becomes DefaultProfile. Empty Dir
// and Bundle stay empty: they select the embedded policy.
func (c *Config) Defaults() {
	if c.Profile == "" {
		c.Profile = DefaultProfile
	}
}

// Validate reports a configuration error: Dir, when set, must be a readable
// directory; Bundle, when set, a regular file; not both. Whether Profile
// exists is checked when the policy loads (New).
func (c Config) Validate() error {
	if c.Dir != "" && c.Bundle != "" {
		return errors.New("policy: set dir or bundle, not both")
	}
	if c.Bundle != "" {
		st, err := os.Stat(c.Bundle)
		if err != nil {
			return fmt.Errorf("policy: bundle: %w", err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("policy: bundle %s is not a file", c.Bundle)
		}
	}
	if c.Dir == "" {
		return nil
	}
	st, err := os.Stat(c.Dir)
	if err != nil {
		return fmt.Errorf("policy: dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("policy: dir %s is not a directory", c.Dir)
	}
	return nil
}

// Engine is the hub's Decider: OPA evaluating the carecrest.authz policy.
//
// The policy is compiled and prepared once per revision; Decide evaluates the
// prepared query and is safe for concurrent use. Reload swaps in a new
// revision atomically, and only once it has compiled, so a broken policy
// never replaces the running one.
type Engine struct {
	src     source
	profile string
	logger  *slog.Logger

	current  atomic.Pointer[prepared]
	reloadMu sync.Mutex // serializes Reload
}

var _ Decider = (*Engine)(nil)

// prepared is one compiled revision of the policy.
type prepared struct {
	revision string
	query    rego.PreparedEvalQuery
	explain  rego.PreparedEvalQuery
	explains bool // the policy defines ExplainQuery
	data     dataCache
	filter   *consentFilter // nil: the policy is not the embedded one
}

// evalOptions are the options of every evaluation of p besides input and
// cancellation: the shared data cache, and no metrics (nothing reads them).
func (p *prepared) evalOptions(input ast.Value, more ...rego.EvalOption) []rego.EvalOption {
	return append([]rego.EvalOption{
		rego.EvalParsedInput(input),
		rego.EvalBaseCache(p.data),
		rego.EvalMetrics(noMetrics),
	}, more...)
}

var noMetrics = metrics.NoOp()

// New loads, compiles and prepares the policy cfg selects. A nil logger
// discards.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{src: newSource(cfg), profile: cfg.Profile, logger: logger}
	p, err := e.compile(ctx)
	if err != nil {
		return nil, err
	}
	e.current.Store(p)
	logger.Info("policy loaded", "source", e.src.name, "revision", p.revision)
	return e, nil
}

// Revision returns the revision of the policy in force: "sha256:" and the
// first 12 hex digits of a digest over the policy's file names and contents.
func (e *Engine) Revision() string { return e.current.Load().revision }

// Profile returns the jurisdiction profile decisions apply when the input
// names none.
func (e *Engine) Profile() string { return e.profile }

// Reload reads the policy source again and, if it changed, compiles it, runs
// its Rego tests and makes it the policy in force. On any error the running
// policy stays in force and the error is returned. Decisions in flight
// finish on the revision they started with.
func (e *Engine) Reload(ctx context.Context) error {
	_, err := e.reload(ctx)
	return err
}

// Change reports a reload that changed the policy in force (Err nil), or a
// candidate policy that was rejected (Err non-nil: Revision is the
// candidate's when it could be read, and Previous stays in force).
type Change struct {
	Previous string // the revision in force before
	Revision string // the new revision, or the rejected candidate's
	Err      error
}

func (e *Engine) reload(ctx context.Context) (Change, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()

	old := e.current.Load()
	ch := Change{Previous: old.revision}
	files, tests, rev, err := e.src.read()
	if err != nil {
		e.logger.Error("policy reload failed; keeping running revision", "source", e.src.name, "revision", old.revision, "err", err)
		ch.Err = err
		return ch, err
	}
	ch.Revision = rev
	if rev == old.revision {
		e.logger.Debug("policy unchanged", "source", e.src.name, "revision", rev)
		return Change{}, nil
	}
	p, err := prepare(ctx, files, tests, rev, e.profile)
	if err != nil {
		e.logger.Error("policy reload failed; keeping running revision", "source", e.src.name, "revision", old.revision, "candidate", rev, "err", err)
		ch.Err = err
		return ch, err
	}
	e.current.Store(p)
	e.logger.Info("policy reloaded", "source", e.src.name, "revision", p.revision, "previous", old.revision)
	return ch, nil
}

// Watch polls the policy source every interval until ctx ends, reloading
// it when its content changes. notify (may be nil) is called, from Watch's
// goroutine, once for every new revision put in force and once for every
// distinct candidate rejected (a policy that does not compile, fails its
// tests or cannot be read): that is where a caller audits the policy
// change (audit.CodePolicyChange) or alerts on a rejected one. Watch
// returns ctx.Err().
func (e *Engine) Watch(ctx context.Context, interval time.Duration, notify func(Change)) error {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastRejected := ""
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		ch, err := e.reload(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			key := ch.Revision + "|" + err.Error()
			if key == lastRejected {
				continue
			}
			lastRejected = key
		case ch.Revision == "":
			continue // unchanged
		default:
			lastRejected = ""
		}
		if notify != nil {
			notify(ch)
		}
	}
}

// DefaultWatchInterval is Watch's poll interval when given none.
const DefaultWatchInterval = 2 * time.Second

func (e *Engine) compile(ctx context.Context) (*prepared, error) {
	files, tests, rev, err := e.src.read()
	if err != nil {
		return nil, err
	}
	return prepare(ctx, files, tests, rev, e.profile)
}

// Decide evaluates the policy for in.
//
// An undefined decision is a deny with reason ReasonUndefined and no error.
// An evaluation error, a cancelled ctx or a decision of the wrong shape is a
// deny with an error wrapping ErrEvaluation (and ctx.Err() when ctx ended).
// The returned Decision always names the revision that decided; a deny
// discloses no fields.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	p := e.current.Load()
	if err := ctx.Err(); err != nil {
		return Decision{Reasons: []string{ReasonEvalError}, Revision: p.revision}, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	// OPA starts a goroutine per evaluation to watch ctx unless given a
	// Cancel; context.AfterFunc does the same without a goroutine (and for a
	// context that is never done, without anything).
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	if in.Profile == "" {
		in.Profile = e.profile
	}
	in.Consents = p.filter.apply(&in)
	vc := getVirtualCache()
	rs, err := p.query.Eval(ctx, p.evalOptions(inputValue(&in), rego.EvalExternalCancel(cancel), rego.EvalVirtualCache(vc))...)
	stop()
	putVirtualCache(vc)
	if err != nil {
		d := Decision{Reasons: []string{ReasonEvalError}, Revision: p.revision}
		if cerr := ctx.Err(); cerr != nil {
			return d, fmt.Errorf("%w: %w", ErrEvaluation, cerr)
		}
		e.logger.Warn("policy evaluation failed", "revision", p.revision, "err", err)
		return d, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{Reasons: []string{ReasonUndefined}, Revision: p.revision}, nil
	}
	if len(rs) > 1 {
		return Decision{Reasons: []string{ReasonMalformed}, Revision: p.revision},
			fmt.Errorf("%w: %d results for %s", ErrEvaluation, len(rs), Query)
	}
	term, _ := rs[0].Expressions[0].Value.(*ast.Term)
	d, err := decisionFromTerm(term)
	d.Revision = p.revision
	if err != nil {
		e.logger.Warn("policy decision malformed", "revision", p.revision, "err", err)
		return Decision{Reasons: []string{ReasonMalformed}, Revision: p.revision}, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	return d, nil
}

// ErrInvalidPolicy reports that New or Reload found a policy that does not
// parse, compile or define Query (a directory without modules included).
// Errors reading the source wrap the fs error instead.
var ErrInvalidPolicy = errors.New("policy: invalid policy")

// errMalformed describes a decision of the wrong shape; Decide wraps it in
// ErrEvaluation.
var errMalformed = errors.New("malformed decision")
