package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/keystest"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/keys/vault/transittest"
)

// The manager runs a token-renewal goroutine: check that Close stops it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// realVaultHelp says how to run the tests against a real Vault.
const realVaultHelp = `set VAULT_ADDR and VAULT_TOKEN to run against a real Vault, e.g.:
	vault server -dev -dev-root-token-id=root &
	export VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root
	vault secrets enable transit
	go test ./keys/vault/
(the token needs to create, configure, rotate and delete keys under transit/;
VAULT_TRANSIT_MOUNT overrides the mount, VAULT_CACERT names a CA file)`

// backend is a Vault the tests run against.
type backend struct {
	name string
	// config returns a configuration with a fresh Transit key of its own,
	// and the double it points to (nil for a real Vault).
	config func(t testing.TB) (vault.Config, *transittest.Server)
}

// backends returns the double, and a real Vault when VAULT_ADDR and
// VAULT_TOKEN are set.
func backends(t *testing.T) []backend {
	out := []backend{{"Double", func(t testing.TB) (vault.Config, *transittest.Server) {
		srv := transittest.New(t)
		return doubleConfig(srv), srv
	}}}
	if os.Getenv("VAULT_ADDR") != "" && os.Getenv("VAULT_TOKEN") != "" {
		out = append(out, backend{"Vault", func(t testing.TB) (vault.Config, *transittest.Server) {
			return realConfig(t), nil
		}})
	}
	return out
}

// doubleConfig configures a manager for srv with its root token, defaults
// applied. It disables retries, which would only slow the failure tests.
func doubleConfig(srv *transittest.Server) vault.Config {
	cfg := vault.Config{
		Address:    srv.URL,
		Auth:       vault.AuthConfig{Method: vault.AuthToken, Token: srv.RootToken()},
		MaxRetries: -1,
	}
	cfg.Defaults()
	return cfg
}

// realConfig configures a manager for the Vault in the environment, with a
// fresh Transit key deleted when the test ends.
func realConfig(t testing.TB) vault.Config {
	t.Helper()
	mount := os.Getenv("VAULT_TRANSIT_MOUNT")
	if mount == "" {
		mount = "transit"
	}
	cfg := vault.Config{
		Address: os.Getenv("VAULT_ADDR"),
		Mount:   mount,
		KeyName: "carecrest-test-" + randomHex(6),
		Auth:    vault.AuthConfig{Method: vault.AuthToken, Token: os.Getenv("VAULT_TOKEN")},
		TLS:     vault.TLSConfig{CACert: os.Getenv("VAULT_CACERT")},
	}
	cfg.Defaults()
	t.Cleanup(func() {
		admin := adminClient(t, cfg)
		ctx := context.Background()
		path := cfg.Mount + "/keys/" + cfg.KeyName
		if _, err := admin.Logical().WriteWithContext(ctx, path+"/config", map[string]any{"deletion_allowed": true}); err != nil {
			t.Logf("clean-up: allow deletion of %s: %v", path, err)
			return
		}
		if _, err := admin.Logical().DeleteWithContext(ctx, path); err != nil {
			t.Logf("clean-up: delete %s: %v", path, err)
		}
	})
	return cfg
}

// adminClient returns a plain Vault client with cfg's token, for the
// tests' own administrative calls (key config, deletion).
func adminClient(t testing.TB, cfg vault.Config) *api.Client {
	t.Helper()
	ac := api.DefaultConfig()
	ac.Address = cfg.Address
	if cfg.TLS.CACert != "" {
		if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.TLS.CACert}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := api.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(cfg.Auth.Token)
	t.Cleanup(func() { ac.HttpClient.CloseIdleConnections() })
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newManager starts a manager for cfg, ensures its key, and closes it when
// the test ends.
func newManager(t testing.TB, cfg vault.Config) *vault.Manager {
	t.Helper()
	m := start(t, cfg)
	if err := m.EnsureKey(context.Background()); err != nil {
		t.Fatalf("EnsureKey: %v", err)
	}
	return m
}

// start is newManager without EnsureKey.
func start(t testing.TB, cfg vault.Config) *vault.Manager {
	t.Helper()
	m, err := vault.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConformance(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			keystest.Run(t, func(t *testing.T) keys.Manager {
				cfg, _ := b.config(t)
				return newManager(t, cfg)
			})
		})
	}
	if os.Getenv("VAULT_ADDR") == "" || os.Getenv("VAULT_TOKEN") == "" {
		t.Run("Vault", func(t *testing.T) { t.Skip(realVaultHelp) })
	}
}

// Owner names and a secret that must never appear in error messages.
const (
	ownerA = "patient-Aurelio-7731"
	ownerB = "patient-Brunhilde-9924"
)

