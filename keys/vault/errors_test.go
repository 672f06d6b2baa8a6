package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/keys/vault/transittest"
)

func TestSealedIsUnavailableAndRecovers(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	ctx := context.Background()
	p, w, err := m.GenerateDataKey(ctx, ownerA)
	if err != nil {
		t.Fatal(err)
	}

	srv.Seal()
	_, _, err = m.GenerateDataKey(ctx, ownerA)
	if !errors.Is(err, keys.ErrUnavailable) || !strings.Contains(err.Error(), "Vault is sealed") {
		t.Fatalf("generate while sealed: err = %v, want keys.ErrUnavailable saying Vault is sealed", err)
	}
	got, err := m.UnwrapDataKey(ctx, ownerA, w)
	if !errors.Is(err, keys.ErrUnavailable) || got != nil {
		t.Fatalf("unwrap while sealed: err = %v, want keys.ErrUnavailable and no key", err)
	}
	checkClean(t, err, string(w), srv.RootToken())
	if _, err := m.UnwrapMany(ctx, map[string][]byte{ownerA: w}); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("batch unwrap while sealed: err = %v, want keys.ErrUnavailable", err)
	}
	if err := m.Rotate(ctx); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("rotate while sealed: err = %v, want keys.ErrUnavailable", err)
	}

	srv.Unseal() // same keys and token: the manager just works again
	got, err = m.UnwrapDataKey(ctx, ownerA, w)
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("unwrap after unseal: %v", err)
	}
}

func TestForbiddenIsDenied(t *testing.T) {
	srv := transittest.New(t)
	admin := newManager(t, doubleConfig(srv))
	_, w, err := admin.GenerateDataKey(context.Background(), ownerA)
	if err != nil {
		t.Fatal(err)
	}
	// A token that may generate data keys but not decrypt them.
	tok := srv.CreateToken(transittest.TokenParams{Allow: []string{"transit/datakey/*"}})
	cfg := doubleConfig(srv)
	cfg.Auth.Token = tok
	m := start(t, cfg)
	ctx := context.Background()
	if _, _, err := m.GenerateDataKey(ctx, ownerA); err != nil {
		t.Fatalf("allowed path: %v", err)
	}
	got, err := m.UnwrapDataKey(ctx, ownerA, w)
	if !errors.Is(err, keys.ErrDenied) || got != nil {
		t.Fatalf("decrypt without permission: err = %v, want keys.ErrDenied and no key", err)
	}
	checkClean(t, err, tok, string(w))
	if err := m.Rotate(ctx); !errors.Is(err, keys.ErrDenied) {
		t.Fatalf("rotate without permission: err = %v, want keys.ErrDenied", err)
	}
	if err := m.EnsureKey(ctx); !errors.Is(err, keys.ErrDenied) {
		t.Fatalf("EnsureKey without permission: err = %v, want keys.ErrDenied", err)
	}
}

func TestInvalidTokenIsDenied(t *testing.T) {
	srv := transittest.New(t)
	cfg := doubleConfig(srv)
	cfg.Auth.Token = "hvs.not-a-token-the-server-knows"
	_, err := vault.New(context.Background(), cfg, nil)
	if !errors.Is(err, keys.ErrDenied) {
		t.Fatalf("New with an unknown token: err = %v, want keys.ErrDenied", err)
	}
	checkClean(t, err, "not-a-token-the-server-knows")
}

