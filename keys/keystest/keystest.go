// Package keystest is the conformance suite of the keys.Manager contract.
// Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		keystest.Run(t, func(t *testing.T) keys.Manager { return newManager(t) })
//	}
//
// The Rotate* and Rewrap* subtests check the keys.Rotator contract and are
// skipped for managers that do not implement it.
package keystest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/carecrest/hub/keys"
)

// Distinctive owner names: the suite checks that they never appear in error
// messages.
const (
	ownerA = "keystest-patient-Aurelio-7731"
	ownerB = "keystest-patient-Brunhilde-9924"
)

// Run runs the conformance suite. newManager is called once per subtest and
// must return a manager with its own fresh state (register clean-ups with
// t.Cleanup).
func Run(t *testing.T, newManager func(t *testing.T) keys.Manager) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, m keys.Manager)
	}{
		{"RoundTrip", testRoundTrip},
		{"KeySize", testKeySize},
		{"DistinctKeys", testDistinctKeys},
		{"WrappedIsNotPlaintext", testWrappedIsNotPlaintext},
		{"OtherOwner", testOtherOwner},
		{"Tampered", testTampered},
		{"Concurrent", testConcurrent},
		{"RotateKeepsOldKeys", testRotateKeepsOldKeys},
		{"RewrapSameKey", testRewrapSameKey},
		{"RewrapOtherOwner", testRewrapOtherOwner},
		{"RewrapTampered", testRewrapTampered},
		{"RewrapAll", testRewrapAll},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newManager(t)) })
	}
}

func generate(t *testing.T, m keys.Manager, owner string) (plaintext, wrapped []byte) {
	t.Helper()
	p, w, err := m.GenerateDataKey(context.Background(), owner)
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	return p, w
}

func testRoundTrip(t *testing.T, m keys.Manager) {
	ctx := context.Background()
	for _, owner := range []string{ownerA, keys.OwnerIndex, keys.OwnerDeadLetter} {
		p, w := generate(t, m, owner)
		for range 2 { // unwrapping is repeatable
			got, err := m.UnwrapDataKey(ctx, owner, w)
			if err != nil {
				t.Fatalf("UnwrapDataKey: %v", err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("UnwrapDataKey returned a different key than GenerateDataKey")
			}
		}
	}
}

func testKeySize(t *testing.T, m keys.Manager) {
	p, w := generate(t, m, ownerA)
	if len(p) != 32 {
		t.Fatalf("data key is %d bytes, want 32", len(p))
	}
	got, err := m.UnwrapDataKey(context.Background(), ownerA, w)
	if err != nil {
		t.Fatalf("UnwrapDataKey: %v", err)
	}
	if len(got) != 32 {
		t.Fatalf("unwrapped key is %d bytes, want 32", len(got))
	}
}

func testDistinctKeys(t *testing.T, m keys.Manager) {
	seenP := map[string]bool{}
	seenW := map[string]bool{}
	for i := range 16 {
		owner := ownerA
		if i%2 == 1 {
			owner = ownerB
		}
		p, w := generate(t, m, owner)
		if seenP[string(p)] {
			t.Fatalf("call %d returned a data key seen before", i)
		}
		if seenW[string(w)] {
			t.Fatalf("call %d returned a wrapped key seen before", i)
		}
		seenP[string(p)], seenW[string(w)] = true, true
	}
}

func testWrappedIsNotPlaintext(t *testing.T, m keys.Manager) {
	p, w := generate(t, m, ownerA)
	if len(w) == 0 {
		t.Fatal("wrapped key is empty")
	}
	if bytes.Equal(w, p) || bytes.Contains(w, p) {
		t.Fatal("wrapped key contains the plaintext key")
	}
	// Nor hex or base64 text of it, for backends with textual formats.
	for _, enc := range []string{fmt.Sprintf("%x", p), fmt.Sprintf("%X", p)} {
		if bytes.Contains(w, []byte(enc)) {
			t.Fatal("wrapped key contains the plaintext key in hex")
		}
	}
}

func testOtherOwner(t *testing.T, m keys.Manager) {
	p, w := generate(t, m, ownerA)
	for _, other := range []string{ownerB, ownerA + "x", strings.ToUpper(ownerA), keys.OwnerDeadLetter} {
		got, err := m.UnwrapDataKey(context.Background(), other, w)
		if !errors.Is(err, keys.ErrInvalid) {
			t.Fatalf("unwrap with another owner: err = %v, want keys.ErrInvalid", err)
		}
		if got != nil {
			t.Fatal("unwrap with another owner returned key bytes along with the error")
		}
		checkErrorText(t, err, p, w)
	}
}

func testTampered(t *testing.T, m keys.Manager) {
	p, w := generate(t, m, ownerA)
	variants := map[string][]byte{
		"empty":     {},
		"nil":       nil,
		"truncated": w[:len(w)-1],
		"halved":    w[:len(w)/2],
		"appended":  append(bytes.Clone(w), 0),
		"plaintext": p,
	}
	for _, i := range []int{0, len(w) / 2, len(w) - 1} {
		b := bytes.Clone(w)
		b[i] ^= 0x01
		variants[fmt.Sprintf("flip byte %d", i)] = b
	}
	for name, b := range variants {
		got, err := m.UnwrapDataKey(context.Background(), ownerA, b)
		if !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%s: err = %v, want keys.ErrInvalid", name, err)
			continue
		}
		if got != nil {
			t.Errorf("%s: returned key bytes along with the error", name)
		}
		checkErrorText(t, err, p, w)
	}
}

