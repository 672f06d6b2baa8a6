package kafkaconn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const testPassword = "s3cr3t-Hunter2"

func TestValidate(t *testing.T) {
	scram := SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "carecrest-hub", PasswordFile: "/run/secrets/kafka-password"}
	for _, c := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"zero value: plaintext, no auth", Config{}, nil},
		{"TLS only", Config{TLS: TLSConfig{Enabled: true, CAFile: "/etc/ca.pem"}}, nil},
		{"SCRAM over TLS", Config{TLS: TLSConfig{Enabled: true}, SASL: scram}, nil},
		{"SCRAM without TLS", Config{SASL: scram}, nil},
		{"lower-case mechanism", Config{SASL: SASLConfig{Mechanism: " scram-sha-256 ", Username: "u", Password: testPassword}}, nil},
		{"mTLS", Config{TLS: TLSConfig{Enabled: true, CertFile: "c.pem", KeyFile: "k.pem"}}, nil},
		{"PLAIN over TLS", Config{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: "f"}}, nil},

		{"unknown mechanism", Config{SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: testPassword}},
			[]string{`"GSSAPI" unknown`, "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"}},
		{"PLAIN in clear", Config{SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: testPassword}}, []string{"needs tls.enabled"}},
		{"no username", Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Password: testPassword}}, []string{"sasl.username is required"}},
		{"no password", Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}}, []string{"password_file (or password) is required"}},
		{"both passwords", Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: testPassword, PasswordFile: "f"}}, []string{"not both"}},
		{"credentials without mechanism", Config{SASL: SASLConfig{Username: "u", Password: testPassword}}, []string{"sasl.mechanism is empty"}},
		{"TLS settings while disabled", Config{TLS: TLSConfig{CAFile: "/etc/ca.pem"}}, []string{"tls.enabled is false"}},
		{"cert without key", Config{TLS: TLSConfig{Enabled: true, CertFile: "c.pem"}}, []string{"go together"}},
		{"several errors", Config{TLS: TLSConfig{ServerName: "x"}, SASL: SASLConfig{Mechanism: "PLAIN"}},
			[]string{"tls.enabled is false", "username is required", "is required with mechanism PLAIN", "needs tls.enabled"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Defaults()
			err := c.cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestDefaultsNormalizeMechanism(t *testing.T) {
	c := Config{SASL: SASLConfig{Mechanism: " scram-sha-512\n"}}
	c.Defaults()
	if c.SASL.Mechanism != MechanismSCRAMSHA512 {
		t.Errorf("mechanism %q", c.SASL.Mechanism)
	}
}

// TestPasswordNeverPrinted prints a configuration in every way a program
// might: fmt verbs, inside a parent struct, slog, JSON and YAML.
func TestPasswordNeverPrinted(t *testing.T) {
	cfg := Config{
		TLS:  TLSConfig{Enabled: true, CAFile: "/etc/kafka/ca.pem"},
		SASL: SASLConfig{Mechanism: MechanismSCRAMSHA512, Username: "carecrest-hub", Password: testPassword},
	}
	type parent struct {
		Brokers  []string
		Security Config
		Ptr      *Config
	}
	p := parent{Brokers: []string{"kafka-1:9093"}, Security: cfg, Ptr: &cfg}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, cfg.SASL), fmt.Sprintf(verb, p))
	}
	outputs = append(outputs, cfg.String(), fmt.Sprint(cfg), fmt.Sprintln(p))

	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("kafka", "security", cfg, "sasl", cfg.SASL, "ptr", &cfg)
		outputs = append(outputs, buf.String())
	}

	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js), string(ys))

	for _, out := range outputs {
		if strings.Contains(out, testPassword) {
			t.Errorf("password printed: %s", out)
		}
	}
	// The redacted forms still say that a password is set, and show the
	// rest.
	for _, out := range []string{cfg.String(), string(js), string(ys)} {
		if !strings.Contains(out, redacted) || !strings.Contains(out, "carecrest-hub") {
			t.Errorf("redacted output lacks the marker or the username: %s", out)
		}
	}
}

func TestYAMLKeys(t *testing.T) {
	const doc = `
tls:
  enabled: true
  ca_file: /etc/kafka/ca.pem
  cert_file: /etc/kafka/client.pem
  key_file: /etc/kafka/client-key.pem
  server_name: kafka.internal
  insecure_skip_verify: false
sasl:
  mechanism: SCRAM-SHA-512
  username: carecrest-hub
  password_file: /run/secrets/kafka-password
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{
		TLS: TLSConfig{Enabled: true, CAFile: "/etc/kafka/ca.pem", CertFile: "/etc/kafka/client.pem",
			KeyFile: "/etc/kafka/client-key.pem", ServerName: "kafka.internal"},
		SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "carecrest-hub", PasswordFile: "/run/secrets/kafka-password"},
	}
	if c != want {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
