package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/query"
)

// authenticator adapts auth.Verifier to the GraphQL handler.
type authenticator struct{ v *auth.Verifier }

func (a authenticator) Authenticate(token string) (query.Identity, error) {
	p, err := a.v.Verify(token)
	if err != nil {
		return query.Identity{}, query.ErrUnauthenticated
	}
	return query.Identity{
		Subject: p.Subject, Kind: p.Kind, Roles: p.Roles, Org: p.Org,
		Purposes: p.Purposes, Application: p.Application, FHIRUser: p.FHIRUser,
	}, nil
}

// NewAuthenticator verifies tokens as cfg says. On embedded defaults (a dev
// signing key configured and no key pair yet) it first generates the demo's
// Ed25519 pair, so that `hubctl token` can mint tokens the hub accepts.
func NewAuthenticator(cfg config.Auth) (query.Authenticator, error) {
	if err := EnsureDevKeys(cfg); err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(AuthConfig(cfg))
	if err != nil {
		return nil, err
	}
	return authenticator{v}, nil
}

// AuthConfig converts the hub's auth section.
func AuthConfig(cfg config.Auth) auth.Config {
	return auth.Config{
		Issuer: cfg.Issuer, Audience: cfg.Audience, Algorithms: cfg.Algorithms,
		KeyFile: cfg.KeyFile, Leeway: cfg.Leeway,
	}
}

// EnsureDevKeys generates the development key pair when the configuration
// names a dev signing key beside the verification key and neither exists.
func EnsureDevKeys(cfg config.Auth) error {
	if cfg.DevSigningKey == "" {
		return nil
	}
	dir := filepath.Dir(cfg.DevSigningKey)
	if filepath.Join(dir, auth.PrivateKeyFile) != filepath.Clean(cfg.DevSigningKey) ||
		filepath.Join(dir, auth.PublicKeyFile) != filepath.Clean(cfg.KeyFile) {
		return nil // keys managed elsewhere
	}
	if _, err := os.Stat(cfg.KeyFile); err == nil {
		return nil
	}
	if _, _, err := auth.GenerateEd25519(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("generate development JWT keys: %w", err)
	}
	return nil
}
