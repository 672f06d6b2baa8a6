package vault_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/keys/vault/transittest"
)

// hubToken is what the hub's Vault role grants: the Transit paths only.
var hubToken = transittest.TokenParams{Allow: []string{"transit/*"}, TTL: time.Hour, Renewable: true}

// eventually waits up to 5s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tokensUsed returns the tokens sent on requests whose path starts with
// prefix.
func tokensUsed(srv *transittest.Server, prefix string) []string {
	var out []string
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, prefix) && !slices.Contains(out, r.Token) {
			out = append(out, r.Token)
		}
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func appRoleConfig(srv *transittest.Server) vault.Config {
	cfg := doubleConfig(srv)
	cfg.Auth = vault.AuthConfig{Method: vault.AuthAppRole, RoleID: "hub-role", SecretID: "hub-secret-3141"}
	return cfg
}

func TestAppRoleLogin(t *testing.T) {
	for name, secretFromFile := range map[string]bool{"inline": false, "file": true} {
		t.Run(name, func(t *testing.T) {
			srv := transittest.New(t)
			srv.AddAppRole("approle", "hub-role", "hub-secret-3141", hubToken)
			cfg := appRoleConfig(srv)
			if secretFromFile {
				cfg.Auth.SecretID, cfg.Auth.SecretIDFile = "", writeFile(t, "secret-id", "hub-secret-3141")
			}
			m, err := vault.New(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			if err := m.EnsureKey(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err != nil {
				t.Fatal(err)
			}
			issued := srv.Tokens("approle")
			if len(issued) != 1 {
				t.Fatalf("approle issued %d live tokens, want 1", len(issued))
			}
			if got := tokensUsed(srv, "transit/"); !slices.Equal(got, issued) {
				t.Fatalf("transit requests used tokens %v, want the login's %v", got, issued)
			}
			if got := tokensUsed(srv, "auth/approle/login"); !slices.Equal(got, []string{""}) {
				t.Fatalf("login sent a token: %v", got)
			}
			vault.SetRefreshEvery(m, 0)
			m.Close()
			if left := srv.Tokens("approle"); len(left) != 0 {
				t.Fatalf("Close left the login's token alive")
			}
			logins := srv.Count("auth/approle/login")
			if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err == nil {
				t.Fatal("GenerateDataKey after Close succeeded")
			}
			if srv.Count("auth/approle/login") != logins {
				t.Fatal("a call after Close logged in again")
			}
		})
	}
}

func TestAppRoleBadSecretIsDenied(t *testing.T) {
	srv := transittest.New(t)
	srv.AddAppRole("approle", "hub-role", "the-right-secret-2718", hubToken)
	cfg := appRoleConfig(srv)
	cfg.Auth.SecretID = "a-wrong-secret-1618"
	_, err := vault.New(context.Background(), cfg, nil)
	if !errors.Is(err, keys.ErrDenied) {
		t.Fatalf("err = %v, want keys.ErrDenied", err)
	}
	checkClean(t, err, "a-wrong-secret-1618", "the-right-secret-2718")
}

func TestKubernetesLogin(t *testing.T) {
	srv := transittest.New(t)
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6aHViIn0.c2lnbmF0dXJl"
	srv.AddKubernetesRole("k8s-prod", "carecrest-hub", jwt, hubToken)
	cfg := doubleConfig(srv)
	cfg.Auth = vault.AuthConfig{
		Method:                  vault.AuthKubernetes,
		KubernetesRole:          "carecrest-hub",
		ServiceAccountTokenFile: writeFile(t, "token", jwt),
		Mount:                   "k8s-prod",
	}
	m := newManager(t, cfg)
	if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err != nil {
		t.Fatal(err)
	}
	issued := srv.Tokens("k8s-prod")
	if len(issued) != 1 || vault.Token(m) != issued[0] {
		t.Fatalf("manager does not use the token of its kubernetes login")
	}
	if got := tokensUsed(srv, "transit/"); !slices.Equal(got, issued) {
		t.Fatalf("transit requests used tokens %v, want the login's %v", got, issued)
	}

	t.Run("wrong JWT", func(t *testing.T) {
		bad := cfg
		bad.Auth.ServiceAccountTokenFile = writeFile(t, "token", "eyJ.another.jwt")
		_, err := vault.New(context.Background(), bad, nil)
		if !errors.Is(err, keys.ErrDenied) {
			t.Fatalf("err = %v, want keys.ErrDenied", err)
		}
		checkClean(t, err, "eyJ.another.jwt", jwt)
	})
	t.Run("missing token file", func(t *testing.T) {
		bad := cfg
		bad.Auth.ServiceAccountTokenFile = filepath.Join(t.TempDir(), "absent")
		if _, err := vault.New(context.Background(), bad, nil); err == nil || !strings.Contains(err.Error(), "service_account_token_file") {
			t.Fatalf("err = %v, want one naming service_account_token_file", err)
		}
	})
}

func TestTokenIsRenewed(t *testing.T) {
	srv := transittest.New(t)
	tok := srv.CreateToken(transittest.TokenParams{Allow: []string{"transit/*"}, TTL: time.Hour, Renewable: true})
	cfg := doubleConfig(srv)
	cfg.Auth.Token = tok
	start(t, cfg)
	eventually(t, "renew-self", func() bool { return srv.Count("auth/token/renew-self") > 0 })
	if got := tokensUsed(srv, "auth/token/renew-self"); !slices.Equal(got, []string{tok}) {
		t.Fatalf("renewed tokens %v, want the configured one", got)
	}
}

// A token that cannot be renewed is replaced by a new login before it
// expires.
func TestReloginBeforeExpiry(t *testing.T) {
	srv := transittest.New(t)
	srv.AddAppRole("approle", "hub-role", "hub-secret-3141", transittest.TokenParams{Allow: []string{"transit/*"}, TTL: time.Second})
	m := newManager(t, appRoleConfig(srv))
	first := vault.Token(m)
	eventually(t, "a second login", func() bool { return srv.Count("auth/approle/login") >= 2 })
	eventually(t, "the new token in use", func() bool { return vault.Token(m) != first })
	if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err != nil {
		t.Fatalf("after re-login: %v", err)
	}
}

// A revoked token (or one lost in a Vault restore) is replaced on the first
// denied request, and the requests denied meanwhile retry with the new one.
func TestReloginAfterRevocation(t *testing.T) {
	srv := transittest.New(t)
	srv.AddAppRole("approle", "hub-role", "hub-secret-3141", hubToken)
	m := newManager(t, appRoleConfig(srv))
	srv.RevokeToken(vault.Token(m))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err != nil {
				t.Errorf("after revocation: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.Count("auth/approle/login"); n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}
}

// A policy that denies is not a reason to log in on every request: logins
// after a 403 are rate-limited.
func TestDeniedDoesNotStormLogins(t *testing.T) {
	srv := transittest.New(t)
	srv.AddAppRole("approle", "hub-role", "hub-secret-3141", transittest.TokenParams{Allow: []string{"transit/keys/*", "transit/datakey/*"}, TTL: time.Hour, Renewable: true})
	m := newManager(t, appRoleConfig(srv))
	_, w, err := m.GenerateDataKey(context.Background(), ownerA)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := m.UnwrapDataKey(context.Background(), ownerA, w); !errors.Is(err, keys.ErrDenied) {
			t.Fatalf("err = %v, want keys.ErrDenied", err)
		}
	}
	// The start-up login, and one re-login after the first denial.
	if n := srv.Count("auth/approle/login"); n != 2 {
		t.Fatalf("%d logins after 5 denied requests, want 2", n)
	}
}

// With a token file (a Vault Agent sink), a rejected token is replaced by
// the file's new content.
func TestTokenFileReloadedWhenDenied(t *testing.T) {
	srv := transittest.New(t)
	a := srv.CreateToken(hubToken)
	path := writeFile(t, "token", a)
	cfg := doubleConfig(srv)
	cfg.Auth = vault.AuthConfig{Method: vault.AuthToken, TokenFile: path}
	m := newManager(t, cfg)

	srv.RevokeToken(a)
	if _, _, err := m.GenerateDataKey(context.Background(), ownerA); !errors.Is(err, keys.ErrDenied) {
		t.Fatalf("revoked token, file unchanged: err = %v, want keys.ErrDenied", err)
	}
	b := srv.CreateToken(hubToken)
	if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.GenerateDataKey(context.Background(), ownerA); err != nil {
		t.Fatalf("after the agent wrote a new token: %v", err)
	}
	if vault.Token(m) != b {
		t.Fatal("manager does not use the new token")
	}
	m.Close()
	if srv.Count("auth/token/revoke-self") != 0 {
		t.Fatal("Close revoked a token it did not create")
	}
}
