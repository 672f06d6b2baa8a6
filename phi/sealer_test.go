package phi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/phi"
)

func TestDataKeyGetOrCreate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	k1, err := f.sealer.DataKey(ctx, "p-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("key is %d bytes", len(k1))
	}
	if f.mgr.generates.Load() != 1 || f.store.len() != 1 {
		t.Fatalf("generates=%d stored=%d, want 1 and 1", f.mgr.generates.Load(), f.store.len())
	}
	k1[0] ^= 0xff // the caller's copy: must not affect the cache
	k2, _ := f.sealer.DataKey(ctx, "p-1")
	if k1[0] == k2[0] {
		t.Fatal("DataKey returned the cached slice itself")
	}
	if f.mgr.generates.Load() != 1 || f.mgr.unwraps.Load() != 0 {
		t.Fatal("second DataKey did not come from the cache")
	}
	// A second hub on the same store unwraps the stored key.
	s2, _ := phi.NewSealer(f.mgr, f.store, phi.CacheConfig{})
	k3, err := s2.DataKey(ctx, "p-1")
	if err != nil || !bytes.Equal(k2, k3) || f.mgr.unwraps.Load() != 1 {
		t.Fatalf("second sealer: err=%v same=%v unwraps=%d", err, bytes.Equal(k2, k3), f.mgr.unwraps.Load())
	}
}

func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{Size: 2})
	get := func(owner string) {
		t.Helper()
		if _, err := f.sealer.DataKey(ctx, owner); err != nil {
			t.Fatal(err)
		}
	}
	unwrapsAfter := func(owner string) int64 {
		t.Helper()
		before := f.mgr.unwraps.Load()
		get(owner)
		return f.mgr.unwraps.Load() - before
	}
	get("a")
	get("b")
	get("c") // evicts a (least recently used)
	if n := unwrapsAfter("c") + unwrapsAfter("b"); n != 0 {
		t.Fatalf("b and c should be cached, got %d unwraps", n)
	}
	if n := unwrapsAfter("a"); n != 1 { // evicts c
		t.Fatalf("a should have been evicted, got %d unwraps", n)
	}
	if n := unwrapsAfter("b"); n != 0 {
		t.Fatalf("b should still be cached, got %d unwraps", n)
	}
	if n := unwrapsAfter("c"); n != 1 {
		t.Fatalf("c should have been evicted, got %d unwraps", n)
	}
}

func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := newFixture(t, phi.CacheConfig{TTL: time.Minute, Now: clock.Now})
	k1, err := f.sealer.DataKey(ctx, "p-1")
	if err != nil {
		t.Fatal(err)
	}
	gets := f.store.gets.Load()
	clock.Advance(59 * time.Second)
	f.sealer.DataKey(ctx, "p-1") // use does not extend the TTL
	if f.store.gets.Load() != gets {
		t.Fatal("key fetched again before the TTL")
	}
	clock.Advance(time.Second)
	k2, err := f.sealer.DataKey(ctx, "p-1")
	if err != nil {
		t.Fatal(err)
	}
	if f.store.gets.Load() != gets+1 || f.mgr.unwraps.Load() != 1 {
		t.Fatalf("after the TTL: store gets %d→%d, unwraps %d; want a refetch", gets, f.store.gets.Load(), f.mgr.unwraps.Load())
	}
	if !bytes.Equal(k1, k2) || f.mgr.generates.Load() != 1 {
		t.Fatal("refetch after TTL changed the key")
	}
}

func TestEvict(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	f.sealer.DataKey(ctx, "p-1")
	f.sealer.Evict("p-1")
	f.sealer.DataKey(ctx, "p-1")
	if f.mgr.unwraps.Load() != 1 {
		t.Fatal("Evict did not drop the cached key")
	}
}

