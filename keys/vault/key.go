package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/carecrest/hub/keys"
)

// KeyInfo describes the Transit key.
type KeyInfo struct {
	Name                 string `json:"name"`
	Type                 string `json:"type"`
	Derived              bool   `json:"derived"`
	LatestVersion        int    `json:"latest_version"`
	MinDecryptionVersion int    `json:"min_decryption_version"`
	MinEncryptionVersion int    `json:"min_encryption_version"`
}

// Key reads the Transit key's description. A missing key is
// keys.ErrUnavailable (a configuration error).
func (m *Manager) Key(ctx context.Context) (KeyInfo, error) {
	info, ok, err := m.readKey(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("%w: vault read key: Transit key not found (check mount and key_name, or run EnsureKey)", keys.ErrUnavailable)
	}
	return info, err
}

func (m *Manager) readKey(ctx context.Context) (info KeyInfo, ok bool, err error) {
	var resp response[KeyInfo]
	notFound := false
	err = m.call(ctx, opReadKey, func(ctx context.Context) error {
		err := m.read(ctx, m.cfg.Mount+"/keys/"+m.cfg.KeyName, &resp)
		// Vault answers 404 with no error text for a missing key, and with
		// "no handler for route" for a missing mount.
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && len(re.Errors) == 0 {
			notFound = true
			return nil
		}
		return err
	})
	if err != nil || notFound {
		return KeyInfo{}, false, err
	}
	return resp.Data, true, nil
}

// Supported Transit key types: AEADs with 256-bit keys and derivation.
var keyTypes = []string{"aes256-gcm96", "chacha20-poly1305"}

// EnsureKey creates the Transit key (aes256-gcm96, derived) if it does not
// exist, then checks that it is derived: with a non-derived key Vault
// ignores the context, and a wrapped key would unwrap for any owner. Run it
// at startup; it needs read (and, the first time, create) on
// <mount>/keys/<key_name>.
func (m *Manager) EnsureKey(ctx context.Context) error {
	info, ok, err := m.readKey(ctx)
	if err != nil {
		return err
	}
	if !ok {
		err := m.call(ctx, opEnsure, func(ctx context.Context) error {
			return m.write(ctx, m.cfg.Mount+"/keys/"+m.cfg.KeyName, map[string]any{
				"type":    "aes256-gcm96",
				"derived": true,
			}, nil)
		})
		if err != nil {
			return err
		}
		m.log.Info("created Transit key", "mount", m.cfg.Mount, "key", m.cfg.KeyName)
		if info, err = m.Key(ctx); err != nil {
			return err
		}
	}
	if !info.Derived {
		return fmt.Errorf("keys/vault: Transit key %s/%s is not derived, so it would not bind wrapped keys to their owners; create a key with derived=true (key_name) and re-wrap", m.cfg.Mount, m.cfg.KeyName)
	}
	if !slices.Contains(keyTypes, info.Type) {
		return fmt.Errorf("keys/vault: Transit key %s/%s has type %q; want one of %s", m.cfg.Mount, m.cfg.KeyName, info.Type, strings.Join(keyTypes, ", "))
	}
	m.log.Info("Transit key ready", "mount", m.cfg.Mount, "key", m.cfg.KeyName, "type", info.Type,
		"latest_version", info.LatestVersion, "min_decryption_version", info.MinDecryptionVersion)
	return nil
}

// Ping reports whether Vault is reachable, initialized and unsealed (for
// readiness probes). It does not check the token or the key.
func (m *Manager) Ping(ctx context.Context) error {
	var h *api.HealthResponse
	err := m.call(ctx, opHealth, func(ctx context.Context) error {
		var err error
		h, err = m.client.Sys().HealthWithContext(ctx)
		return err
	})
	switch {
	case err != nil:
		return err
	case h.Sealed:
		return fmt.Errorf("%w: vault health: Vault is sealed", keys.ErrUnavailable)
	case !h.Initialized:
		return fmt.Errorf("%w: vault health: Vault is not initialized", keys.ErrUnavailable)
	}
	return nil
}
