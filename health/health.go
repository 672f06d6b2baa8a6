// Package health answers the orchestrator's probes. Liveness (/healthz)
// says the process is up and serving; readiness (/readyz) says every
// dependency the hub needs right now (store, broker, key manager, policy)
// answers, so that traffic may be sent to this instance.
//
// Readiness runs the registered checks concurrently, each under its own
// timeout, and keeps the result for a short time (2 s by default) so that
// however many probes arrive, the dependencies see at most one round of
// checks per interval. Concurrent probes share one round. A check that does
// not return when its timeout expires is reported unavailable and is not
// started again until it has returned.
//
// What a failed check shows is "unavailable: <category>" (timeout, network,
// dns, tls, auth, ...), never the error itself: errors can carry addresses,
// user names or worse, and /readyz is reachable by anything that can probe.
// The full error is logged once when a check starts or stops failing.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// Check reports whether one dependency is usable: nil when it is. It must
// return promptly once ctx is done. Wrap an error with Categorize to choose
// the category /readyz shows.
type Check func(ctx context.Context) error

// Config tunes the checker.
type Config struct {
	// Timeout bounds each check (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// CacheTTL is how long a round of checks answers probes (default 2s).
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = 2 * time.Second
	}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	if c.Timeout <= 0 || c.Timeout > time.Minute {
		return fmt.Errorf("health: timeout %s out of range (0, 1m]", c.Timeout)
	}
	if c.CacheTTL < 0 || c.CacheTTL > time.Minute {
		return fmt.Errorf("health: cache_ttl %s out of range [0, 1m]", c.CacheTTL)
	}
	return nil
}

// Statuses of a check and of the whole report.
const (
	StatusOK          = "ok"
	StatusUnavailable = "unavailable"

	StatusReady    = "ready"
	StatusNotReady = "not_ready"
	StatusDraining = "draining"
)

// Result is the outcome of one check.
type Result struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok or unavailable
	// Error is "unavailable: <category>" when the check failed.
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// Report is the outcome of one round of checks, as /readyz shows it.
type Report struct {
	Status    string    `json:"status"` // ready, not_ready or draining
	CheckedAt time.Time `json:"checked_at"`
	Checks    []Result  `json:"checks"` // in registration order
}

// Ready reports whether every check passed and the instance is not
// draining.
func (r Report) Ready() bool { return r.Status == StatusReady }

// Checker holds the named checks and the last round's report. The zero
// value is not usable; call New.
type Checker struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	draining atomic.Bool

	mu      sync.Mutex
	checks  []*check
	last    *Report
	lastAt  time.Time
	running chan struct{} // closed when the round in flight ends; nil if none
}

type check struct {
	name string
	fn   Check

	// busy is set while a call is running; a call that outlived its timeout
	// keeps it set, so the check is not piled up.
	busy atomic.Bool
	// failing remembers the last status, to log only changes.
	failing atomic.Bool
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,31}$`)

// New returns a checker with no checks. A nil log discards.
func New(cfg Config, log *slog.Logger) (*Checker, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{cfg: cfg, log: log, now: time.Now}, nil
}

// Register adds a named check (store, broker, keys, policy, ...). Names are
// short lower-case words; registering a name twice, or an invalid name or a
// nil check, panics: it is a wiring error, as with http.ServeMux.
func (c *Checker) Register(name string, fn Check) {
	if !namePattern.MatchString(name) || fn == nil {
		panic(fmt.Sprintf("health: invalid check %q", name))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.checks {
		if ch.name == name {
			panic(fmt.Sprintf("health: check %q registered twice", name))
		}
	}
	c.checks = append(c.checks, &check{name: name, fn: fn})
	c.last = nil // a new check invalidates the cached report
}

// Drain makes the instance report not ready from now on (status draining),
// whatever its checks say: call it when shutdown begins so the orchestrator
// stops routing traffic here before the listener closes.
func (c *Checker) Drain() { c.draining.Store(true) }

// Check returns the report of the last round of checks if it is younger
// than the cache TTL, else runs a round (or waits for the one in flight).
// The round runs detached from ctx, so a probe that gives up does not
// cancel the checks other probes wait for; ctx only bounds the wait.
func (c *Checker) Check(ctx context.Context) Report {
	for {
		c.mu.Lock()
		if c.last != nil && c.now().Sub(c.lastAt) < c.cfg.CacheTTL {
			r := c.withDrain(*c.last)
			c.mu.Unlock()
			return r
		}
		if c.running == nil {
			done := make(chan struct{})
			c.running = done
			checks := append([]*check(nil), c.checks...)
			c.mu.Unlock()
			r := c.run(checks)
			c.mu.Lock()
			c.last, c.lastAt, c.running = &r, c.now(), nil
			close(done)
			c.mu.Unlock()
			return c.withDrain(r)
		}
		wait := c.running
		c.mu.Unlock()
		select {
		case <-wait:
			// Loop: the round just finished has filled the cache (unless the
			// TTL is zero, in which case the next caller starts a round).
			c.mu.Lock()
			if c.last != nil {
				r := c.withDrain(*c.last)
				c.mu.Unlock()
				return r
			}
			c.mu.Unlock()
		case <-ctx.Done():
			return c.withDrain(Report{Status: StatusNotReady, CheckedAt: c.now(), Checks: []Result{}})
		}
	}
}

func (c *Checker) withDrain(r Report) Report {
	if c.draining.Load() {
		r.Status = StatusDraining
	}
	return r
}

// run runs every check concurrently and waits for all of them, each for at
// most its timeout.
func (c *Checker) run(checks []*check) Report {
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() { results[i] = c.runOne(ch) })
	}
	wg.Wait()
	r := Report{Status: StatusReady, CheckedAt: c.now(), Checks: results}
	for _, res := range results {
		if res.Status != StatusOK {
			r.Status = StatusNotReady
		}
	}
	return r
}

func (c *Checker) runOne(ch *check) Result {
	start := c.now()
	res := Result{Name: ch.name, Status: StatusOK}
	var err error
	if !ch.busy.CompareAndSwap(false, true) {
		err = errStillRunning
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		done := make(chan error, 1)
		go func() {
			defer ch.busy.Store(false)
			defer func() {
				if p := recover(); p != nil {
					done <- fmt.Errorf("health: check panicked: %v", p)
				}
			}()
			done <- ch.fn(ctx)
		}()
		timer := time.NewTimer(c.cfg.Timeout)
		select {
		case err = <-done:
		case <-timer.C:
			err = context.DeadlineExceeded // the check ignores ctx; it keeps busy set
		}
		timer.Stop()
		cancel()
	}
	res.LatencyMS = float64(c.now().Sub(start).Microseconds()) / 1000
	if err != nil {
		res.Status, res.Error = StatusUnavailable, StatusUnavailable+": "+category(err)
	}
	if was := ch.failing.Swap(err != nil); was != (err != nil) {
		if err != nil {
			c.log.Warn("health: check failing", "check", ch.name, "category", category(err), "err", err)
		} else {
			c.log.Info("health: check passing again", "check", ch.name)
		}
	}
	return res
}

var errStillRunning = Categorize("timeout", errors.New("health: previous call has not returned"))
