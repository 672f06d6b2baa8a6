package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/store"
	"github.com/carecrest/hub/store/clickhouse"
	"github.com/carecrest/hub/store/sqlite"
)

// Store is what the hub needs of its durable state: records, consents,
// patient links, wrapped keys and the audit log. Both backends provide it.
type Store interface {
	store.Committer
	store.RecordReader
	store.ConsentReader
	audit.Appender
	audit.Querier
	audit.ChainReader
	keys.BatchWrappedStore
	keys.MaintainedStore
	mpi.Links
	Ping(ctx context.Context) error
	CountRecords(ctx context.Context) (int, error)
	Close() error
}

var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*clickhouse.Store)(nil)
)

// OpenStore opens the configured backend, writing the audit chain of this
// instance (cfg.Instance).
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (Store, error) {
	switch cfg.Store.Backend {
	case "sqlite":
		return sqlite.Open(ctx, sqlite.Config{Path: cfg.Store.SQLite.Path, Shard: cfg.Instance})
	case "clickhouse":
		c := cfg.Store.ClickHouse
		c.Shard = cfg.Instance
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		if c.Migrate { // creates the database too, which Open cannot
			if err := clickhouse.Migrate(ctx, c); err != nil {
				return nil, err
			}
			c.Migrate = false
		}
		return clickhouse.Open(ctx, c, clickhouse.WithLogger(log))
	default:
		return nil, fmt.Errorf("store.backend %q unknown; valid: %s", cfg.Store.Backend, strings.Join(config.StoreBackends, ", "))
	}
}

// Migrate applies pending schema migrations to the configured store. The
// embedded store applies its schema when opened; ClickHouse needs a user
// allowed to run DDL (the hub's own user is INSERT and SELECT only).
func Migrate(ctx context.Context, cfg *config.Config) error {
	switch cfg.Store.Backend {
	case "sqlite":
		s, err := OpenStore(ctx, cfg, nil)
		if err != nil {
			return err
		}
		return s.Close()
	case "clickhouse":
		c := cfg.Store.ClickHouse
		c.Shard = cfg.Instance
		return clickhouse.Migrate(ctx, c)
	default:
		return fmt.Errorf("store.backend %q unknown; valid: %s", cfg.Store.Backend, strings.Join(config.StoreBackends, ", "))
	}
}
