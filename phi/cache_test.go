package phi

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyCacheNeverExceedsSize(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(100, time.Minute)
	for i := range 1000 {
		c.put(fmt.Sprintf("owner-%d", i), &dataKey{}, now)
		if n := c.len(); n > 100 {
			t.Fatalf("cache holds %d keys, bound is 100", n)
		}
	}
	if len(c.items) != c.ll.Len() {
		t.Fatalf("index (%d) and list (%d) disagree", len(c.items), c.ll.Len())
	}
	// The most recent 100 are the ones kept.
	if c.get("owner-999", now) == nil || c.get("owner-900", now) == nil || c.get("owner-899", now) != nil {
		t.Fatal("cache did not keep the most recently used keys")
	}
}

func TestKeyCacheExpiryRemoves(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(10, time.Minute)
	c.put("a", &dataKey{}, now)
	if c.get("a", now.Add(time.Minute-1)) == nil {
		t.Fatal("expired early")
	}
	if c.get("a", now.Add(time.Minute)) != nil {
		t.Fatal("not expired at TTL")
	}
	if c.len() != 0 {
		t.Fatal("expired entry not removed")
	}
}
