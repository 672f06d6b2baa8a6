package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/keys/vault/transittest"
)

// generateMany generates data keys for n owners.
func generateMany(t *testing.T, m *vault.Manager, n int) (plain, wrapped map[string][]byte) {
	t.Helper()
	plain, wrapped = map[string][]byte{}, map[string][]byte{}
	for i := range n {
		owner := fmt.Sprintf("batch-owner-%d", i)
		p, w, err := m.GenerateDataKey(context.Background(), owner)
		if err != nil {
			t.Fatal(err)
		}
		plain[owner], wrapped[owner] = p, w
	}
	return plain, wrapped
}

func TestUnwrapManyOneCall(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg, srv := b.config(t)
			m := newManager(t, cfg)
			plain, wrapped := generateMany(t, m, 20)
			var before int
			if srv != nil {
				before = srv.Count("transit/decrypt/")
			}
			got, err := m.UnwrapMany(context.Background(), wrapped)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(plain) {
				t.Fatalf("got %d keys, want %d", len(got), len(plain))
			}
			for o, p := range plain {
				if !bytes.Equal(got[o], p) {
					t.Fatalf("key of an owner differs from the generated one")
				}
			}
			if srv != nil {
				if n := srv.Count("transit/decrypt/") - before; n != 1 {
					t.Fatalf("UnwrapMany of 20 keys made %d decrypt calls, want 1", n)
				}
			}
		})
	}
}

func TestUnwrapManyPartialFailure(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg, _ := b.config(t)
			m := newManager(t, cfg)
			ctx := context.Background()
			plain, wrapped := generateMany(t, m, 4)
			_, foreign, err := m.GenerateDataKey(ctx, ownerB)
			if err != nil {
				t.Fatal(err)
			}
			tampered := bytes.Clone(wrapped["batch-owner-1"])
			tampered[len(tampered)-3] ^= 0x01
			in := map[string][]byte{
				"batch-owner-0": wrapped["batch-owner-0"],
				"batch-owner-1": tampered, // fails in Vault: authentication
				"batch-owner-2": wrapped["batch-owner-2"],
				ownerA:          foreign,               // fails in Vault: another owner's key
				"batch-owner-3": []byte("not wrapped"), // fails locally
			}
			got, err := m.UnwrapMany(ctx, in)
			var be *vault.BatchError
			if !errors.As(err, &be) || !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("err = %v, want a *BatchError matching keys.ErrInvalid", err)
			}
			if len(be.Failed) != 3 {
				t.Fatalf("%d failed, want 3: %v", len(be.Failed), be.Failed)
			}
			for _, o := range []string{"batch-owner-1", ownerA, "batch-owner-3"} {
				if !errors.Is(be.Failed[o], keys.ErrInvalid) {
					t.Errorf("failure of an owner: %v, want keys.ErrInvalid", be.Failed[o])
				}
				if got[o] != nil {
					t.Errorf("a failed owner has a key")
				}
				checkClean(t, be.Failed[o], string(in[o]))
			}
			for _, o := range []string{"batch-owner-0", "batch-owner-2"} {
				if !bytes.Equal(got[o], plain[o]) {
					t.Errorf("a good owner's key is missing or wrong")
				}
			}
			checkClean(t, err, string(foreign), string(tampered))
			if strings.Contains(err.Error(), "batch-owner") {
				t.Errorf("batch error names owners: %v", err)
			}
		})
	}
}

func TestUnwrapManyAllFail(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	_, w, err := m.GenerateDataKey(context.Background(), ownerA)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.UnwrapMany(context.Background(), map[string][]byte{ownerB: w})
	var be *vault.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || len(got) != 0 {
		t.Fatalf("got %d keys, err %v; want none and a *BatchError of 1", len(got), err)
	}
}

func TestUnwrapManyChunks(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	in := map[string][]byte{}
	for i := range 600 {
		o := fmt.Sprintf("o%d", i)
		_, wi, err := m.GenerateDataKey(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		in[o] = wi
	}
	before := srv.Count("transit/decrypt/")
	got, err := m.UnwrapMany(context.Background(), in)
	if err != nil || len(got) != 600 {
		t.Fatalf("got %d keys, err %v", len(got), err)
	}
	if n := srv.Count("transit/decrypt/") - before; n != 2 {
		t.Fatalf("600 keys took %d decrypt calls, want 2 (batches of 512)", n)
	}
}

func TestUnwrapManyEmpty(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	got, err := m.UnwrapMany(context.Background(), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	if n := srv.Count("transit/decrypt/"); n != 0 {
		t.Fatalf("empty batch made %d calls", n)
	}
}
