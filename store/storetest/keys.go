package storetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
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
