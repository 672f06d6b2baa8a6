package clickhouse

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The schema is a series of numbered migrations, migrations/NNNN_name.sql,
// each a text/template of ClickHouse DDL that renders for one server or for
// a cluster (see schema). bootstrap.sql, applied before them every time,
// creates the database and the schema_migrations table that records which
// versions were applied.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version uint64
	name    string // file name
	text    string // the template
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseUint(m[1], 10, 64)
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1].version == v {
			return nil, fmt.Errorf("clickhouse: two migrations numbered %d", v)
		}
		out = append(out, migration{version: v, name: e.Name(), text: string(b)})
	}
	return out, nil
}

func bootstrap() (string, error) {
	b, err := migrationFiles.ReadFile("migrations/bootstrap.sql")
	return string(b), err
}

// schema renders migrations for one database, on one server or on a
// cluster.
//
// On one server (cluster ""), a table x is a MergeTree-family table x.
//
// On a cluster, every statement runs ON CLUSTER; a table x becomes a
// Replicated table x_local on every node, stored under the ZooKeeper path
// /clickhouse/tables/{shard}/<db>/x_local with replica name {replica} (both
// macros from each node's config), and a Distributed table x over the
// x_local tables, sharded by the key the migration names. The hub reads and
// writes x either way. Materialized views connect the x_local tables on
// each node, so a view fires on the node (shard) that received the rows.
type schema struct {
	db      string
	cluster string
}

// render executes a migration template and splits it into statements.
func (sc schema) render(name, text string) ([]string, error) {
	local := func(table string) string {
		if sc.cluster != "" {
			return table + "_local"
		}
		return table
	}
	funcs := template.FuncMap{
		"table":    func(name string) string { return sc.db + "." + local(name) },
		"view":     func(name string) string { return sc.db + "." + name },
		"database": func() string { return sc.db },
		"onCluster": func() string {
			if sc.cluster == "" {
				return ""
			}
			return "ON CLUSTER " + sc.cluster
		},
		"engine": func(table, engine string) (string, error) {
			if sc.cluster == "" {
				return engine, nil
			}
			open := strings.IndexByte(engine, '(')
			if open < 0 || !strings.HasSuffix(engine, ")") || !strings.HasSuffix(engine[:open], "MergeTree") {
				return "", fmt.Errorf("engine %q of %s is not a MergeTree-family engine", engine, table)
			}
			args := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", sc.db, local(table))
			if inner := strings.TrimSpace(engine[open+1 : len(engine)-1]); inner != "" {
				args += ", " + inner
			}
			return "Replicated" + engine[:open] + "(" + args + ")", nil
		},
		"distributed": func(table, shardingKey string) string {
			if sc.cluster == "" {
				return ""
			}
			return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s ON CLUSTER %s AS %s.%s\nENGINE = Distributed(%s, %s, %s, %s);",
				sc.db, table, sc.cluster, sc.db, local(table), sc.cluster, sc.db, local(table), shardingKey)
		},
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: migration %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("clickhouse: migration %s: %w", name, err)
	}
	return splitStatements(b.String()), nil
}

