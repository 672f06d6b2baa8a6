package vault_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/carecrest/hub/keys/vault"
)

func TestConfigDefaults(t *testing.T) {
	c := vault.Config{Address: "https://vault:8200", Auth: vault.AuthConfig{Method: vault.AuthKubernetes, KubernetesRole: "hub"}}
	c.Defaults()
	if c.Mount != "transit" || c.KeyName != "carecrest-kek" || c.Timeout != 10*time.Second || c.MaxRetries != 2 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Auth.Mount != "kubernetes" || c.Auth.ServiceAccountTokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("kubernetes defaults: %+v", c.Auth)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	a := vault.Config{Mount: "/secret/transit/", Auth: vault.AuthConfig{Method: vault.AuthAppRole, Mount: "/approle-prod/"}, MaxRetries: -1}
	a.Defaults()
	if a.Mount != "secret/transit" || a.Auth.Mount != "approle-prod" || a.MaxRetries != -1 {
		t.Errorf("trimmed mounts and kept retries: %+v", a)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() vault.Config {
		c := vault.Config{Address: "https://vault.internal:8200", Auth: vault.AuthConfig{Method: vault.AuthToken, Token: "hvs.x"}}
		c.Defaults()
		return c
	}
	tests := []struct {
		name   string
		mutate func(*vault.Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*vault.Config) {}, ""},
		{"token file", func(c *vault.Config) { c.Auth.Token, c.Auth.TokenFile = "", "/run/vault/token" }, ""},
		{"no address", func(c *vault.Config) { c.Address = "" }, "address is required"},
		{"address not a URL", func(c *vault.Config) { c.Address = "vault.internal:8200" }, "not an http(s) URL"},
		{"no method", func(c *vault.Config) { c.Auth.Method = "" }, "valid: token, approle, kubernetes"},
		{"unknown method", func(c *vault.Config) { c.Auth.Method = "userpass" }, `"userpass" unknown; valid: token, approle, kubernetes`},
		{"no token", func(c *vault.Config) { c.Auth.Token = "" }, "needs auth.token or auth.token_file"},
		{"token twice", func(c *vault.Config) { c.Auth.TokenFile = "/t" }, "not both"},
		{"approle without role", func(c *vault.Config) {
			c.Auth = vault.AuthConfig{Method: vault.AuthAppRole, SecretID: "s", Mount: "approle"}
		}, "needs auth.role_id"},
		{"approle without secret", func(c *vault.Config) {
			c.Auth = vault.AuthConfig{Method: vault.AuthAppRole, RoleID: "r", Mount: "approle"}
		}, "auth.secret_id or auth.secret_id_file"},
		{"kubernetes without role", func(c *vault.Config) {
			c.Auth = vault.AuthConfig{Method: vault.AuthKubernetes, ServiceAccountTokenFile: "/t", Mount: "kubernetes"}
		}, "needs auth.kubernetes_role"},
		{"bad key name", func(c *vault.Config) { c.KeyName = "kek/../x" }, "not a valid Transit key name"},
		{"bad mount", func(c *vault.Config) { c.Mount = "transit/../sys" }, "not a valid mount path"},
		{"client cert alone", func(c *vault.Config) { c.TLS.ClientCert = "/c.pem" }, "must be set together"},
		{"negative timeout", func(c *vault.Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Every field has a yaml tag: a full config file decodes with unknown
// fields rejected.
func TestConfigYAML(t *testing.T) {
	const doc = `
address: https://vault.internal:8200
namespace: carecrest
mount: transit
key_name: carecrest-kek
timeout: 5s
max_retries: 3
auth:
  method: approle
  role_id: 6f1c...
  secret_id_file: /run/secrets/vault-secret-id
  mount: approle
  token: ""
  token_file: ""
  secret_id: ""
  kubernetes_role: ""
  service_account_token_file: ""
tls:
  ca_cert: /etc/carecrest/vault-ca.pem
  client_cert: ""
  client_key: ""
  server_name: vault.internal
  insecure: false
`
	var c vault.Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 5*time.Second || c.Auth.SecretIDFile == "" || c.TLS.ServerName != "vault.internal" || c.Namespace != "carecrest" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestAuthConfigRedacts(t *testing.T) {
	c := vault.Config{Auth: vault.AuthConfig{Method: vault.AuthAppRole, RoleID: "role", SecretID: "s3cr3t-id-9931", Token: "hvs.t0ken-4471"}}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "vault", c.Auth)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), c.Auth.String(), logged.String()} {
		if strings.Contains(out, "s3cr3t-id-9931") || strings.Contains(out, "hvs.t0ken-4471") {
			t.Errorf("secret printed: %s", out)
		}
	}
}
