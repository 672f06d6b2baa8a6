package phi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/carecrest/hub/keys"
)

// Sealer seals and opens records and blobs under per-owner data keys. It is
// safe for concurrent use.
type Sealer struct {
	mgr   keys.Manager
	store keys.WrappedStore
	cache *keyCache
	now   func() time.Time
	hit   func()
	miss  func()

	mu     sync.Mutex
	flight map[flightKey]*flight // loads in progress
}

// flightKey separates get-or-create loads (sealing) from get-only loads
// (opening), so opening never creates a key.
type flightKey struct {
	owner  string
	create bool
}

// flight is one load of an owner's key that concurrent callers share.
type flight struct {
	done chan struct{}
	dk   *dataKey
	err  error
}

// NewSealer returns a Sealer that gets data keys from store, unwrapping (and
// generating) them with mgr. Zero fields of cfg take their defaults.
func NewSealer(mgr keys.Manager, store keys.WrappedStore, cfg CacheConfig) (*Sealer, error) {
	if mgr == nil || store == nil {
		return nil, errors.New("phi: NewSealer needs a key manager and a wrapped-key store")
	}
	def := CacheConfig{}.Defaults()
	if cfg.Size == 0 {
		cfg.Size = def.Size
	}
	if cfg.TTL == 0 {
		cfg.TTL = def.TTL
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sealer{
		mgr:    mgr,
		store:  store,
		cache:  newKeyCache(cfg.Size, cfg.TTL),
		now:    cfg.Now,
		hit:    orNop(cfg.OnHit),
		miss:   orNop(cfg.OnMiss),
		flight: make(map[flightKey]*flight),
	}, nil
}

// DataKey returns owner's data key, creating it on first use: from the
// cache, else the stored wrapped key unwrapped by the key manager, else a new
// key from the key manager stored with PutWrappedIfAbsent (whose answer wins
// when another writer stored a key first). The returned slice is the
// caller's copy.
func (s *Sealer) DataKey(ctx context.Context, owner string) ([]byte, error) {
	dk, err := s.dataKey(ctx, owner, true)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(dk.key), nil
}

// Evict drops owner's data key from the cache, for example after the
// owner's wrapped key was destroyed or rotated.
func (s *Sealer) Evict(owner string) {
	s.cache.evict(owner)
}

// dataKey returns owner's key from the cache or loads it, sharing one load
// among concurrent callers so that first uses of an owner generate one key.
func (s *Sealer) dataKey(ctx context.Context, owner string, create bool) (*dataKey, error) {
	if owner == "" {
		return nil, fmt.Errorf("%w: empty owner", ErrInvalid)
	}
	fk := flightKey{owner, create}
	if dk := s.cache.get(owner, s.now()); dk != nil {
		s.hit()
		return dk, nil
	}
	s.miss()
	for {
		if dk := s.cache.get(owner, s.now()); dk != nil {
			return dk, nil
		}
		s.mu.Lock()
		// A load that finished since the check above has filled the cache
		// before leaving the flight map.
		if dk := s.cache.get(owner, s.now()); dk != nil {
			s.mu.Unlock()
			return dk, nil
		}
		if f, ok := s.flight[fk]; ok {
			s.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			// The loader's own cancellation is not ours: try again.
			if f.err != nil && isContextErr(f.err) && ctx.Err() == nil {
				continue
			}
			return f.dk, f.err
		}
		f := &flight{done: make(chan struct{})}
		s.flight[fk] = f
		s.mu.Unlock()

		func() {
			defer func() { // also on panic, so waiters are released
				if f.dk == nil && f.err == nil {
					f.err = errors.New("phi: data key load aborted")
				}
				if f.err == nil {
					s.cache.put(owner, f.dk, s.now())
				}
				s.mu.Lock()
				delete(s.flight, fk)
				s.mu.Unlock()
				close(f.done)
			}()
			f.dk, f.err = s.load(ctx, owner, create)
		}()
		return f.dk, f.err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// load reads owner's wrapped key from the store and unwraps it; when there
// is none and create is set, it generates one and stores it unless another
// writer stored one first, in which case it uses the stored one.
func (s *Sealer) load(ctx context.Context, owner string, create bool) (*dataKey, error) {
	wrapped, ok, err := s.store.GetWrapped(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("phi: read wrapped data key: %w", err)
	}
	if ok {
		return s.unwrap(ctx, owner, wrapped)
	}
	if !create {
		return nil, ErrNoKey
	}
	plain, wrapped, err := s.mgr.GenerateDataKey(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("phi: generate data key: %w", err)
	}
	stored, err := s.store.PutWrappedIfAbsent(ctx, owner, wrapped)
	if err != nil {
		clear(plain)
		return nil, fmt.Errorf("phi: store wrapped data key: %w", err)
	}
	if !bytes.Equal(stored, wrapped) { // another writer won: use its key
		clear(plain)
		if len(stored) == 0 {
			return nil, errors.New("phi: store wrapped data key: store returned no key")
		}
		return s.unwrap(ctx, owner, stored)
	}
	return newDataKey(plain)
}

func (s *Sealer) unwrap(ctx context.Context, owner string, wrapped []byte) (*dataKey, error) {
	plain, err := s.mgr.UnwrapDataKey(ctx, owner, wrapped)
	if err != nil {
		return nil, fmt.Errorf("phi: unwrap data key: %w", err)
	}
	return newDataKey(plain)
}

func newDataKey(key []byte) (*dataKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("phi: key manager returned a %d-byte data key, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("phi: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("phi: %w", err)
	}
	return &dataKey{key: key, aead: aead}, nil
}

// Prepare makes sure the data keys of owners are in the cache, creating the
// missing ones. With a keys.BatchWrappedStore it reads the stored keys in
// one call and stores all new ones in one durable write, so sealing a batch
// of records for many new patients does not make one durable write per
// patient; otherwise it loads each owner in turn.
func (s *Sealer) Prepare(ctx context.Context, owners []string) error {
	now := s.now()
	seen := make(map[string]bool, len(owners))
	var missing []string
	for _, o := range owners {
		if o == "" || seen[o] {
			continue
		}
		seen[o] = true
		if s.cache.get(o, now) == nil {
			missing = append(missing, o)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	bs, ok := s.store.(keys.BatchWrappedStore)
	if !ok {
		for _, o := range missing {
			if _, err := s.dataKey(ctx, o, true); err != nil {
				return err
			}
		}
		return nil
	}
	stored, err := bs.GetWrappedMany(ctx, missing)
	if err != nil {
		return fmt.Errorf("phi: read wrapped data keys: %w", err)
	}
	fresh := make(map[string][]byte)
	plain := make(map[string][]byte)
	for _, o := range missing {
		if w, ok := stored[o]; ok {
			dk, err := s.unwrap(ctx, o, w)
			if err != nil {
				return err
			}
			s.cache.put(o, dk, s.now())
			continue
		}
		p, w, err := s.mgr.GenerateDataKey(ctx, o)
		if err != nil {
			return fmt.Errorf("phi: generate data key: %w", err)
		}
		fresh[o], plain[o] = w, p
	}
	if len(fresh) == 0 {
		return nil
	}
	won, err := bs.PutWrappedManyIfAbsent(ctx, fresh)
	if err != nil {
		for _, p := range plain {
			clear(p)
		}
		return fmt.Errorf("phi: store wrapped data keys: %w", err)
	}
	for o, w := range fresh {
		if _, ok := won[o]; !ok {
			// Destroyed owner (erased patient): no key. Sealing its records
			// fails with keys.ErrDestroyed and the message is rejected.
			clear(plain[o])
			continue
		}
		var dk *dataKey
		if bytes.Equal(won[o], w) {
			dk, err = newDataKey(plain[o])
		} else { // another writer stored a key first: use it
			clear(plain[o])
			dk, err = s.unwrap(ctx, o, won[o])
		}
		if err != nil {
			return err
		}
		s.cache.put(o, dk, s.now())
	}
	return nil
}

func orNop(f func()) func() {
	if f == nil {
		return func() {}
	}
	return f
}
