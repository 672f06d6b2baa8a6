package vault

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/carecrest/hub/keys"
)

// Token lifecycle
//
// reauth authenticates (login, or the configured token checked with
// lookup-self) and sets the token on the client. The renewal loop
// (maintain) renews the token with Vault's LifetimeWatcher; when the token
// cannot be renewed any further (max TTL, non-renewable, renewal failing
// until expiry) it logs in again, with backoff while Vault refuses. When a
// request is answered 403 (token revoked, Vault restored from a snapshot,
// a Vault Agent replaced the token file), refreshAfterDenied
// re-authenticates (at most every refreshEvery) and hands the new token to
// the loop; requests that failed meanwhile retry with it.

// reauth authenticates with the configured method and sets the token on
// the client. It returns the token's secret for the renewal loop.
func (m *Manager) reauth(ctx context.Context) (*api.Secret, error) {
	m.authMu.Lock()
	defer m.authMu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("%w: vault: manager closed", keys.ErrUnavailable)
	}
	sec, err := m.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	m.lastAuth = time.Now()
	m.authGen.Add(1)
	select { // a secret waiting for the loop is superseded
	case <-m.fresh:
	default:
	}
	return sec, nil
}

// refreshAfterDenied is called when a request made with the token of
// authentication generation gen was answered 403. It reports whether to
// retry: yes when another request already re-authenticated since, or when
// it re-authenticates now. It does not when the credentials cannot change
// (an inline token, or a token file that still holds the token in use), or
// when it re-authenticated after a 403 less than refreshEvery ago: a policy
// that denies does not turn every request into a login.
func (m *Manager) refreshAfterDenied(ctx context.Context, gen uint64) bool {
	a := m.cfg.Auth
	if a.Method == AuthToken && a.TokenFile == "" {
		return false
	}
	m.authMu.Lock()
	defer m.authMu.Unlock()
	switch {
	case m.closed:
		return false
	case m.authGen.Load() != gen:
		return true
	case time.Since(m.lastRefresh) < m.refreshEvery:
		return false
	}
	if a.Method == AuthToken {
		tok, err := readSecretFile("auth.token_file", a.TokenFile)
		if err != nil || tok == m.client.Token() {
			return false
		}
	}
	m.lastRefresh = time.Now()
	sec, err := m.authenticate(ctx)
	if err != nil {
		m.log.Warn("re-authentication to Vault after a denied request failed", "method", a.Method, "err", err)
		return false
	}
	m.lastAuth = time.Now()
	m.authGen.Add(1)
	m.log.Info("re-authenticated to Vault after a denied request", "method", a.Method)
	select { // replace any older secret waiting for the loop
	case <-m.fresh:
	default:
	}
	m.fresh <- sec
	return true
}

// authenticate obtains a token and sets it on the client. Callers hold
// authMu.
func (m *Manager) authenticate(ctx context.Context) (*api.Secret, error) {
	a := m.cfg.Auth
	switch a.Method {
	case AuthToken:
		tok := a.Token
		if a.TokenFile != "" {
			var err error
			if tok, err = readSecretFile("auth.token_file", a.TokenFile); err != nil {
				return nil, err
			}
		}
		return m.useToken(ctx, tok)
	case AuthAppRole:
		secretID := a.SecretID
		if a.SecretIDFile != "" {
			var err error
			if secretID, err = readSecretFile("auth.secret_id_file", a.SecretIDFile); err != nil {
				return nil, err
			}
		}
		return m.login(ctx, map[string]any{"role_id": a.RoleID, "secret_id": secretID})
	case AuthKubernetes:
		jwt, err := readSecretFile("auth.service_account_token_file", a.ServiceAccountTokenFile)
		if err != nil {
			return nil, err
		}
		return m.login(ctx, map[string]any{"role": a.KubernetesRole, "jwt": jwt})
	}
	return nil, fmt.Errorf("keys/vault: auth.method %q unknown", a.Method) // Validate prevents this
}

// useToken checks tok with lookup-self (the default policy allows it) and
// sets it on the client.
func (m *Manager) useToken(ctx context.Context, tok string) (*api.Secret, error) {
	m.client.SetToken(tok)
	var resp response[struct {
		TTL       int64 `json:"ttl"`
		Renewable bool  `json:"renewable"`
	}]
	err := m.do(ctx, opLookup, func(ctx context.Context) error {
		return m.read(ctx, "auth/token/lookup-self", &resp)
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("using Vault token", "ttl", time.Duration(resp.Data.TTL)*time.Second, "renewable", resp.Data.Renewable)
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken:   tok,
		LeaseDuration: int(resp.Data.TTL),
		Renewable:     resp.Data.Renewable,
	}}, nil
}