func testConcurrent(t *testing.T, m keys.Manager) {
	ctx := context.Background()
	const workers, rounds = 8, 16
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				owner := fmt.Sprintf("keystest-owner-%d", (g+i)%3) // owners shared across goroutines
				p, w, err := m.GenerateDataKey(ctx, owner)
				if err != nil {
					t.Errorf("GenerateDataKey: %v", err)
					return
				}
				got, err := m.UnwrapDataKey(ctx, owner, w)
				if err != nil {
					t.Errorf("UnwrapDataKey: %v", err)
					return
				}
				if !bytes.Equal(got, p) {
					t.Errorf("concurrent round trip returned a different key")
					return
				}
			}
		})
	}
	wg.Wait()
}

// checkErrorText fails if an error message reveals key material or owners.
func checkErrorText(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	msg := err.Error()
	for _, owner := range []string{ownerA, ownerB} {
		if strings.Contains(msg, owner) {
			t.Errorf("error message names the owner: %q", msg)
		}
	}
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		for _, enc := range []string{string(s), fmt.Sprintf("%x", s), fmt.Sprintf("%v", s), base64.StdEncoding.EncodeToString(s)} {
			if strings.Contains(msg, enc) {
				t.Errorf("error message contains key material")
			}
		}
	}
}

// rotator returns m as a keys.Rotator, or skips the test.
func rotator(t *testing.T, m keys.Manager) keys.Rotator {
	t.Helper()
	r, ok := m.(keys.Rotator)
	if !ok {
		t.Skipf("%T does not implement keys.Rotator", m)
	}
	return r
}

func unwrapEquals(t *testing.T, m keys.Manager, owner string, wrapped, want []byte) {
	t.Helper()
	got, err := m.UnwrapDataKey(context.Background(), owner, wrapped)
	if err != nil {
		t.Fatalf("UnwrapDataKey: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("UnwrapDataKey returned a different key than GenerateDataKey")
	}
}

func testRotateKeepsOldKeys(t *testing.T, m keys.Manager) {
	r := rotator(t, m)
	ctx := context.Background()
	p1, w1 := generate(t, m, ownerA)
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	p2, w2 := generate(t, m, ownerA)
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("second Rotate: %v", err)
	}
	unwrapEquals(t, m, ownerA, w1, p1) // two versions old
	unwrapEquals(t, m, ownerA, w2, p2)
	p3, w3 := generate(t, m, ownerA)
	unwrapEquals(t, m, ownerA, w3, p3)
	if _, err := m.UnwrapDataKey(ctx, ownerB, w1); !errors.Is(err, keys.ErrInvalid) {
		t.Fatalf("old wrapped key with another owner after rotation: err = %v, want keys.ErrInvalid", err)
	}
}

