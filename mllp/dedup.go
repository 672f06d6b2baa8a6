package mllp

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// DefaultDedupSize is the default number of acknowledged messages
// remembered for retransmission detection.
const DefaultDedupSize = 10000

// dedup remembers the messages this gateway has published and acknowledged,
// keyed by sending application, sending facility and MSH-10, so that a
// retransmission (the sender lost our ACK and sends the message again) is
// acknowledged without being published twice.
//
// It is an optimisation only: the hub's store dedupes by the idempotency key
// it derives from the source and MSH-10 (record.NewKey), so a retransmission
// this cache has forgotten, or one that arrives after a gateway restart or at
// another gateway replica, is still stored once.
//
// The cache holds the SHA-256 of each message next to its key. A message
// whose key is known but whose content differs (a sender that reuses control
// ids, or that stamps a new MSH-7 on a resend) is published again: the
// gateway does not silently swallow a message it has not seen, and leaves the
// decision to the hub's idempotency rules.
//
// Bounded LRU, safe for concurrent use. A nil *dedup remembers nothing.
type dedup struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recently used; values are *dedupEntry
	index map[string]*list.Element
}

type dedupEntry struct {
	key    string
	digest [sha256.Size]byte
}

func newDedup(size int) *dedup {
	if size <= 0 {
		return nil
	}
	return &dedup{size: size, order: list.New(), index: make(map[string]*list.Element, min(size, 1<<16))}
}

// dedupKey joins the parts with a byte that cannot occur in an HL7 field.
func dedupKey(app, facility, controlID string) string {
	return app + "\x00" + facility + "\x00" + controlID
}

// lookup reports whether key is known (known) and whether it was stored with
// the same digest (same).
func (d *dedup) lookup(key string, digest [sha256.Size]byte) (known, same bool) {
	if d == nil {
		return false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.index[key]
	if !ok {
		return false, false
	}
	d.order.MoveToFront(el)
	return true, el.Value.(*dedupEntry).digest == digest
}

// add records that key, with the message's digest, was acknowledged.
func (d *dedup) add(key string, digest [sha256.Size]byte) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.index[key]; ok {
		el.Value.(*dedupEntry).digest = digest
		d.order.MoveToFront(el)
		return
	}
	d.index[key] = d.order.PushFront(&dedupEntry{key: key, digest: digest})
	for d.order.Len() > d.size {
		last := d.order.Back()
		d.order.Remove(last)
		delete(d.index, last.Value.(*dedupEntry).key)
	}
}

// len returns the number of remembered messages.
func (d *dedup) len() int {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}
