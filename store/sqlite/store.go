// Package sqlite is the embedded backend of the hub's durable state: sealed
// records, patient-index links, wrapped data keys, consent versions and the
// hash-chained audit log, all in one SQLite file (pure Go, no cgo).
//
// Because everything lives in one database, an ingest batch (records,
// consents and their audit events) commits in a single transaction: either
// all of it is durable or none of it is.
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed schema.sql
var schema string

// Config configures the embedded store.
type Config struct {
	// Path of the database file.
	Path string `yaml:"path"`
	// Shard names this hub instance's audit chain.
	Shard string `yaml:"-"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Path == "" {
		c.Path = "data/hub.db"
	}
	if c.Shard == "" {
		c.Shard = "hub-0"
	}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("sqlite: path is required")
	}
	return nil
}

// Store is the embedded store. It is safe for concurrent use; writes are
// serialised (one writer, as SQLite requires), reads run concurrently.
type Store struct {
	db    *sql.DB
	shard string
	now   func() time.Time

	mu   sync.Mutex // serialises writes and guards head
	head audit.Head
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

// Open opens (creating if needed) the database at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	// Create the file owner-only before SQLite opens it: SQLite gives the
	// -wal and -shm files it creates the mode of the database file, and
	// they hold the same data.
	f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	f.Close()
	dsn := "file:" + cfg.Path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(8)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: apply schema: %w", err)
	}
	// A database created before the file was created owner-only may have
	// wider modes; restrict them.
	for _, p := range []string{cfg.Path, cfg.Path + "-wal", cfg.Path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("sqlite: restrict file mode: %w", err)
		}
	}
	s := &Store{db: db, shard: cfg.Shard, now: time.Now}
	if err := s.loadHead(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the database handle to tests and operator tools.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) loadHead(ctx context.Context) error {
	var h audit.Head
	err := s.db.QueryRowContext(ctx,
		`SELECT seq, hash FROM audit_events WHERE shard = ? ORDER BY seq DESC LIMIT 1`, s.shard).
		Scan(&h.Seq, &h.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: read audit head: %w", err)
	}
	s.head = h
	return nil
}

// unavailable wraps a database error in store.ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %v", store.ErrUnavailable, op, err)
}

// Commit implements store.Committer in one transaction.
func (s *Store) Commit(ctx context.Context, b store.Batch) (store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res store.Result
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, unavailable("begin", err)
	}
	defer tx.Rollback()
	now := s.now().UnixNano()
	if err := insertRecords(ctx, tx, b, now, &res); err != nil {
		return store.Result{}, err
	}
	if err := insertConsents(ctx, tx, b.Consents, now); err != nil {
		return store.Result{}, err
	}
	head, n, err := s.appendTx(ctx, tx, b.Events)
	if err != nil {
		return store.Result{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.Result{}, unavailable("commit", err)
	}
	s.head = head
	res.Events = n
	return res, nil
}
