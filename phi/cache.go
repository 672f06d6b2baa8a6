package phi

import (
	"container/list"
	"crypto/cipher"
	"sync"
	"time"
)

// dataKey is an unwrapped data key ready for use.
type dataKey struct {
	key  []byte      // the DEK; read-only once cached
	aead cipher.AEAD // AES-256-GCM under key (holds its own copy of the schedule)
}

// keyCache is a bounded LRU of data keys by owner, each kept for at most ttl
// after it was added. It is safe for concurrent use.
type keyCache struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	ll    *list.List // front = most recently used; values are *cacheEntry
	items map[string]*list.Element
}

type cacheEntry struct {
	owner   string
	dk      *dataKey
	expires time.Time
}

func newKeyCache(size int, ttl time.Duration) *keyCache {
	return &keyCache{size: size, ttl: ttl, ll: list.New(), items: make(map[string]*list.Element)}
}

// get returns owner's key if cached and not expired at now.
func (c *keyCache) get(owner string, now time.Time) *dataKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[owner]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.remove(el)
		return nil
	}
	c.ll.MoveToFront(el)
	return e.dk
}

// put caches dk for owner from now, evicting the least recently used keys
// beyond the bound.
func (c *keyCache) put(owner string, dk *dataKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[owner]; ok {
		c.remove(el)
	}
	c.items[owner] = c.ll.PushFront(&cacheEntry{owner: owner, dk: dk, expires: now.Add(c.ttl)})
	for c.ll.Len() > c.size {
		c.remove(c.ll.Back())
	}
}

// evict drops owner's key.
func (c *keyCache) evict(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[owner]; ok {
		c.remove(el)
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// remove unlinks el. The key bytes are not wiped: callers in flight may
// still hold the entry, and the AEAD keeps its own expanded copy anyway, so
// wiping would promise more than Go can deliver.
func (c *keyCache) remove(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry)
	delete(c.items, e.owner)
}
