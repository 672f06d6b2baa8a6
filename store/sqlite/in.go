package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryIn runs query, whose "IN (%s)" takes the keys, in chunks small enough
// for SQLite's parameter limit, and calls scan for every row. what names the
// read in errors.
func queryIn(ctx context.Context, q querier, query, what string, keys []string, scan func(*sql.Rows) error) error {
	const chunk = 500
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		rows, err := q.QueryContext(ctx, strings.Replace(query, "%s", "?"+strings.Repeat(",?", len(part)-1), 1), args...)
		if err != nil {
			return unavailable("query "+what, err)
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return unavailable("scan "+what, err)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return unavailable("read "+what, err)
		}
	}
	return nil
}