// TestConcurrentFirstUseOneKey: many goroutines use a new owner at once; one
// key is generated and stored, and all see it.
func TestConcurrentFirstUseOneKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	const n = 64
	got := make([][]byte, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			k, err := f.sealer.DataKey(ctx, "p-new")
			if err != nil {
				t.Error(err)
			}
			got[i] = k
		})
	}
	close(start)
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("goroutine %d got another key", i)
		}
	}
	if g := f.mgr.generates.Load(); g != 1 {
		t.Fatalf("GenerateDataKey called %d times, want 1", g)
	}
	if p := f.store.puts.Load(); p != 1 || f.store.len() != 1 {
		t.Fatalf("store puts=%d keys=%d, want 1 and 1", p, f.store.len())
	}
}

// TestStoreArbitratesBetweenSealers: two hubs (separate caches) both find no
// key and both generate one; PutWrappedIfAbsent keeps one and both use it.
func TestStoreArbitratesBetweenSealers(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	var barrier sync.WaitGroup
	barrier.Add(2)
	store.beforeGetReturn = func() { barrier.Done(); barrier.Wait() } // both miss
	mgr := newCountingManager(t)
	s1, _ := phi.NewSealer(mgr, store, phi.CacheConfig{})
	s2, _ := phi.NewSealer(mgr, store, phi.CacheConfig{})
	var k1, k2 []byte
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if k1, err = s1.DataKey(ctx, "p-1"); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		var err error
		if k2, err = s2.DataKey(ctx, "p-1"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if mgr.generates.Load() != 2 {
		t.Fatalf("generates = %d, want 2 (the race did not happen)", mgr.generates.Load())
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("the two sealers use different keys for one owner")
	}
	if mgr.unwraps.Load() != 1 {
		t.Fatalf("unwraps = %d, want 1 (the loser unwraps the stored key)", mgr.unwraps.Load())
	}
	store.beforeGetReturn = nil
	s3, _ := phi.NewSealer(mgr, store, phi.CacheConfig{})
	if k3, _ := s3.DataKey(ctx, "p-1"); !bytes.Equal(k3, k1) {
		t.Fatal("stored key differs from the one in use")
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{Size: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				patient := fmt.Sprintf("p-%d", (g+i)%6) // more owners than the cache holds
				rec := newRecord(t, patientJSON, patient, fmt.Sprintf("r-%d-%d", g, i))
				s, err := f.sealer.Seal(ctx, rec)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := f.sealer.Open(ctx, &s, []string{"*"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if f.store.len() != 6 {
		t.Fatalf("stored keys = %d, want 6", f.store.len())
	}
}

// blockingManager blocks GenerateDataKey until release is closed.
type blockingManager struct {
	*countingManager
	entered chan struct{}
	release chan struct{}
}

func (m *blockingManager) GenerateDataKey(ctx context.Context, owner string) ([]byte, []byte, error) {
	m.entered <- struct{}{}
	select {
	case <-m.release:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("%w: %w", keys.ErrUnavailable, ctx.Err())
	}
	return m.countingManager.GenerateDataKey(ctx, owner)
}

// TestWaiterOutlivesCancelledLoader: the goroutine loading a key is
// cancelled; another one waiting for the same key must not fail because of
// it.
func TestWaiterOutlivesCancelledLoader(t *testing.T) {
	m := &blockingManager{countingManager: newCountingManager(t), entered: make(chan struct{}, 2), release: make(chan struct{})}
	s, _ := phi.NewSealer(m, newMemStore(), phi.CacheConfig{})
	loaderCtx, cancel := context.WithCancel(context.Background())
	loaderErr := make(chan error, 1)
	go func() {
		_, err := s.DataKey(loaderCtx, "p-1")
		loaderErr <- err
	}()
	<-m.entered // the loader is inside GenerateDataKey
	waiterErr := make(chan error, 1)
	go func() {
		_, err := s.DataKey(context.Background(), "p-1")
		waiterErr <- err
	}()
	cancel()
	if err := <-loaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("loader err = %v, want context.Canceled", err)
	}
	// The waiter either joined the cancelled flight and retried, or started
	// its own: either way it generates and succeeds once released.
	<-m.entered
	close(m.release)
	if err := <-waiterErr; err != nil {
		t.Fatalf("waiter err = %v", err)
	}
}

func TestBlob(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	payload := []byte("MSH|^~\\&|EHR|...|PID|||" + plantedMRN + "||" + plantedFamily)
	aad := []byte("hub.in.ehr/3/1042")
	b, err := f.sealer.SealBlob(ctx, keys.OwnerDeadLetter, payload, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(plantedFamily)) {
		t.Fatal("blob contains plaintext")
	}
	got, err := f.sealer.OpenBlob(ctx, keys.OwnerDeadLetter, b, aad)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("OpenBlob = %q, %v", got, err)
	}
	f.sealer.SealBlob(ctx, "p-1", nil, nil) // p-1 gets a key
	for name, open := range map[string]func() ([]byte, error){
		"other aad": func() ([]byte, error) {
			return f.sealer.OpenBlob(ctx, keys.OwnerDeadLetter, b, []byte("hub.in.ehr/3/1043"))
		},
		"other owner": func() ([]byte, error) { return f.sealer.OpenBlob(ctx, "p-1", b, aad) },
		"tampered": func() ([]byte, error) {
			c := bytes.Clone(b)
			c[15] ^= 1
			return f.sealer.OpenBlob(ctx, keys.OwnerDeadLetter, c, aad)
		},
		"short": func() ([]byte, error) { return f.sealer.OpenBlob(ctx, keys.OwnerDeadLetter, b[:20], aad) },
	} {
		if _, err := open(); !errors.Is(err, phi.ErrIntegrity) {
			t.Errorf("%s: err = %v, want ErrIntegrity", name, err)
		}
	}
	if _, err := f.sealer.OpenBlob(ctx, "p-unknown", b, aad); !errors.Is(err, phi.ErrNoKey) {
		t.Errorf("unknown owner: err = %v, want ErrNoKey", err)
	}
	// A record field never opens as a blob (domain separation by prefix).
	s, _ := f.sealer.Seal(ctx, newRecord(t, patientJSON, "p-1", "r-1"))
	if _, err := f.sealer.OpenBlob(ctx, "p-1", s.Fields["name"], []byte("r-1|name")); !errors.Is(err, phi.ErrIntegrity) {
		t.Errorf("field opened as blob: err = %v", err)
	}
}

func TestNewSealerConfig(t *testing.T) {
	m, st := newCountingManager(t), newMemStore()
	if _, err := phi.NewSealer(nil, st, phi.CacheConfig{}); err == nil {
		t.Error("nil manager accepted")
	}
	if _, err := phi.NewSealer(m, nil, phi.CacheConfig{}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := phi.NewSealer(m, st, phi.CacheConfig{Size: -1}); err == nil {
		t.Error("negative size accepted")
	}
	if _, err := phi.NewSealer(m, st, phi.CacheConfig{TTL: -time.Second}); err == nil {
		t.Error("negative TTL accepted")
	}
	d := phi.CacheConfig{}.Defaults()
	if err := d.Validate(); err != nil || d.Size != 10000 || d.TTL != 10*time.Minute {
		t.Errorf("Defaults = %+v, %v", d, err)
	}
	s, _ := phi.NewSealer(m, st, phi.CacheConfig{})
	if _, err := s.DataKey(context.Background(), ""); !errors.Is(err, phi.ErrInvalid) {
		t.Error("empty owner accepted")
	}
}

// TestCacheHitMissHooks: the first lookup of an owner's key misses, later
// ones hit, and an evicted key misses again.
func TestCacheHitMissHooks(t *testing.T) {
	var hits, misses atomic.Int64
	f := newFixture(t, phi.CacheConfig{OnHit: func() { hits.Add(1) }, OnMiss: func() { misses.Add(1) }})
	ctx := context.Background()
	for range 3 {
		if _, err := f.sealer.DataKey(ctx, "P1"); err != nil {
			t.Fatal(err)
		}
	}
	f.sealer.Evict("P1")
	if _, err := f.sealer.DataKey(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 2 || misses.Load() != 2 {
		t.Fatalf("hits %d misses %d, want 2 and 2", hits.Load(), misses.Load())
	}
}
