package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfigsLoad keeps deploy/config/*.yaml from rotting: each must
// load with no unknown keys and validate.
func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../deploy/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnknownBackendListsValidOnes(t *testing.T) {
	var c Config
	c.Defaults()
	c.Store.Backend = "postgres"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), `store.backend "postgres" unknown; valid: sqlite`) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("instance: a\nstoer: {}\n"), 0o600)
	if _, err := Load(f); err == nil || !strings.Contains(err.Error(), "stoer") {
		t.Fatalf("err = %v, want unknown field stoer", err)
	}
}

func TestPrecedenceEnvOverFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("http:\n  addr: 127.0.0.1:1111\n"), 0o600)
	t.Setenv("CARECREST_HTTP_ADDR", "127.0.0.1:2222")
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:2222" {
		t.Fatalf("http.addr = %s, want the environment's", c.HTTP.Addr)
	}
}

func TestDefaultsDeriveFromDataDir(t *testing.T) {
	c := Config{DataDir: "/tmp/x"}
	c.Defaults()
	if c.Store.SQLite.Path != "/tmp/x/hub.db" || c.Keys.Local.Path != "/tmp/x/keyring.json" {
		t.Fatalf("paths not under data_dir: %+v %+v", c.Store, c.Keys)
	}
}
