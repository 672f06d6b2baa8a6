package kafkaconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// SASL mechanisms.
const (
	MechanismNone        = ""
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the valid values of sasl.mechanism ("" is none).
var Mechanisms = []string{MechanismNone, MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512}

// redacted replaces a secret wherever a Config is printed.
const redacted = "[redacted]"

// Config secures the hub's connections to Kafka: the consumer (through
// Dialer) and the dead-letter and alert producers (through Transport). It
// is the kafka.security section of the hub's configuration. The zero value
// is plaintext without authentication, as for the embedded broker.
type Config struct {
	TLS  TLSConfig  `yaml:"tls"`
	SASL SASLConfig `yaml:"sasl"`
}

// TLSConfig configures TLS to the brokers (TLS 1.2 at least).
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates;
	// empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the hub's client certificate and key (PEM)
	// for mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates
	// (default: the host dialled).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate verification. For a lab only:
	// it makes TLS worthless against an active attacker.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASLConfig configures SASL authentication to the brokers.
//
// The password is best given as PasswordFile (a file mounted from a
// Kubernetes Secret or written by Vault Agent); it is read again at every
// new connection, so a rotated password is picked up without a restart.
// Password, inline, is for tests and local setups. Exactly one of them is
// set with a mechanism. A Config never prints its password: String,
// GoString, LogValue, MarshalJSON and MarshalYAML all redact it.
type SASLConfig struct {
	// Mechanism: "" (none), PLAIN (needs TLS), SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism    string `yaml:"mechanism"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Defaults normalizes the mechanism name (case and spaces); there are no
// other defaults: TLS and SASL are off unless configured.
func (c *Config) Defaults() {
	c.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(c.SASL.Mechanism))
}

// Validate reports every configuration error it finds. Messages name the
// keys (under kafka.security) and never a password.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("kafka.security."+format, args...)) }

	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		add("tls: settings given but tls.enabled is false")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("tls: cert_file and key_file go together")
	}

	s := c.SASL
	mech := strings.ToUpper(strings.TrimSpace(s.Mechanism))
	switch {
	case !slices.Contains(Mechanisms, mech):
		add("sasl.mechanism %q unknown; valid: \"\" (none), %s", s.Mechanism, strings.Join(Mechanisms[1:], ", "))
	case mech == MechanismNone:
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			add("sasl: credentials given but sasl.mechanism is empty")
		}
	default:
		if s.Username == "" {
			add("sasl.username is required with mechanism %s", mech)
		}
		switch {
		case s.Password != "" && s.PasswordFile != "":
			add("sasl: set password_file or password, not both (password_file is preferred)")
		case s.Password == "" && s.PasswordFile == "":
			add("sasl.password_file (or password) is required with mechanism %s", mech)
		}
		if mech == MechanismPlain && !t.Enabled {
			add("sasl: mechanism PLAIN sends the password in clear; it needs tls.enabled")
		}
	}
	return errors.Join(errs...)
}

// String describes the configuration without its password.
func (c Config) String() string {
	return "tls{" + c.TLS.String() + "} sasl{" + c.SASL.String() + "}"
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration without its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("tls", c.TLS), slog.Any("sasl", c.SASL))
}

// String describes the TLS settings.
func (t TLSConfig) String() string {
	return fmt.Sprintf("enabled=%t ca_file=%q cert_file=%q key_file=%q server_name=%q insecure_skip_verify=%t",
		t.Enabled, t.CAFile, t.CertFile, t.KeyFile, t.ServerName, t.InsecureSkipVerify)
}

// String describes the SASL settings without the password.
func (s SASLConfig) String() string {
	return fmt.Sprintf("mechanism=%q username=%q password=%s password_file=%q",
		s.Mechanism, s.Username, s.maskedPassword(), s.PasswordFile)
}

// GoString is String, so that %#v does not print the password either.
func (s SASLConfig) GoString() string { return s.String() }

// LogValue logs the SASL settings without the password.
func (s SASLConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mechanism", s.Mechanism), slog.String("username", s.Username),
		slog.String("password", s.maskedPassword()), slog.String("password_file", s.PasswordFile),
	)
}

// safeSASL is SASLConfig as marshalled: the password redacted.
type safeSASL struct {
	Mechanism    string `json:"mechanism" yaml:"mechanism"`
	Username     string `json:"username" yaml:"username"`
	Password     string `json:"password,omitempty" yaml:"password,omitempty"`
	PasswordFile string `json:"password_file,omitempty" yaml:"password_file,omitempty"`
}

func (s SASLConfig) safe() safeSASL {
	out := safeSASL{Mechanism: s.Mechanism, Username: s.Username, PasswordFile: s.PasswordFile}
	if s.Password != "" {
		out.Password = redacted
	}
	return out
}

// MarshalYAML writes the settings with the password redacted (a dumped
// configuration cannot leak it; it also cannot be loaded back with it).
func (s SASLConfig) MarshalYAML() (any, error) { return s.safe(), nil }

// MarshalJSON writes the settings with the password redacted.
func (s SASLConfig) MarshalJSON() ([]byte, error) { return json.Marshal(s.safe()) }

func (s SASLConfig) maskedPassword() string {
	if s.Password == "" {
		return `""`
	}
	return redacted
}