// checkClean fails if err's message reveals an owner (or its derivation
// context), or any of secrets (tokens, ciphertexts, key material).
func checkClean(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, o := range []string{ownerA, ownerB} {
		secrets = append(secrets, o, base64.StdEncoding.EncodeToString([]byte(o)))
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error message reveals %q: %s", s, msg)
		}
	}
}

func TestContextBinding(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg, _ := b.config(t)
			m := newManager(t, cfg)
			ctx := context.Background()
			p, w, err := m.GenerateDataKey(ctx, ownerA)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.UnwrapDataKey(ctx, ownerB, w)
			if !errors.Is(err, keys.ErrInvalid) || got != nil {
				t.Fatalf("unwrap of A's key for B: key %v, err %v; want nil, keys.ErrInvalid", got != nil, err)
			}
			checkClean(t, err, string(w), hex.EncodeToString(p))
			if _, err := m.Rewrap(ctx, ownerB, w); !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("rewrap of A's key for B: err %v, want keys.ErrInvalid", err)
			}
		})
	}
}

func TestWrappedFormat(t *testing.T) {
	m := newManager(t, doubleConfig(transittest.New(t)))
	p, w, err := m.GenerateDataKey(context.Background(), ownerA)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 32 {
		t.Fatalf("data key is %d bytes", len(p))
	}
	if !strings.HasPrefix(string(w), "vault:v1:") {
		t.Fatalf("wrapped key %q does not start with vault:v1:", w)
	}
	if v, err := vault.WrappedVersion(w); err != nil || v != 1 {
		t.Fatalf("WrappedVersion = %d, %v; want 1", v, err)
	}
	for _, bad := range []string{"", "vault:v1:", "vault:v0:AAAA", "vault:v01:AAAA", "vault:vx:AAAA", "vault:v1:!!!!", "vault:v1:AAAA", "x", "vault:v1:" + strings.Repeat("A", 2000)} {
		if _, err := vault.WrappedVersion([]byte(bad)); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("WrappedVersion(%.20q) err = %v, want keys.ErrInvalid", bad, err)
		}
	}
}

func TestEnsureKey(t *testing.T) {
	srv := transittest.New(t)
	m := start(t, doubleConfig(srv))
	ctx := context.Background()
	if _, err := m.Key(ctx); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("Key before EnsureKey: err = %v, want keys.ErrUnavailable", err)
	}
	before := srv.Count("transit/keys/carecrest-kek")
	for range 2 { // idempotent
		if err := m.EnsureKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// read, create, read; then read.
	if n := srv.Count("transit/keys/carecrest-kek") - before; n != 4 {
		t.Errorf("EnsureKey twice made %d key requests, want 4", n)
	}
	info, err := m.Key(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Derived || info.Type != "aes256-gcm96" || info.LatestVersion != 1 || info.Name != "carecrest-kek" {
		t.Fatalf("key = %+v, want a derived aes256-gcm96 key carecrest-kek at version 1", info)
	}
}

// A non-derived key would ignore the context: EnsureKey refuses it.
func TestEnsureKeyRefusesNonDerivedKey(t *testing.T) {
	srv := transittest.New(t)
	cfg := doubleConfig(srv)
	if _, err := adminClient(t, cfg).Logical().Write("transit/keys/carecrest-kek", map[string]any{"type": "aes256-gcm96"}); err != nil {
		t.Fatal(err)
	}
	m := start(t, cfg)
	err := m.EnsureKey(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not derived") {
		t.Fatalf("EnsureKey on a non-derived key: err = %v, want a 'not derived' error", err)
	}
}

func TestPing(t *testing.T) {
	srv := transittest.New(t)
	m := start(t, doubleConfig(srv))
	if err := m.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Seal()
	if err := m.Ping(context.Background()); !errors.Is(err, keys.ErrUnavailable) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("Ping of a sealed Vault: err = %v, want keys.ErrUnavailable saying sealed", err)
	}
	srv.Unseal()
	if err := m.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The client is configured by Config only: VAULT_* variables do not change
// the address, the token or TLS verification.
func TestIgnoresVaultEnvironment(t *testing.T) {
	srv := transittest.New(t)
	t.Setenv("VAULT_TOKEN", "hvs.from-the-environment")
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_NAMESPACE", "env-namespace")
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	cfg := doubleConfig(srv)
	cfg.Namespace = "carecrest"
	m := newManager(t, cfg)
	if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if r.Token != srv.RootToken() && r.Path != "sys/health" {
			t.Errorf("%s %s sent token %q, want the configured one", r.Method, r.Path, r.Token)
		}
		if r.Namespace != "carecrest" {
			t.Errorf("%s %s sent namespace %q, want carecrest", r.Method, r.Path, r.Namespace)
		}
	}
}
