package vault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/vault"
)

func TestRotation(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg, _ := b.config(t)
			m := newManager(t, cfg)
			ctx := context.Background()
			version := func(w []byte) int {
				t.Helper()
				v, err := vault.WrappedVersion(w)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			unwrap := func(w, want []byte) {
				t.Helper()
				got, err := m.UnwrapDataKey(ctx, ownerA, w)
				if err != nil {
					t.Fatalf("unwrap: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("unwrap returned another key")
				}
			}

			p1, w1, err := m.GenerateDataKey(ctx, ownerA)
			if err != nil {
				t.Fatal(err)
			}
			if v := version(w1); v != 1 {
				t.Fatalf("first wrapped key has version %d", v)
			}
			if err := m.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			if info, err := m.Key(ctx); err != nil || info.LatestVersion != 2 {
				t.Fatalf("after Rotate: %+v, %v; want latest_version 2", info, err)
			}

			// New keys use the new version; old ones still unwrap.
			p2, w2, err := m.GenerateDataKey(ctx, ownerA)
			if err != nil {
				t.Fatal(err)
			}
			if v := version(w2); v != 2 {
				t.Fatalf("wrapped key after rotation has version %d, want 2", v)
			}
			unwrap(w1, p1)
			unwrap(w2, p2)

			// Rewrap names the new version and keeps the data key.
			r1, err := m.Rewrap(ctx, ownerA, w1)
			if err != nil {
				t.Fatal(err)
			}
			if v := version(r1); v != 2 {
				t.Fatalf("re-wrapped key has version %d, want 2", v)
			}
			unwrap(r1, p1)

			// Retiring version 1: keys not re-wrapped stop working, and
			// can no longer be re-wrapped either.
			admin := adminClient(t, cfg)
			if _, err := admin.Logical().Write(cfg.Mount+"/keys/"+cfg.KeyName+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
				t.Fatal(err)
			}
			got, err := m.UnwrapDataKey(ctx, ownerA, w1)
			if !errors.Is(err, keys.ErrInvalid) || got != nil {
				t.Fatalf("unwrap of a retired version: err = %v, want keys.ErrInvalid and no key", err)
			}
			checkClean(t, err, string(w1))
			if _, err := m.Rewrap(ctx, ownerA, w1); !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("rewrap of a retired version: err = %v, want keys.ErrInvalid", err)
			}
			unwrap(r1, p1)
			unwrap(w2, p2)
			if info, err := m.Key(ctx); err != nil || info.MinDecryptionVersion != 2 {
				t.Fatalf("Key: %+v, %v; want min_decryption_version 2", info, err)
			}
		})
	}
}
