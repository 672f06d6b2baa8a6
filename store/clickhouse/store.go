package clickhouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/store"
)

// Store is the ClickHouse backend. It is safe for concurrent use: writes
// are serialised by one mutex per Store (which also guards the chain
// head), reads run concurrently on the connection pool.
type Store struct {
	conn   driver.Conn
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	schema schema

	mu      sync.Mutex // serialises writes; guards head, doubt, version
	head    audit.Head
	doubt   *doubt // an audit insert whose outcome is unknown, settled before the next
	version int64  // last version handed out (consents, data keys), monotonic

	appends chan *appendReq // group commit of Append calls
	flushes atomic.Int64    // groups written (for tests and metrics)
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once
}

var (
	_ store.Committer        = (*Store)(nil)
	_ store.RecordReader     = (*Store)(nil)
	_ store.ConsentReader    = (*Store)(nil)
	_ audit.Appender         = (*Store)(nil)
	_ audit.Querier          = (*Store)(nil)
	_ audit.ChainReader      = (*Store)(nil)
	_ keys.WrappedStore      = (*Store)(nil)
	_ keys.BatchWrappedStore = (*Store)(nil)
	_ keys.MaintainedStore   = (*Store)(nil)
	_ mpi.Links              = (*Store)(nil)
)

// Option configures a Store beyond its Config.
type Option func(*Store)

