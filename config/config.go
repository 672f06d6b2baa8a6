// Package config is the hub's configuration: one YAML file, overridden by
// environment variables, overridden by command-line flags (flags > env >
// file > defaults). Every component keeps its own Config with Defaults and
// Validate; this package only assembles them and picks backends by name.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/broker"
	"github.com/carecrest/hub/codemap"
	"github.com/carecrest/hub/httpingest"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/kafkaconn"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/report"
	"github.com/carecrest/hub/route"
	"github.com/carecrest/hub/store/clickhouse"
	"gopkg.in/yaml.v3"
)

// Backend names, one list per contract.
var (
	BrokerBackends = []string{"embedded", "kafka"}
	StoreBackends  = []string{"sqlite", "clickhouse"}
	KeyBackends    = []string{"local", "vault"}
)

// Config is the whole hub configuration.
type Config struct {
	// Instance names this hub instance; it is its audit chain shard, so
	// every instance writing to one audit log needs its own.
	Instance string `yaml:"instance"`
	// DataDir holds the embedded store, keyring and demo material.
	DataDir string        `yaml:"data_dir"`
	Kafka   Kafka         `yaml:"kafka"`
	Ingest  ingest.Config `yaml:"ingest"`
	Store   Store         `yaml:"store"`
	Keys    Keys          `yaml:"keys"`
	Policy  Policy        `yaml:"policy"`
	Labels  Labels        `yaml:"labels"`
	// CodeMaps maps source systems' local codes to standard codes at
	// ingest, before labelling (codemap.Config).
	CodeMaps codemap.Config `yaml:"codemaps"`
	// Route lists the subscriber systems records are disclosed to.
	Route route.Config `yaml:"route"`
	// Gateways feed Kafka from systems that do not produce to it directly.
	Gateways Gateways `yaml:"gateways"`
	HTTP     HTTP     `yaml:"http"`
	Auth     Auth     `yaml:"auth"`
	Log      Log      `yaml:"log"`
	// Compliance configures the privacy office's reports: accounting
	// exemptions, which parties are external, retention, break-glass review.
	Compliance report.Config `yaml:"compliance"`
	// Checkpoints configures the signed Merkle checkpoints of the audit log.
	Checkpoints Checkpoints `yaml:"checkpoints"`
	// Alerts configures anomalous-access alerts (rules, roster, sinks).
	Alerts alert.Config `yaml:"alerts"`
}

// Checkpoints says how often this instance signs and publishes a Merkle
// checkpoint of its audit shard, and where besides the audit log.
type Checkpoints struct {
	// Interval between scheduled checkpoints (default 1h; negative: none
	// on a schedule, only on demand).
	Interval time.Duration `yaml:"interval"`
	// Topic is the Kafka topic checkpoints are also written to (default
	// carecrest.audit.checkpoints; "-": none).
	Topic string `yaml:"topic"`
}

// Kafka says where traffic comes from.
type Kafka struct {
	// Backend: embedded (in-process Kafka-protocol broker) or kafka.
	Backend  string        `yaml:"backend"`
	Brokers  []string      `yaml:"brokers"`
	Embedded broker.Config `yaml:"embedded"`
	Group    string        `yaml:"group"`
	// Sources are the systems the hub consumes from, one topic each:
	// hub.in.<source>.
	Sources []string `yaml:"sources"`
	// Security configures TLS and SASL to the brokers.
	Security kafkaconn.Config `yaml:"security"`
}

// Topics returns the inbound topics.
func (k Kafka) Topics() []string {
	out := make([]string, len(k.Sources))
	for i, s := range k.Sources {
		out[i] = ingest.TopicPrefix + s
	}
	return out
}

// Store selects the record and audit store.
type Store struct {
	Backend string `yaml:"backend"`
	SQLite  struct {
		Path string `yaml:"path"`
	} `yaml:"sqlite"`
	// ClickHouse configures the production store (backend clickhouse).
	ClickHouse clickhouse.Config `yaml:"clickhouse"`
}

// Keys selects the key manager.
type Keys struct {
	Backend string `yaml:"backend"`
	Local   struct {
		// Path of the keyring file (0600). The env var CARECREST_KEK, when
		// set, supplies the key-encryption key instead.
		Path string `yaml:"path"`
	} `yaml:"local"`
	// Vault configures the Vault Transit key manager (backend vault).
	Vault vault.Config `yaml:"vault"`
	Cache struct {
		Size int           `yaml:"size"`
		TTL  time.Duration `yaml:"ttl"`
	} `yaml:"cache"`
}

