package vault

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Authentication methods.
const (
	AuthToken      = "token"      // a Vault token, inline or in a file (Vault Agent sink)
	AuthAppRole    = "approle"    // role_id + secret_id login
	AuthKubernetes = "kubernetes" // service-account JWT login
)

// AuthMethods lists the valid values of AuthConfig.Method.
var AuthMethods = []string{AuthToken, AuthAppRole, AuthKubernetes}

// Defaults applied by Config.Defaults.
const (
	DefaultMount                   = "transit"
	DefaultKeyName                 = "carecrest-kek"
	DefaultTimeout                 = 10 * time.Second
	DefaultMaxRetries              = 2
	DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// Config configures the Vault Transit key manager. Only this struct
// configures the client: Vault's own VAULT_* environment variables
// (VAULT_ADDR, VAULT_TOKEN, VAULT_SKIP_VERIFY, ...) are ignored, so the TLS
// posture and identity of the hub are exactly what its configuration says.
type Config struct {
	// Address is Vault's URL, e.g. https://vault.internal:8200. Required.
	Address string `yaml:"address"`
	// Namespace is the Vault Enterprise namespace; empty for none.
	Namespace string `yaml:"namespace"`
	// Mount is the path of the Transit secrets engine (default "transit").
	Mount string `yaml:"mount"`
	// KeyName is the Transit key that wraps the data keys (default
	// "carecrest-kek"). It must be a derived key; EnsureKey creates it so.
	KeyName string     `yaml:"key_name"`
	Auth    AuthConfig `yaml:"auth"`
	TLS     TLSConfig  `yaml:"tls"`
	// Timeout bounds each call to Vault, retries included (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how often a call is retried on connection errors, 5xx
	// and 429 responses (default 2, as Vault's client); negative disables
	// retries.
	MaxRetries int `yaml:"max_retries"`
}

// AuthConfig says how the hub authenticates to Vault.
type AuthConfig struct {
	// Method is one of AuthMethods.
	Method string `yaml:"method"`
	// Token or TokenFile (one of them) for method "token". A TokenFile is
	// re-read when Vault rejects the token, so a Vault Agent sink works.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// RoleID and SecretID or SecretIDFile (one of them) for "approle". The
	// file is read at every login.
	RoleID       string `yaml:"role_id"`
	SecretID     string `yaml:"secret_id"`
	SecretIDFile string `yaml:"secret_id_file"`
	// KubernetesRole and ServiceAccountTokenFile (default
	// DefaultServiceAccountTokenFile, read at every login) for "kubernetes".
	KubernetesRole          string `yaml:"kubernetes_role"`
	ServiceAccountTokenFile string `yaml:"service_account_token_file"`
	// Mount is the auth method's mount path (default: the method's name).
	Mount string `yaml:"mount"`
}

// TLSConfig configures TLS to Vault. The system roots are used unless
// CACert is set.
type TLSConfig struct {
	// CACert is a PEM file of the CA (or bundle) that signed Vault's
	// certificate.
	CACert string `yaml:"ca_cert"`
	// ClientCert and ClientKey (PEM files, both or neither) for mutual TLS.
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	// ServerName overrides the name checked in Vault's certificate (SNI).
	ServerName string `yaml:"server_name"`
	// Insecure disables certificate verification. Never in production: it
	// lets anyone on the path read every data key. New logs an error.
	Insecure bool `yaml:"insecure"`
}

// Defaults fills unset fields with their defaults.
func (c *Config) Defaults() {
	c.Mount = strings.Trim(c.Mount, "/")
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.KeyName == "" {
		c.KeyName = DefaultKeyName
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	c.Auth.Mount = strings.Trim(c.Auth.Mount, "/")
	if c.Auth.Mount == "" && c.Auth.Method != AuthToken {
		c.Auth.Mount = c.Auth.Method
	}
	if c.Auth.Method == AuthKubernetes && c.Auth.ServiceAccountTokenFile == "" {
		c.Auth.ServiceAccountTokenFile = DefaultServiceAccountTokenFile
	}
}

// Transit key names as Vault accepts them (framework.GenericNameRegex).
var keyNameRE = regexp.MustCompile(`^\w(?:[\w.@-]*\w)?$`)

// Mount paths: segments of letters, digits and -_.@, separated by '/'.
var mountRE = regexp.MustCompile(`^[\w.@-]+(?:/[\w.@-]+)*$`)

// Validate reports every configuration error it finds. Call it after
// Defaults. It reads no files; New does.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("keys/vault: "+format, args...))
	}
	if c.Address == "" {
		bad("address is required (e.g. https://vault.internal:8200)")
	} else if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("address %q is not an http(s) URL", c.Address)
	}
	if !mountRE.MatchString(c.Mount) || slices.Contains(strings.Split(c.Mount, "/"), "..") {
		bad("mount %q is not a valid mount path", c.Mount)
	}
	if !keyNameRE.MatchString(c.KeyName) {
		bad("key_name %q is not a valid Transit key name (letters, digits, -_.@)", c.KeyName)
	}
	if c.Timeout < 0 {
		bad("timeout must not be negative, got %s", c.Timeout)
	}
	if (c.TLS.ClientCert == "") != (c.TLS.ClientKey == "") {
		bad("tls.client_cert and tls.client_key must be set together")
	}
	a := c.Auth
	onlyOne := func(what1, v1, what2, v2 string) {
		switch {
		case v1 == "" && v2 == "":
			bad("auth method %q needs %s or %s", a.Method, what1, what2)
		case v1 != "" && v2 != "":
			bad("auth method %q: set %s or %s, not both", a.Method, what1, what2)
		}
	}
	switch a.Method {
	case AuthToken:
		onlyOne("auth.token", a.Token, "auth.token_file", a.TokenFile)
	case AuthAppRole:
		if a.RoleID == "" {
			bad("auth method %q needs auth.role_id", a.Method)
		}
		onlyOne("auth.secret_id", a.SecretID, "auth.secret_id_file", a.SecretIDFile)
	case AuthKubernetes:
		if a.KubernetesRole == "" {
			bad("auth method %q needs auth.kubernetes_role", a.Method)
		}
		if a.ServiceAccountTokenFile == "" {
			bad("auth method %q needs auth.service_account_token_file", a.Method)
		}
	case "":
		bad("auth.method is required; valid: %s", strings.Join(AuthMethods, ", "))
	default:
		bad("auth.method %q unknown; valid: %s", a.Method, strings.Join(AuthMethods, ", "))
	}
	if a.Method != AuthToken && a.Method != "" && !mountRE.MatchString(a.Mount) {
		bad("auth.mount %q is not a valid mount path", a.Mount)
	}
	return errors.Join(errs...)
}

// String describes the auth configuration without its secrets, so a
// Config can be printed or logged.
func (a AuthConfig) String() string {
	redact := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	return fmt.Sprintf("{method:%s mount:%s token:%s token_file:%s role_id:%s secret_id:%s secret_id_file:%s kubernetes_role:%s service_account_token_file:%s}",
		a.Method, a.Mount, redact(a.Token), a.TokenFile, a.RoleID, redact(a.SecretID), a.SecretIDFile, a.KubernetesRole, a.ServiceAccountTokenFile)
}

// LogValue logs the auth configuration without its secrets.
func (a AuthConfig) LogValue() slog.Value {
	return slog.StringValue(a.String())
}