// login logs in at auth/<mount>/login without a token and sets the token
// it obtains on the client.
func (m *Manager) login(ctx context.Context, body map[string]any) (*api.Secret, error) {
	var resp struct {
		Auth *api.SecretAuth `json:"auth"`
	}
	err := m.do(ctx, opLogin, func(ctx context.Context) error {
		return write(ctx, m.anon, "auth/"+m.cfg.Auth.Mount+"/login", body, &resp)
	})
	if err != nil {
		return nil, err
	}
	if resp.Auth == nil || resp.Auth.ClientToken == "" {
		return nil, fmt.Errorf("keys/vault: login at auth/%s returned no token", m.cfg.Auth.Mount)
	}
	m.client.SetToken(resp.Auth.ClientToken)
	m.log.Info("logged in to Vault", "method", m.cfg.Auth.Method, "mount", m.cfg.Auth.Mount,
		"ttl", time.Duration(resp.Auth.LeaseDuration)*time.Second, "renewable", resp.Auth.Renewable)
	return &api.Secret{Auth: resp.Auth}, nil
}

// readSecretFile reads a credential file; its errors name the file but
// never its content.
func readSecretFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("keys/vault: read %s: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("keys/vault: %s %s is empty", what, path)
	}
	return s, nil
}

// maintain keeps the client's token valid until ctx is done.
func (m *Manager) maintain(ctx context.Context, sec *api.Secret) {
	defer close(m.done)
	for {
		sec = m.watch(ctx, sec)
		if ctx.Err() != nil {
			return
		}
		if sec != nil {
			continue // a newer token, from refreshAfterDenied
		}
		if m.cfg.Auth.Method == AuthToken && m.cfg.Auth.TokenFile == "" {
			m.log.Error("the Vault token cannot be renewed any further and will expire; requests will then be denied. Use a renewable or periodic token, auth.token_file with a Vault Agent, or approle/kubernetes auth")
			<-ctx.Done() // nothing can replace an inline token
			return
		}
		sec = m.relogin(ctx)
		if sec == nil {
			return
		}
	}
}

// watch renews sec's token until it cannot be renewed any more (then it
// returns nil), a newer secret arrives (returned), or ctx is done (nil).
func (m *Manager) watch(ctx context.Context, sec *api.Secret) *api.Secret {
	if sec.Auth == nil || sec.Auth.LeaseDuration <= 0 {
		// The token never expires (root or TTL-less token): nothing to renew.
		select {
		case <-ctx.Done():
			return nil
		case s := <-m.fresh:
			return s
		}
	}
	w, err := m.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		m.log.Error("cannot watch the Vault token", "err", err)
		return nil
	}
	go w.Start()
	stop := func() {
		w.Stop()
		<-w.DoneCh() // Start has returned: no goroutine left behind
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case s := <-m.fresh:
			stop()
			return s
		case err := <-w.DoneCh():
			if err != nil {
				m.log.Warn("Vault token renewal stopped", "err", classify(opRenew, err))
			} else {
				m.log.Info("Vault token reached the end of its renewable life")
			}
			return nil
		case r := <-w.RenewCh():
			if r.Secret != nil && r.Secret.Auth != nil {
				m.log.Debug("renewed Vault token", "ttl", time.Duration(r.Secret.Auth.LeaseDuration)*time.Second)
			}
		}
	}
}

// relogin authenticates again, retrying with exponential backoff (1s to
// 1m) until it succeeds or ctx is done (nil). It waits minLoginPeriod after
// the previous authentication, so very short token TTLs cannot make it
// spin.
func (m *Manager) relogin(ctx context.Context) *api.Secret {
	m.authMu.Lock()
	wait := m.minLoginPeriod - time.Since(m.lastAuth)
	m.authMu.Unlock()
	backoff := time.Second
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		sec, err := m.reauth(ctx)
		if err == nil {
			return sec
		}
		if ctx.Err() != nil {
			return nil
		}
		m.log.Error("Vault re-authentication failed; retrying", "method", m.cfg.Auth.Method, "in", backoff, "err", err)
		wait, backoff = backoff, min(2*backoff, time.Minute)
	}
}