// Gateways are the hub's own listeners in front of Kafka.
type Gateways struct {
	// MLLP listeners for HL7 v2 senders, one per source system: each
	// writes to hub.in.<source> and acknowledges only after Kafka did.
	MLLP []mllp.Config `yaml:"mllp"`
	// HTTP serves FHIR R4 and DICOM JSON ingest (POST /fhir, /fhir/{type},
	// /dicom) on the API listener for source systems holding a token with
	// kind application and role source-system; the token's subject names the
	// source.
	HTTP struct {
		Enabled           bool `yaml:"enabled"`
		httpingest.Config `yaml:",inline"`
	} `yaml:"http"`
}

// Labels configures sensitivity labelling at ingest.
type Labels struct {
	// File, when set, loads the code lists from a YAML or JSON file
	// (labels.Config) instead of the built-in starter lists.
	File string `yaml:"file"`
}

// Policy says where the Rego policy comes from.
type Policy struct {
	// Dir, when set, loads *.rego and data.json from this directory instead
	// of the embedded policy; Bundle, an OPA bundle (.tar.gz). At most one.
	Dir    string `yaml:"dir"`
	Bundle string `yaml:"bundle"`
	// Profile is the jurisdiction profile: hipaa (default) or gdpr.
	Profile string `yaml:"profile"`
	// Reload is how often Dir or Bundle is checked for a new policy
	// (default 2s; negative: never). A policy that fails to compile or
	// fails its tests never replaces the running one.
	Reload time.Duration `yaml:"reload"`
}

// HTTP configures the API listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// Metrics serves Prometheus metrics at /metrics (default true).
	Metrics *bool `yaml:"metrics"`
}

// MetricsEnabled reports whether /metrics is served.
func (h HTTP) MetricsEnabled() bool { return h.Metrics == nil || *h.Metrics }

