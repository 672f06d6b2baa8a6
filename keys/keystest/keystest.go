// Package keystest is the conformance suite of the keys.Manager contract.
// Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		keystest.Run(t, func(t *testing.T) keys.Manager { return newManager(t) })
//	}
package keystest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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
