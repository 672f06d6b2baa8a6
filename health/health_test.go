package health

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newChecker(t *testing.T, cfg Config) *Checker {
	t.Helper()
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, h http.Handler, method string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func decode(t *testing.T, body string) Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return r
}

func ok(context.Context) error { return nil }

func TestReady(t *testing.T) {
	c := newChecker(t, Config{})
	c.Register("store", ok)
	c.Register("broker", ok)
	c.Register("keys", ok)
	c.Register("policy", ok)

	code, hdr, body := get(t, c.Readiness(), http.MethodGet)
	if code != http.StatusOK {
		t.Fatalf("status %d, body %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if cc := hdr.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("cache control %q", cc)
	}
	r := decode(t, body)
	if r.Status != StatusReady || len(r.Checks) != 4 || r.CheckedAt.IsZero() {
		t.Fatalf("report %+v", r)
	}
	for i, name := range []string{"store", "broker", "keys", "policy"} {
		got := r.Checks[i]
		if got.Name != name || got.Status != StatusOK || got.Error != "" || got.LatencyMS < 0 {
			t.Errorf("check %d = %+v, want %s ok", i, got, name)
		}
	}
	if !strings.Contains(body, `"latency_ms":`) {
		t.Errorf("body lacks latency: %s", body)
	}
}

func TestNoChecksIsReady(t *testing.T) {
	c := newChecker(t, Config{})
	if code, _, body := get(t, c.Readiness(), http.MethodGet); code != http.StatusOK || decode(t, body).Checks == nil {
		t.Fatalf("status %d, body %s", code, body)
	}
}

// TestNotReadyHidesErrors: a failing check makes the instance not ready,
// and the body names only a category, never the error's text.
func TestNotReadyHidesErrors(t *testing.T) {
	secret := "vault token hvs.CAESIJ-secret at https://vault.internal:8200 user=svc-hub password=hunter2"
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New(secret), "unavailable: error"},
		{"categorized", Categorize(CategoryAuth, errors.New(secret)), "unavailable: auth"},
		{"not-loaded", Categorize(CategoryNotLoaded, errors.New(secret)), "unavailable: not loaded"},
		{"bad-category", Categorize("Secret: "+secret, errors.New(secret)), "unavailable: error"},
		{"deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), "unavailable: timeout"},
		{"dial", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New(secret)}, "unavailable: network"},
		{"dns", &net.DNSError{Err: secret, Name: "vault.internal"}, "unavailable: dns"},
		{"tls", fmt.Errorf("%s: %w", secret, x509.UnknownAuthorityError{}), "unavailable: tls"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hc := newChecker(t, Config{})
			hc.Register("store", ok)
			hc.Register("keys", func(context.Context) error { return c.err })
			code, _, body := get(t, hc.Readiness(), http.MethodGet)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", code)
			}
			r := decode(t, body)
			if r.Status != StatusNotReady {
				t.Errorf("status %q", r.Status)
			}
			if r.Checks[0].Status != StatusOK || r.Checks[1].Status != StatusUnavailable || r.Checks[1].Error != c.want {
				t.Errorf("checks %+v, want keys %q", r.Checks, c.want)
			}
			for _, leak := range []string{"hvs.", "hunter2", "vault.internal", "svc-hub", "Secret"} {
				if strings.Contains(body, leak) {
					t.Errorf("body leaks %q: %s", leak, body)
				}
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	c := newChecker(t, Config{Timeout: 50 * time.Millisecond, CacheTTL: time.Nanosecond})
	c.Register("broker", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	release := make(chan struct{})
	var calls atomic.Int32
	c.Register("stuck", func(context.Context) error { // ignores its context
		calls.Add(1)
		<-release
		return nil
	})

	start := time.Now()
	r := c.Check(context.Background())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("round took %s with a 50ms timeout", took)
	}
	for _, res := range r.Checks {
		if res.Error != "unavailable: timeout" {
			t.Errorf("%s: %+v, want timeout", res.Name, res)
		}
	}
	// The stuck call has not returned: the next round does not pile another
	// one on top of it.
	time.Sleep(time.Millisecond)
	r = c.Check(context.Background())
	if r.Checks[1].Error != "unavailable: timeout" || calls.Load() != 1 {
		t.Errorf("second round: %+v, %d calls (want 1)", r.Checks[1], calls.Load())
	}
	close(release)
	// Once it has returned, it runs again.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		c.Check(context.Background())
	}
	if calls.Load() < 2 {
		t.Error("the check was never run again after it returned")
	}
}

