package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/carecrest/hub/keys"
)

// KeyCacheHit counts one data-key lookup answered from the cache.
func (m *Metrics) KeyCacheHit() {
	if m == nil {
		return
	}
	m.keyCacheHits.Inc()
}

// KeyCacheMiss counts one data-key lookup that had to load the key.
func (m *Metrics) KeyCacheMiss() {
	if m == nil {
		return
	}
	m.keyCacheMisses.Inc()
}

// ObserveKeyManagerCall records one call to the key manager: its operation
// (KeyOpGenerate, KeyOpUnwrap, KeyOpRotate, KeyOpRewrap), its result
// (classified from err by the keys error categories) and its duration.
func (m *Metrics) ObserveKeyManagerCall(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	op = closed(keyOps, op)
	m.keyCalls.WithLabelValues(op, keyResult(err)).Inc()
	m.keyDuration.WithLabelValues(op).Observe(d.Seconds())
}

// keyResult classifies a key-manager error by its category.
func keyResult(err error) string {
	switch {
	case err == nil:
		return KeyResultOK
	case errors.Is(err, keys.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return KeyResultUnavailable
	case errors.Is(err, keys.ErrDenied):
		return KeyResultDenied
	case errors.Is(err, keys.ErrInvalid):
		return KeyResultInvalid
	case errors.Is(err, context.Canceled):
		return KeyResultCanceled
	default:
		return KeyResultError
	}
}

// InstrumentKeyManager returns mgr with every call timed and counted by
// ObserveKeyManagerCall. If mgr is a keys.Rotator, so is the result. With a
// nil m it returns mgr itself.
func (m *Metrics) InstrumentKeyManager(mgr keys.Manager) keys.Manager {
	if m == nil || mgr == nil {
		return mgr
	}
	im := instrumentedManager{m: m, mgr: mgr}
	if r, ok := mgr.(keys.Rotator); ok {
		return instrumentedRotator{instrumentedManager: im, r: r}
	}
	return im
}

type instrumentedManager struct {
	m   *Metrics
	mgr keys.Manager
}

var (
	_ keys.Manager = instrumentedManager{}
	_ keys.Rotator = instrumentedRotator{}
)

func (i instrumentedManager) GenerateDataKey(ctx context.Context, owner string) (plaintext, wrapped []byte, err error) {
	start := time.Now()
	plaintext, wrapped, err = i.mgr.GenerateDataKey(ctx, owner)
	i.m.ObserveKeyManagerCall(KeyOpGenerate, time.Since(start), err)
	return plaintext, wrapped, err
}

func (i instrumentedManager) UnwrapDataKey(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	start := time.Now()
	key, err := i.mgr.UnwrapDataKey(ctx, owner, wrapped)
	i.m.ObserveKeyManagerCall(KeyOpUnwrap, time.Since(start), err)
	return key, err
}

type instrumentedRotator struct {
	instrumentedManager
	r keys.Rotator
}

func (i instrumentedRotator) Rotate(ctx context.Context) error {
	start := time.Now()
	err := i.r.Rotate(ctx)
	i.m.ObserveKeyManagerCall(KeyOpRotate, time.Since(start), err)
	return err
}

func (i instrumentedRotator) Rewrap(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	start := time.Now()
	out, err := i.r.Rewrap(ctx, owner, wrapped)
	i.m.ObserveKeyManagerCall(KeyOpRewrap, time.Since(start), err)
	return out, err
}
