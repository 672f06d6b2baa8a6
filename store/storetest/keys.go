package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/carecrest/hub/keys"
)

func (s *suite) testWrappedKeys(t *testing.T) {
	b := s.h.New(t, "hub-a")
	ctx := context.Background()
	if w, ok, err := b.GetWrapped(ctx, "P1"); err != nil || ok || w != nil {
		t.Fatalf("GetWrapped of an absent owner = %x, %v, %v; want nil, false, nil", w, ok, err)
	}
	first := append([]byte{0, 1, 2, 0xff}, binary...)
	stored, err := b.PutWrappedIfAbsent(ctx, "P1", first)
	if err != nil || !bytes.Equal(stored, first) {
		t.Fatalf("first PutWrappedIfAbsent = %x, %v; want the key put", stored, err)
	}
	stored, err = b.PutWrappedIfAbsent(ctx, "P1", []byte("second"))
	if err != nil || !bytes.Equal(stored, first) {
		t.Fatalf("second PutWrappedIfAbsent = %q, %v; want the first key", stored, err)
	}
	if w, ok, err := b.GetWrapped(ctx, "P1"); err != nil || !ok || !bytes.Equal(w, first) {
		t.Fatalf("GetWrapped = %x, %v, %v; want the first key", w, ok, err)
	}
	if _, ok, _ := b.GetWrapped(ctx, "P2"); ok {
		t.Fatal("a key stored for P1 is returned for P2")
	}

	// Concurrent writers of one owner agree on one key.
	const writers = 16
	got := make([][]byte, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			w, err := b.PutWrappedIfAbsent(ctx, "hub:index", []byte(fmt.Sprintf("wrapped-%d", i)))
			if err != nil {
				t.Errorf("concurrent PutWrappedIfAbsent: %v", err)
			}
			got[i] = w
		})
	}
	wg.Wait()
	final, ok, err := b.GetWrapped(ctx, "hub:index")
	if err != nil || !ok {
		t.Fatalf("GetWrapped after concurrent puts: %v, %v", ok, err)
	}
	for i, w := range got {
		if !bytes.Equal(w, final) {
			t.Errorf("writer %d got %q, the store holds %q", i, w, final)
		}
	}
}

func (s *suite) testLinks(t *testing.T) {
	b := s.h.New(t, "hub-a")
	ctx := context.Background()
	lookup := func(hashes ...string) map[string]string {
		t.Helper()
		got, err := b.LookupLinks(ctx, hashes)
		if err != nil {
			t.Fatalf("LookupLinks: %v", err)
		}
		return got
	}
	if got := lookup(); len(got) != 0 {
		t.Errorf("LookupLinks() = %v", got)
	}
	if got := lookup("h1"); len(got) != 0 {
		t.Errorf("LookupLinks of an unknown hash = %v", got)
	}
	put := func(links map[string]string) {
		t.Helper()
		if err := b.PutLinks(ctx, links); err != nil {
			t.Fatalf("PutLinks: %v", err)
		}
	}
	put(map[string]string{})
	put(map[string]string{"h1": "P1", "h2": "P1"})
	put(map[string]string{"h1": "P2", "h3": "P3"}) // h1 is linked already: the first link wins
	want := map[string]string{"h1": "P1", "h2": "P1", "h3": "P3"}
	if got := lookup("h1", "h2", "h3", "h4"); !maps.Equal(got, want) {
		t.Errorf("LookupLinks = %v, want %v", got, want)
	}

	// Many hashes at once (backends chunk their queries).
	many := map[string]string{}
	var hashes []string
	for i := range 1200 {
		h := fmt.Sprintf("%064x", i+1000)
		many[h] = fmt.Sprintf("P%d", i%7)
		hashes = append(hashes, h)
	}
	put(many)
	if got := lookup(hashes...); !maps.Equal(got, many) {
		t.Errorf("LookupLinks of %d hashes returned %d links", len(many), len(got))
	}

	// Concurrent writers linking one hash to different patients: all
	// readers see one link.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := b.PutLinks(ctx, map[string]string{"contested": fmt.Sprintf("P%d", i), fmt.Sprintf("own-%d", i): "P"}); err != nil {
				t.Errorf("concurrent PutLinks: %v", err)
			}
		})
	}
	wg.Wait()
	first := lookup("contested")["contested"]
	if first == "" {
		t.Fatal("contested hash not linked")
	}
	for range 3 {
		if got := lookup("contested")["contested"]; got != first {
			t.Fatalf("contested link changed from %s to %s", first, got)
		}
	}
	put(map[string]string{"contested": "P-late"})
	if got := lookup("contested")["contested"]; got != first {
		t.Errorf("a later PutLinks relinked the hash to %s", got)
	}
}

