package clickhouse

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Config configures the ClickHouse store. Zero fields take the values
// Defaults gives them.
type Config struct {
	// Addr lists the servers' native-protocol addresses (host:port). With
	// several, the client fails over between them; in cluster mode list
	// one server per shard or a load balancer in front of them.
	Addr []string `yaml:"addr"`
	// Database holds the hub's tables. It must exist before Open (Migrate,
	// run by an administrator, creates it).
	Database string `yaml:"database"`
	// Username and Password of the hub's user (INSERT and SELECT only:
	// see grants.sql).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile, instead of Password, names a file holding it (a
	// mounted secret); it is read at Open.
	PasswordFile string `yaml:"password_file"`

	// TLS turns on TLS for the native protocol (port 9440 by convention).
	TLS bool `yaml:"tls"`
	// CAFile is a PEM bundle of the CAs that sign the servers'
	// certificates; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns off server certificate verification. For
	// tests only: it is refused unless TLS is on, and it is logged.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`

	// Cluster names the ClickHouse cluster (remote_servers) the schema is
	// distributed over. Empty: a single server. See the package doc.
	Cluster string `yaml:"cluster"`
	// InsertQuorum, in cluster mode, is how many replicas must have
	// written an insert before it is acknowledged (ClickHouse
	// insert_quorum). 0 or 1 acknowledges after one replica.
	InsertQuorum int `yaml:"insert_quorum"`

	// Shard names this hub instance's audit chain. The hub sets it from
	// its instance name; it must be unique per running instance.
	Shard string `yaml:"-"`

	// DialTimeout bounds connecting to a server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// WriteTimeout bounds one durable write. A write, once started, runs
	// to completion under this timeout, detached from the caller's
	// cancellation: ClickHouse cannot roll back half a batch, so the store
	// never abandons one midway.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxOpenConns caps the connection pool.
	MaxOpenConns int `yaml:"max_open_conns"`

	// BatchMaxRows and BatchMaxWait group concurrent Append calls (one
	// audit event per GraphQL read) into one INSERT, since ClickHouse wants
	// few large inserts rather than many small ones. A group closes when it
	// holds BatchMaxRows events or BatchMaxWait has passed since its first
	// event, whichever comes first; with BatchMaxWait 0 a group is whatever
	// queued while the previous insert ran (no added latency). Every caller
	// still returns only after its events are durable.
	BatchMaxRows int           `yaml:"batch_max_rows"`
	BatchMaxWait time.Duration `yaml:"batch_max_wait"`

	// DedupeWindow limits how far back the idempotency check looks for a
	// stored key (by the date the key was stored). 0 looks at all of
	// history, as the store contract says; a window longer than the
	// broker's retention (nothing older can be redelivered) keeps the check
	// cheap on years of data. Duplicates beyond the window are still never
	// shown: reads deduplicate.
	DedupeWindow time.Duration `yaml:"dedupe_window"`

	// Migrate applies pending schema migrations at Open. It needs a user
	// allowed to run DDL; production runs Migrate as an administrator
	// instead and leaves the hub's user INSERT and SELECT only.
	Migrate bool `yaml:"migrate"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if len(c.Addr) == 0 {
		c.Addr = []string{"127.0.0.1:9000"}
	}
	if c.Database == "" {
		c.Database = "carecrest"
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.Shard == "" {
		c.Shard = "hub-0"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = 8
	}
	if c.BatchMaxRows == 0 {
		c.BatchMaxRows = 1000
	}
}

// identifier is what the store accepts as a database or cluster name: it
// is spliced into DDL unquoted.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports a configuration error.
func (c Config) Validate() error {
	var errs []error
	if len(c.Addr) == 0 {
		errs = append(errs, errors.New("addr: at least one server is required"))
	}
	for _, a := range c.Addr {
		if a == "" {
			errs = append(errs, errors.New("addr: empty address"))
		}
	}
	if !identifier.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("database: %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.Database))
	}
	if c.Cluster != "" && !identifier.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster: %q is not a plain identifier", c.Cluster))
	}
	if c.Shard == "" {
		errs = append(errs, errors.New("shard: required (the hub sets it from its instance name)"))
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("password and password_file: set one, not both"))
	}
	if c.InsecureSkipVerify && !c.TLS {
		errs = append(errs, errors.New("insecure_skip_verify: only with tls"))
	}
	if c.CAFile != "" && !c.TLS {
		errs = append(errs, errors.New("ca_file: only with tls"))
	}
	if c.InsertQuorum < 0 {
		errs = append(errs, errors.New("insert_quorum: must not be negative"))
	}
	if c.InsertQuorum > 1 && c.Cluster == "" {
		errs = append(errs, errors.New("insert_quorum: only in cluster mode"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"write_timeout", c.WriteTimeout}, {"batch_max_wait", c.BatchMaxWait}, {"dedupe_window", c.DedupeWindow}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", d.name))
		}
	}
	if c.DialTimeout == 0 || c.WriteTimeout == 0 {
		errs = append(errs, errors.New("dial_timeout, write_timeout: required (Defaults sets them)"))
	}
	if c.BatchMaxRows < 1 || c.BatchMaxRows > maxBatchRows {
		errs = append(errs, fmt.Errorf("batch_max_rows: must be 1..%d", maxBatchRows))
	}
	if c.MaxOpenConns < 1 {
		errs = append(errs, errors.New("max_open_conns: must be at least 1"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("clickhouse: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// maxBatchRows caps a group of appends: an insert stays well below
// ClickHouse's max_insert_block_size (1,048,576 rows), so that it is
// written as one part, all or nothing.
const maxBatchRows = 100_000