func TestPanickingCheck(t *testing.T) {
	c := newChecker(t, Config{})
	c.Register("policy", func(context.Context) error { panic("no policy for you") })
	r := c.Check(context.Background())
	if r.Ready() || r.Checks[0].Error != "unavailable: error" {
		t.Errorf("report %+v", r)
	}
}

// TestProbesShareRounds: however many probes arrive, the dependencies see
// one round per cache interval.
func TestProbesShareRounds(t *testing.T) {
	c := newChecker(t, Config{CacheTTL: 2 * time.Second})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	var calls atomic.Int32
	gate := make(chan struct{})
	c.Register("store", func(context.Context) error {
		calls.Add(1)
		<-gate // hold the round open so that the probes below overlap it
		return nil
	})

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if code, _, body := get(t, c.Readiness(), http.MethodGet); code != http.StatusOK {
				t.Errorf("status %d: %s", code, body)
			}
		})
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 concurrent probes ran the check %d times, want 1", n)
	}

	advance(time.Second)
	c.Check(context.Background())
	if n := calls.Load(); n != 1 {
		t.Fatalf("a probe within the cache TTL ran the check (%d calls)", n)
	}
	advance(1500 * time.Millisecond)
	c.Check(context.Background())
	if n := calls.Load(); n != 2 {
		t.Fatalf("a probe after the cache TTL did not run the check (%d calls)", n)
	}
}

// TestProbeGivesUp: a probe whose own context ends stops waiting, without
// cancelling the round other probes share.
func TestProbeGivesUp(t *testing.T) {
	c := newChecker(t, Config{Timeout: 5 * time.Second})
	gate := make(chan struct{})
	var cancelled atomic.Bool
	c.Register("store", func(ctx context.Context) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			cancelled.Store(true)
			return ctx.Err()
		}
	})
	done := make(chan Report)
	go func() { done <- c.Check(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	for {
		c.mu.Lock()
		running := c.running != nil
		c.mu.Unlock()
		if running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if r := c.Check(ctx); r.Ready() {
		t.Errorf("a probe that gave up reported ready: %+v", r)
	}
	close(gate)
	if r := <-done; !r.Ready() || cancelled.Load() {
		t.Errorf("the shared round was disturbed: %+v, cancelled %v", r, cancelled.Load())
	}
}

func TestDrain(t *testing.T) {
	c := newChecker(t, Config{})
	c.Register("store", ok)
	c.Check(context.Background()) // cached as ready
	c.Drain()
	code, _, body := get(t, c.Readiness(), http.MethodGet)
	if code != http.StatusServiceUnavailable || decode(t, body).Status != StatusDraining {
		t.Errorf("readyz while draining: %d %s", code, body)
	}
	if code, _, _ := get(t, c.Liveness(), http.MethodGet); code != http.StatusOK {
		t.Errorf("healthz while draining: %d", code)
	}
}

func TestLiveness(t *testing.T) {
	c := newChecker(t, Config{})
	c.Register("store", func(context.Context) error { return errors.New("down") })
	code, _, body := get(t, c.Liveness(), http.MethodGet)
	if code != http.StatusOK || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s (a dependency outage must not fail liveness)", code, body)
	}
	if code, _, body := get(t, c.Liveness(), http.MethodHead); code != http.StatusOK || body != "" {
		t.Errorf("HEAD healthz: %d %q", code, body)
	}
	if code, hdr, _ := get(t, c.Readiness(), http.MethodPost); code != http.StatusMethodNotAllowed || hdr.Get("Allow") == "" {
		t.Errorf("POST readyz: %d", code)
	}
}

func TestMount(t *testing.T) {
	c := newChecker(t, Config{})
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestRegisterRejects(t *testing.T) {
	for name, fn := range map[string]func(c *Checker){
		"duplicate": func(c *Checker) { c.Register("store", ok); c.Register("store", ok) },
		"bad name":  func(c *Checker) { c.Register("Store DB", ok) },
		"nil check": func(c *Checker) { c.Register("store", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			fn(newChecker(t, Config{}))
		})
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{Timeout: -time.Second}, nil); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := New(Config{CacheTTL: time.Hour}, nil); err == nil {
		t.Error("hour-long cache accepted")
	}
	var c Config
	c.Defaults()
	if c.Timeout != 2*time.Second || c.CacheTTL != 2*time.Second {
		t.Errorf("defaults %+v", c)
	}
}