func testRewrapSameKey(t *testing.T, m keys.Manager) {
	r := rotator(t, m)
	ctx := context.Background()
	p, w := generate(t, m, ownerA)
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	nw, err := r.Rewrap(ctx, ownerA, w)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if bytes.Equal(nw, w) {
		t.Fatal("Rewrap after Rotate returned the same wrapped key")
	}
	if bytes.Contains(nw, p) {
		t.Fatal("re-wrapped key contains the plaintext key")
	}
	unwrapEquals(t, m, ownerA, nw, p)
	// The old one still unwraps until its KEK version is retired.
	unwrapEquals(t, m, ownerA, w, p)
	// Re-wrapping a key that is already current is harmless.
	again, err := r.Rewrap(ctx, ownerA, nw)
	if err != nil {
		t.Fatalf("Rewrap of a current key: %v", err)
	}
	unwrapEquals(t, m, ownerA, again, p)
}

func testRewrapOtherOwner(t *testing.T, m keys.Manager) {
	r := rotator(t, m)
	ctx := context.Background()
	p, w := generate(t, m, ownerA)
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	got, err := r.Rewrap(ctx, ownerB, w)
	if !errors.Is(err, keys.ErrInvalid) {
		t.Fatalf("Rewrap with another owner: err = %v, want keys.ErrInvalid", err)
	}
	if got != nil {
		t.Fatal("Rewrap with another owner returned bytes along with the error")
	}
	checkErrorText(t, err, p, w)
}

func testRewrapTampered(t *testing.T, m keys.Manager) {
	r := rotator(t, m)
	p, w := generate(t, m, ownerA)
	flipped := bytes.Clone(w)
	flipped[len(flipped)/2] ^= 0x01
	for name, b := range map[string][]byte{"empty": nil, "truncated": w[:len(w)-1], "flipped": flipped, "plaintext": p} {
		got, err := r.Rewrap(context.Background(), ownerA, b)
		if !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%s: err = %v, want keys.ErrInvalid", name, err)
			continue
		}
		if got != nil {
			t.Errorf("%s: returned bytes along with the error", name)
		}
		checkErrorText(t, err, p, w)
	}
}

func testRewrapAll(t *testing.T, m keys.Manager) {
	r := rotator(t, m)
	ctx := context.Background()
	s := &memStore{keys: map[string][]byte{}}
	plain := map[string][]byte{}
	for _, owner := range []string{ownerA, ownerB, keys.OwnerIndex, keys.OwnerDeadLetter} {
		p, w := generate(t, m, owner)
		plain[owner] = p
		s.keys[owner] = w
	}
	before := cloneAll(s.keys)
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	n, err := keys.RewrapAll(ctx, r, s)
	if err != nil {
		t.Fatalf("RewrapAll: %v", err)
	}
	if n != len(plain) {
		t.Fatalf("RewrapAll re-wrapped %d keys, want %d", n, len(plain))
	}
	for owner, p := range plain {
		if bytes.Equal(s.keys[owner], before[owner]) {
			t.Errorf("RewrapAll left a key unchanged")
		}
		unwrapEquals(t, m, owner, s.keys[owner], p)
	}
}

func cloneAll(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = bytes.Clone(v)
	}
	return out
}

// memStore is a keys.MaintainedStore in memory, for RewrapAll.
type memStore struct {
	mu        sync.Mutex
	keys      map[string][]byte
	destroyed []string
}

func (s *memStore) GetWrapped(_ context.Context, owner string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.keys[owner]
	return bytes.Clone(w), ok, nil
}

func (s *memStore) PutWrappedIfAbsent(_ context.Context, owner string, wrapped []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.destroyed, owner) {
		return nil, keys.ErrDestroyed
	}
	if w, ok := s.keys[owner]; ok {
		return bytes.Clone(w), nil
	}
	s.keys[owner] = bytes.Clone(wrapped)
	return bytes.Clone(wrapped), nil
}

func (s *memStore) RangeWrapped(_ context.Context, fn func(owner string, wrapped []byte) error) error {
	s.mu.Lock()
	all := cloneAll(s.keys)
	s.mu.Unlock()
	owners := make([]string, 0, len(all))
	for o := range all {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	for _, o := range owners {
		if err := fn(o, all[o]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) ReplaceWrapped(_ context.Context, owner string, wrapped []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[owner]; !ok {
		return fmt.Errorf("keystest: replace of a missing key")
	}
	s.keys[owner] = bytes.Clone(wrapped)
	return nil
}

func (s *memStore) DestroyWrapped(_ context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, owner)
	s.destroyed = append(s.destroyed, owner)
	return nil
}

var _ keys.MaintainedStore = (*memStore)(nil)