// WithLogger sets the logger (default: discard). The store logs no row
// values.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithClock sets the clock that stamps events, commits and keys.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open connects to ClickHouse, applies pending migrations when
// cfg.Migrate is set, and loads this instance's audit chain head. The
// database must exist and be migrated (see Migrate).
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		log:     slog.New(slog.DiscardHandler),
		now:     time.Now,
		schema:  schema{db: cfg.Database, cluster: cfg.Cluster},
		appends: make(chan *appendReq, 1024),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if cfg.PasswordFile != "" {
		pw, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: password_file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(pw), "\r\n")
	}
	conn, err := connect(cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, unavailable("connect", err)
	}
	if cfg.Migrate {
		if err := s.Migrate(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if err := s.checkSchema(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if err := s.loadHead(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	go s.groupCommit()
	return s, nil
}

// Close stops the group commit (callers waiting on it get their answer
// first) and closes the connections.
func (s *Store) Close() error {
	var err error
	s.closing.Do(func() {
		close(s.stop)
		<-s.done
		err = s.conn.Close()
	})
	return err
}

// Conn exposes the connection to tests and operator tools.
func (s *Store) Conn() driver.Conn { return s.conn }

// connect opens a connection pool with database as the default database
// ("" for the user's default).
func connect(cfg Config, database string) (driver.Conn, error) {
	opts := &ch.Options{
		Protocol:         ch.Native,
		Addr:             cfg.Addr,
		Auth:             ch.Auth{Database: database, Username: cfg.Username, Password: cfg.Password},
		DialTimeout:      cfg.DialTimeout,
		MaxOpenConns:     cfg.MaxOpenConns,
		MaxIdleConns:     cfg.MaxOpenConns,
		ConnMaxLifetime:  time.Hour,
		ConnOpenStrategy: ch.ConnOpenInOrder,
		Compression:      &ch.Compression{Method: ch.CompressionLZ4},
		ClientInfo:       ch.ClientInfo{Products: []struct{ Name, Version string }{{Name: "carecrest-hub", Version: "1"}}},
	}
	if cfg.Cluster != "" {
		// Inserts into Distributed tables are acknowledged only after every
		// shard has them (not queued on the receiving node), and, with a
		// quorum, after that many replicas wrote them.
		opts.Settings = ch.Settings{"insert_distributed_sync": 1}
		if cfg.InsertQuorum > 1 {
			opts.Settings["insert_quorum"] = cfg.InsertQuorum
		}
	}
	if cfg.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("clickhouse: read ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("clickhouse: ca_file holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		opts.TLS = tc
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, unavailable("open", err)
	}
	return conn, nil
}

// writeContext returns the context of a durable write: detached from the
// caller's cancellation (a batch half written cannot be rolled back, so a
// write once started runs to its end) and bounded by WriteTimeout.
func (s *Store) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
}

// nextVersion returns a version number greater than every one this Store
// handed out before, close to the clock's nanoseconds. The caller holds
// s.mu.
func (s *Store) nextVersion(now time.Time) int64 {
	v := now.UnixNano()
	if v <= s.version {
		v = s.version + 1
	}
	s.version = v
	return v
}

// utcDate is the Date column value of t: its UTC calendar day.
func utcDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// dateString is a Date bound as a query parameter: 'YYYY-MM-DD' compares
// with a Date column on every server version.
func dateString(t time.Time) string { return t.UTC().Format("2006-01-02") }

// unavailable wraps err in store.ErrUnavailable. The message names the
// operation and the kind of failure, never row values: a server exception
// contributes its code and name only (its message may quote the query,
// and with it bound values), a client-side error its type only.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", store.ErrUnavailable, op, sanitize(err))
}

// auditUnavailable is unavailable for the audit contracts: it wraps both
// audit.ErrUnavailable and store.ErrUnavailable.
func auditUnavailable(err error) error {
	if errors.Is(err, audit.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
}

// safeError is an error whose text holds no row values. It keeps the
// original for errors.Is and errors.As.
type safeError struct {
	msg string
	err error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.err }

func sanitize(err error) error {
	var se *safeError
	var ex *ch.Exception
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &safeError{msg: contextCause(err).Error(), err: err}
	case errors.As(err, &ex):
		return &safeError{msg: fmt.Sprintf("server exception %d (%s)", ex.Code, exceptionName(ex)), err: err}
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		// Network errors name addresses, not values.
		return &safeError{msg: "network: " + err.Error(), err: err}
	case errors.Is(err, ch.ErrAcquireConnTimeout):
		return &safeError{msg: "connection pool exhausted", err: err}
	default:
		return &safeError{msg: fmt.Sprintf("client error (%T)", err), err: err}
	}
}

func contextCause(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// exceptionName is the symbolic name of a server exception: the Name the
// server sent when it looks like one (DB::Exception on old servers), else
// the code's name where known.
func exceptionName(ex *ch.Exception) string {
	if ex.CodeName != "" {
		return ex.CodeName
	}
	if n, ok := exceptionCodes[ex.Code]; ok {
		return n
	}
	return ex.Name
}

// exceptionCodes names the server error codes the store meets or acts on.
var exceptionCodes = map[int32]string{
	57:  "TABLE_ALREADY_EXISTS",
	60:  "UNKNOWN_TABLE",
	81:  "UNKNOWN_DATABASE",
	82:  "DATABASE_ALREADY_EXISTS",
	159: "TIMEOUT_EXCEEDED",
	164: "READONLY",
	192: "UNKNOWN_USER",
	193: "WRONG_PASSWORD",
	194: "REQUIRED_PASSWORD",
	209: "SOCKET_TIMEOUT",
	210: "NETWORK_ERROR",
	241: "MEMORY_LIMIT_EXCEEDED",
	242: "TABLE_IS_READ_ONLY",
	252: "TOO_MANY_PARTS",
	286: "UNFINISHED",
	291: "DATABASE_ACCESS_DENIED",
	319: "UNKNOWN_STATUS_OF_INSERT",
	497: "ACCESS_DENIED",
}

// isException reports whether err is a server exception with one of codes.
func isException(err error, codes ...int32) bool {
	var ex *ch.Exception
	if !errors.As(err, &ex) {
		return false
	}
	for _, c := range codes {
		if ex.Code == c {
			return true
		}
	}
	return false
}

// ErrSchema reports a database whose schema is missing or older than the
// store's migrations. It wraps store.ErrUnavailable: the hub fails closed.
var ErrSchema = fmt.Errorf("%w: clickhouse schema not migrated", store.ErrUnavailable)

// errDecode reports a stored value that does not decode (JSON errors quote
// the input, so their text is not passed on).
var errDecode = &safeError{msg: "stored value does not decode"}

// Ping checks that the server answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// CountRecords returns how many distinct records are stored (operators and
// tests).
func (s *Store) CountRecords(ctx context.Context) (int, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT uniqExact(idem_key) FROM records`).Scan(&n); err != nil {
		return 0, unavailable("count records", err)
	}
	return int(n), nil
}