// An unknown key or mount is a configuration error, not a bad wrapped key:
// keys.ErrUnavailable, so the hub retries and alerts instead of
// dead-lettering messages.
func TestUnknownKeyIsUnavailable(t *testing.T) {
	srv := transittest.New(t)
	good := newManager(t, doubleConfig(srv))
	_, w, err := good.GenerateDataKey(context.Background(), ownerA)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*vault.Config){
		"key":   func(c *vault.Config) { c.KeyName = "no-such-key" },
		"mount": func(c *vault.Config) { c.Mount = "no-such-mount" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := doubleConfig(srv)
			mutate(&cfg)
			m := start(t, cfg) // no EnsureKey
			ctx := context.Background()
			_, _, err := m.GenerateDataKey(ctx, ownerA)
			if !errors.Is(err, keys.ErrUnavailable) {
				t.Fatalf("generate: err = %v, want keys.ErrUnavailable", err)
			}
			_, err = m.UnwrapDataKey(ctx, ownerA, w)
			if !errors.Is(err, keys.ErrUnavailable) || errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("unwrap: err = %v, want keys.ErrUnavailable only", err)
			}
			if !strings.Contains(err.Error(), "check mount and key_name") && !strings.Contains(err.Error(), "mount enabled") {
				t.Errorf("unwrap error %q does not point at the configuration", err)
			}
			checkClean(t, err, string(w))
			if _, err := m.Key(ctx); !errors.Is(err, keys.ErrUnavailable) {
				t.Fatalf("Key: err = %v, want keys.ErrUnavailable", err)
			}
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := vault.Config{Address: "http://" + addr, Auth: vault.AuthConfig{Method: vault.AuthToken, Token: "hvs.x"}, MaxRetries: -1}
	_, err = vault.New(context.Background(), cfg, nil)
	if !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("New against a closed port: err = %v, want keys.ErrUnavailable", err)
	}
}

func TestServerGoneIsUnavailable(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	_, w, err := m.GenerateDataKey(context.Background(), ownerA)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := m.UnwrapDataKey(context.Background(), ownerA, w); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("unwrap with Vault gone: err = %v, want keys.ErrUnavailable", err)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	srv := transittest.New(t)
	cfg := doubleConfig(srv)
	cfg.Timeout = 100 * time.Millisecond
	m := newManager(t, cfg)
	srv.SetDelay(2 * time.Second)
	start := time.Now()
	_, _, err := m.GenerateDataKey(context.Background(), ownerA)
	if !errors.Is(err, keys.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow Vault: err = %v, want keys.ErrUnavailable and context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("call took %s despite a 100ms timeout", d)
	}
	srv.SetDelay(0)
}

// The caller's cancellation stays visible, so the hub's sealer can tell it
// from Vault's unavailability.
func TestCallerCancellation(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := m.GenerateDataKey(ctx, ownerA)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("cancelled call: err = %v, want context.Canceled and keys.ErrUnavailable", err)
	}
}

func TestEmptyOwnerIsInvalid(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	ctx := context.Background()
	_, w, _ := m.GenerateDataKey(ctx, ownerA)
	if _, _, err := m.GenerateDataKey(ctx, ""); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("generate: err = %v", err)
	}
	if _, err := m.UnwrapDataKey(ctx, "", w); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("unwrap: err = %v", err)
	}
	if _, err := m.Rewrap(ctx, "", w); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("rewrap: err = %v", err)
	}
}

// A Transit ciphertext of something other than a data key, under the same
// key and context, does not pass for one.
func TestOtherCiphertextIsInvalid(t *testing.T) {
	srv := transittest.New(t)
	cfg := doubleConfig(srv)
	m := newManager(t, cfg)
	sec, err := adminClient(t, cfg).Logical().Write("transit/encrypt/carecrest-kek", map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString([]byte("not a key")),
		"context":   base64.StdEncoding.EncodeToString([]byte(ownerA)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ct := sec.Data["ciphertext"].(string)
	if _, err := m.UnwrapDataKey(context.Background(), ownerA, []byte(ct)); !errors.Is(err, keys.ErrInvalid) {
		t.Fatalf("unwrap of a non-key ciphertext: err = %v, want keys.ErrInvalid", err)
	}
}

// Local checks reject what cannot be a Transit ciphertext without a round
// trip to Vault.
func TestMalformedWrappedNeedsNoCall(t *testing.T) {
	srv := transittest.New(t)
	m := newManager(t, doubleConfig(srv))
	before := srv.Count("transit/decrypt/")
	for _, w := range []string{"", "garbage", "vault:v1:not base64!", "vault:v1:" + base64.StdEncoding.EncodeToString(make([]byte, 8))} {
		if _, err := m.UnwrapDataKey(context.Background(), ownerA, []byte(w)); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%q: err = %v, want keys.ErrInvalid", w, err)
		}
	}
	if n := srv.Count("transit/decrypt/") - before; n != 0 {
		t.Errorf("malformed input caused %d decrypt calls", n)
	}
}