// Auth configures JWT verification.
type Auth struct {
	Issuer     string        `yaml:"issuer"`
	Audience   string        `yaml:"audience"`
	Algorithms []string      `yaml:"algorithms"`
	KeyFile    string        `yaml:"key_file"` // PEM public key, or HS256 secret file
	Leeway     time.Duration `yaml:"leeway"`
	// DevSigningKey, for the demo only, is the Ed25519 private key hubctl
	// token uses; it is generated beside KeyFile when both are absent.
	DevSigningKey string `yaml:"dev_signing_key"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Defaults fills unset fields with the embedded defaults.
func (c *Config) Defaults() {
	if c.Instance == "" {
		c.Instance = "hub-0"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Kafka.Backend == "" {
		c.Kafka.Backend = "embedded"
	}
	c.Kafka.Embedded.Defaults()
	c.Kafka.Security.Defaults()
	if c.Kafka.Group == "" {
		c.Kafka.Group = "carecrest-hub"
	}
	if len(c.Kafka.Sources) == 0 {
		c.Kafka.Sources = []string{"ehr", "lis", "ris", "pharmacy", "registration", "scheduling", "billing", "telemedicine", "hie"}
	}
	c.Ingest.Defaults()
	if c.Store.Backend == "" {
		c.Store.Backend = "sqlite"
	}
	if c.Store.Backend == "clickhouse" {
		c.Store.ClickHouse.Defaults()
	}
	if c.Store.SQLite.Path == "" {
		c.Store.SQLite.Path = filepath.Join(c.DataDir, "hub.db")
	}
	if c.Keys.Backend == "" {
		c.Keys.Backend = "local"
	}
	if c.Keys.Backend == "vault" {
		c.Keys.Vault.Defaults()
	}
	if c.Keys.Local.Path == "" {
		c.Keys.Local.Path = filepath.Join(c.DataDir, "keyring.json")
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = "127.0.0.1:8080"
	}
	if c.Auth.Issuer == "" {
		c.Auth.Issuer = "https://carecrest-hub.local/dev"
	}
	if c.Auth.Audience == "" {
		c.Auth.Audience = "carecrest-hub"
	}
	if len(c.Auth.Algorithms) == 0 {
		c.Auth.Algorithms = []string{"EdDSA"}
	}
	if c.Auth.KeyFile == "" {
		c.Auth.KeyFile = filepath.Join(c.DataDir, "jwt", auth.PublicKeyFile)
		if c.Auth.DevSigningKey == "" {
			c.Auth.DevSigningKey = filepath.Join(c.DataDir, "jwt", auth.PrivateKeyFile)
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Policy.Reload == 0 {
		c.Policy.Reload = 2 * time.Second
	}
	c.Compliance.Defaults()
	c.Alerts.Defaults()
	if c.Checkpoints.Interval == 0 {
		c.Checkpoints.Interval = time.Hour
	}
	if c.Checkpoints.Topic == "" {
		c.Checkpoints.Topic = merkle.DefaultTopic
	}
}

// Validate reports every configuration error it finds.
func (c *Config) Validate() error {
	var errs []error
	oneOf := func(what, got string, valid []string) {
		if !slices.Contains(valid, got) {
			errs = append(errs, fmt.Errorf("%s %q unknown; valid: %s", what, got, strings.Join(valid, ", ")))
		}
	}
	oneOf("kafka.backend", c.Kafka.Backend, BrokerBackends)
	oneOf("store.backend", c.Store.Backend, StoreBackends)
	oneOf("keys.backend", c.Keys.Backend, KeyBackends)
	oneOf("log.level", c.Log.Level, []string{"debug", "info", "warn", "error"})
	oneOf("log.format", c.Log.Format, []string{"text", "json"})
	if c.Store.Backend == "clickhouse" {
		ch := c.Store.ClickHouse
		ch.Shard = c.Instance
		if err := ch.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("store.clickhouse: %w", err))
		}
	}
	if c.Keys.Backend == "vault" {
		if err := c.Keys.Vault.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("keys.vault: %w", err))
		}
	}
	if err := c.Kafka.Security.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("kafka.security: %w", err))
	}
	if c.Kafka.Backend == "kafka" && len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers is required with kafka.backend kafka"))
	}
	for _, s := range c.Kafka.Sources {
		if ingest.SourceOf(ingest.TopicPrefix+s) != s {
			errs = append(errs, fmt.Errorf("kafka.sources: %q is not a valid system name", s))
		}
	}
	if strings.ContainsAny(c.Instance, " |") || c.Instance == "" {
		errs = append(errs, fmt.Errorf("instance %q: need a non-empty name without spaces", c.Instance))
	}
	if c.Alerts.Enabled {
		if err := c.Alerts.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.CodeMaps.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Route.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("route: %w", err))
	}
	if c.Gateways.HTTP.Enabled {
		g := c.Gateways.HTTP.Config
		g.Defaults()
		if err := g.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("gateways.http: %w", err))
		}
	}
	for i := range c.Gateways.MLLP {
		g := c.Gateways.MLLP[i]
		g.Defaults()
		if err := g.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("gateways.mllp[%d]: %w", i, err))
		}
		if !slices.Contains(c.Kafka.Sources, g.Source) {
			errs = append(errs, fmt.Errorf("gateways.mllp[%d]: source %q is not among kafka.sources, so its topic would not be consumed", i, g.Source))
		}
	}
	if err := c.Compliance.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Ingest.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Load reads a YAML file (unknown keys are errors), then applies the
// environment, then defaults. path "" means no file.
func Load(path string) (*Config, error) {
	var c Config
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	ApplyEnv(&c, os.LookupEnv)
	c.Defaults()
	return &c, nil
}

// Env lists the environment variables the hub reads, for the README.
var Env = map[string]string{
	"CARECREST_INSTANCE":       "instance",
	"CARECREST_DATA_DIR":       "data_dir",
	"CARECREST_KAFKA_BACKEND":  "kafka.backend",
	"CARECREST_KAFKA_BROKERS":  "kafka.brokers (comma-separated)",
	"CARECREST_HTTP_ADDR":      "http.addr",
	"CARECREST_POLICY_DIR":     "policy.dir",
	"CARECREST_POLICY_BUNDLE":  "policy.bundle",
	"CARECREST_POLICY_PROFILE": "policy.profile",
	"CARECREST_LOG_LEVEL":      "log.level",
}

// ApplyEnv overrides c from the environment.
func ApplyEnv(c *Config, lookup func(string) (string, bool)) {
	set := func(key string, dst *string) {
		if v, ok := lookup(key); ok && v != "" {
			*dst = v
		}
	}
	set("CARECREST_INSTANCE", &c.Instance)
	set("CARECREST_DATA_DIR", &c.DataDir)
	set("CARECREST_KAFKA_BACKEND", &c.Kafka.Backend)
	if v, ok := lookup("CARECREST_KAFKA_BROKERS"); ok && v != "" {
		c.Kafka.Brokers = strings.Split(v, ",")
	}
	set("CARECREST_HTTP_ADDR", &c.HTTP.Addr)
	set("CARECREST_POLICY_DIR", &c.Policy.Dir)
	set("CARECREST_POLICY_BUNDLE", &c.Policy.Bundle)
	set("CARECREST_POLICY_PROFILE", &c.Policy.Profile)
	set("CARECREST_LOG_LEVEL", &c.Log.Level)
}

// SetDataDir moves the hub to another data directory: the paths that
// default to places under data_dir (store, keyring, dev JWT keys) follow it.
func (c *Config) SetDataDir(dir string) {
	c.DataDir = dir
	c.Store.SQLite.Path, c.Keys.Local.Path, c.Auth.KeyFile, c.Auth.DevSigningKey = "", "", "", ""
	c.Defaults()
}