// splitStatements drops comment lines and splits SQL text on the
// semicolons that end statements. Migrations keep semicolons out of
// string literals.
func splitStatements(sql string) []string {
	var lines []string
	for l := range strings.SplitSeq(sql, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if strings.HasPrefix(strings.TrimSpace(l), "--") || strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, l)
	}
	var out []string
	for s := range strings.SplitSeq(strings.Join(lines, "\n"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Statements returns the DDL of the whole schema for cfg's database and
// cluster, bootstrap first, as Migrate would run it on an empty database:
// for review by a DBA, or to apply by hand.
func Statements(cfg Config) ([]string, error) {
	sc := schema{db: cfg.Database, cluster: cfg.Cluster}
	if cfg.Database == "" {
		sc.db = "carecrest"
	}
	boot, err := bootstrap()
	if err != nil {
		return nil, err
	}
	out, err := sc.render("bootstrap.sql", boot)
	if err != nil {
		return nil, err
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		stmts, err := sc.render(m.name, m.text)
		if err != nil {
			return nil, err
		}
		out = append(out, stmts...)
	}
	return out, nil
}

// Migrate applies the pending migrations to cfg's database, creating the
// database first. It connects as cfg's user, who must be allowed to run
// DDL (an administrator, not the hub's INSERT-and-SELECT user).
//
// It is idempotent and safe to run from several processes at once: every
// statement is CREATE ... IF NOT EXISTS (a concurrent creator's "already
// exists" is success), and a version is recorded only after all its
// statements succeeded, so an interrupted migration is applied again in
// full by the next run. Two runs may both record a version; readers take
// the set of versions.
func Migrate(ctx context.Context, cfg Config) error {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := connect(cfg, "")
	if err != nil {
		return err
	}
	defer conn.Close()
	return migrate(ctx, conn, schema{db: cfg.Database, cluster: cfg.Cluster})
}

// Migrate applies pending migrations through the store's connection (see
// the package-level Migrate), then reloads the chain head.
func (s *Store) Migrate(ctx context.Context) error {
	if err := migrate(ctx, s.conn, s.schema); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadHeadLocked(ctx)
}

func migrate(ctx context.Context, conn driver.Conn, sc schema) error {
	boot, err := bootstrap()
	if err != nil {
		return err
	}
	stmts, err := sc.render("bootstrap.sql", boot)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if err := execDDL(ctx, conn, q); err != nil {
			return unavailable("migrate: bootstrap", err)
		}
	}
	applied, err := appliedVersions(ctx, conn, sc.db)
	if err != nil {
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if slices.Contains(applied, m.version) {
			continue
		}
		stmts, err := sc.render(m.name, m.text)
		if err != nil {
			return err
		}
		for i, q := range stmts {
			if err := execDDL(ctx, conn, q); err != nil {
				return unavailable(fmt.Sprintf("migrate: %s statement %d", m.name, i+1), err)
			}
		}
		if err := recordMigration(ctx, conn, sc.db, m); err != nil {
			return unavailable("migrate: record "+m.name, err)
		}
	}
	return nil
}

const insertMigration = `INSERT INTO %s.schema_migrations (version, name, applied_ns, applied_date)`

// recordMigration records m as applied. (Every INSERT goes through a
// batch: ClickHouse 18.16 does not answer an INSERT ... VALUES sent as a
// plain query over the native protocol.)
func recordMigration(ctx context.Context, conn driver.Conn, db string, m migration) error {
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf(insertMigration, db))
	if err != nil {
		return err
	}
	defer b.Abort()
	now := time.Now().UTC()
	if err := b.Append(m.version, m.name, now.UnixNano(), utcDate(now)); err != nil {
		return err
	}
	return b.Send()
}

// execDDL runs one DDL statement; a concurrent migrator having created the
// object first is success.
func execDDL(ctx context.Context, conn driver.Conn, q string) error {
	err := conn.Exec(ctx, q)
	if isException(err, 57, 82) { // TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS
		return nil
	}
	return err
}

func appliedVersions(ctx context.Context, conn driver.Conn, db string) ([]uint64, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT DISTINCT version FROM %s.schema_migrations ORDER BY version`, db))
	if err != nil {
		return nil, unavailable("read schema version", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var v uint64
		if err := rows.Scan(&v); err != nil {
			return nil, unavailable("read schema version", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read schema version", err)
	}
	return out, nil
}

// checkSchema fails unless every embedded migration is applied: a hub must
// not write to a schema older (or other) than the one it was built for.
func (s *Store) checkSchema(ctx context.Context) error {
	applied, err := appliedVersions(ctx, s.conn, s.schema.db)
	if err != nil {
		if isException(err, 60, 81) { // UNKNOWN_TABLE, UNKNOWN_DATABASE
			return fmt.Errorf("%w: run Migrate as an administrator, or set migrate: true (%w)", ErrSchema, err)
		}
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !slices.Contains(applied, m.version) {
			return fmt.Errorf("%w: migration %s not applied: run Migrate as an administrator (or set migrate: true)", ErrSchema, m.name)
		}
	}
	return nil
}
