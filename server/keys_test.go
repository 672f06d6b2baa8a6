package server

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/keys/local"
)

func TestKeyManagerEnvKEK(t *testing.T) {
	cfg := &config.Config{}
	cfg.SetDataDir(t.TempDir())

	t.Setenv(local.EnvKEK, "not base64 at all!")
	if _, _, err := KeyManager(context.Background(), cfg, nil); err == nil {
		t.Fatal("a malformed CARECREST_KEK was accepted")
	}
	if _, err := os.Stat(cfg.Keys.Local.Path); !os.IsNotExist(err) {
		t.Fatal("a malformed CARECREST_KEK fell back to a keyring file")
	}

	t.Setenv(local.EnvKEK, base64.StdEncoding.EncodeToString(make([]byte, 32)))
	m, closeFn, err := KeyManager(context.Background(), cfg, nil)
	if err != nil || m == nil {
		t.Fatalf("valid CARECREST_KEK: %v", err)
	}
	closeFn()
	if _, err := os.Stat(filepath.Clean(cfg.Keys.Local.Path)); !os.IsNotExist(err) {
		t.Fatal("the keyring file was created although the key came from the environment")
	}

	t.Setenv(local.EnvKEK, "")
	if _, _, err := KeyManager(context.Background(), cfg, nil); err != nil {
		t.Fatalf("keyring file: %v", err)
	}
	if _, err := os.Stat(cfg.Keys.Local.Path); err != nil {
		t.Fatalf("keyring file not created: %v", err)
	}
}