// testMaintainedKeys checks keys.MaintainedStore, for backends that
// implement it: listing, replacing and destroying wrapped keys.
func (s *suite) testMaintainedKeys(t *testing.T) {
	b := s.h.New(t, "hub-a")
	m, ok := b.(keys.MaintainedStore)
	if !ok {
		t.Skip("storetest: backend does not implement keys.MaintainedStore")
	}
	ctx := context.Background()
	put := func(owner string, w []byte) {
		t.Helper()
		if got, err := m.PutWrappedIfAbsent(ctx, owner, w); err != nil || !bytes.Equal(got, w) {
			t.Fatalf("PutWrappedIfAbsent(%s) = %x, %v; want the key put", owner, got, err)
		}
	}
	get := func(owner string, want []byte) {
		t.Helper()
		w, ok, err := m.GetWrapped(ctx, owner)
		switch {
		case err != nil:
			t.Fatalf("GetWrapped(%s): %v", owner, err)
		case want == nil && (ok || w != nil):
			t.Errorf("GetWrapped(%s) = %x, %v; want absent", owner, w, ok)
		case want != nil && (!ok || !bytes.Equal(w, want)):
			t.Errorf("GetWrapped(%s) = %x, %v; want %x", owner, w, ok, want)
		}
	}
	all := func() map[string][]byte {
		t.Helper()
		got := map[string][]byte{}
		if err := m.RangeWrapped(ctx, func(owner string, w []byte) error {
			if _, dup := got[owner]; dup {
				t.Errorf("RangeWrapped listed %s twice", owner)
			}
			got[owner] = bytes.Clone(w)
			return nil
		}); err != nil {
			t.Fatalf("RangeWrapped: %v", err)
		}
		return got
	}
	same := func(what string, got, want map[string][]byte) {
		t.Helper()
		if !maps.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}

	if got := all(); len(got) != 0 {
		t.Errorf("RangeWrapped of an empty store listed %q", got)
	}
	k1, k2, k3 := append([]byte{0, 0xff}, binary...), []byte("wrapped-P2"), []byte("wrapped-index")
	put("P1", k1)
	put("P2", k2)
	put(keys.OwnerIndex, k3)
	same("RangeWrapped", all(), map[string][]byte{"P1": k1, "P2": k2, keys.OwnerIndex: k3})

	// RangeWrapped stops at fn's first error and returns it.
	stop := errors.New("stop")
	calls := 0
	if err := m.RangeWrapped(ctx, func(string, []byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("RangeWrapped with fn failing: %v after %d calls; want fn's error after 1", err, calls)
	}

	// ReplaceWrapped: the re-wrapped key is the owner's key from now on,
	// and PutWrappedIfAbsent returns it.
	k1b := []byte("wrapped-P1-v2")
	if err := m.ReplaceWrapped(ctx, "P1", k1b); err != nil {
		t.Fatalf("ReplaceWrapped: %v", err)
	}
	get("P1", k1b)
	if got, err := m.PutWrappedIfAbsent(ctx, "P1", []byte("another")); err != nil || !bytes.Equal(got, k1b) {
		t.Errorf("PutWrappedIfAbsent after ReplaceWrapped = %q, %v; want the replacement", got, err)
	}
	same("RangeWrapped after ReplaceWrapped", all(), map[string][]byte{"P1": k1b, "P2": k2, keys.OwnerIndex: k3})

	// DestroyWrapped: absent from now on, and never created again.
	if err := m.DestroyWrapped(ctx, "P2"); err != nil {
		t.Fatalf("DestroyWrapped: %v", err)
	}
	destroyed := func(b Backend, owner string) {
		t.Helper()
		m := b.(keys.MaintainedStore)
		get(owner, nil)
		if w, err := m.PutWrappedIfAbsent(ctx, owner, []byte("new key")); !errors.Is(err, keys.ErrDestroyed) {
			t.Errorf("PutWrappedIfAbsent(%s) after DestroyWrapped = %q, %v; want keys.ErrDestroyed", owner, w, err)
		}
		if err := m.ReplaceWrapped(ctx, owner, []byte("re-wrapped")); err == nil {
			t.Errorf("ReplaceWrapped(%s) after DestroyWrapped succeeded; want an error", owner)
		}
		if bs, ok := b.(keys.BatchWrappedStore); ok {
			if got, err := bs.GetWrappedMany(ctx, []string{owner, "P1"}); err != nil || got[owner] != nil || !bytes.Equal(got["P1"], k1b) {
				t.Errorf("GetWrappedMany(%s, P1) after DestroyWrapped = %q, %v; want P1 only", owner, got, err)
			}
			// A batch put leaves the destroyed owner out of its answer (and
			// stores no key for it); the other owners get theirs.
			other := "P-other-" + owner
			if got, err := bs.PutWrappedManyIfAbsent(ctx, map[string][]byte{owner: []byte("new"), other: []byte("x")}); err != nil ||
				len(got) != 1 || !bytes.Equal(got[other], []byte("x")) {
				t.Errorf("PutWrappedManyIfAbsent naming destroyed %s = %q, %v; want only %s's key", owner, got, err, other)
			}
		}
		get(owner, nil)
	}
	destroyed(b, "P2")
	get("P1", k1b)
	want := map[string][]byte{"P1": k1b, keys.OwnerIndex: k3}
	if _, ok := b.(keys.BatchWrappedStore); ok {
		want["P-other-P2"] = []byte("x")
	}
	same("RangeWrapped after DestroyWrapped", all(), want)

	// Destroying twice, or an owner that never had a key, is not an error;
	// the latter can then never get one either.
	if err := m.DestroyWrapped(ctx, "P2"); err != nil {
		t.Errorf("DestroyWrapped twice: %v", err)
	}
	if err := m.DestroyWrapped(ctx, "P-never"); err != nil {
		t.Errorf("DestroyWrapped of an owner without a key: %v", err)
	}
	destroyed(b, "P-never")

	// Durable: a restarted store sees the same.
	if s.h.Reopen != nil {
		b2 := s.h.Reopen(t, b, "hub-a")
		m = b2.(keys.MaintainedStore)
		destroyed(b2, "P2")
		destroyed(b2, "P-never")
		get("P1", k1b)
		want := map[string][]byte{"P1": k1b, keys.OwnerIndex: k3}
		if _, ok := b2.(keys.BatchWrappedStore); ok {
			want["P-other-P2"], want["P-other-P-never"] = []byte("x"), []byte("x")
		}
		same("RangeWrapped after reopen", all(), want)
	}
}
