package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/carecrest/hub/keys"
)

// LookupLinks implements mpi.Links.
func (s *Store) LookupLinks(ctx context.Context, hashes []string) (map[string]string, error) {
	out := make(map[string]string, len(hashes))
	err := queryIn(ctx, s.db, `SELECT id_hash, patient_id FROM patient_links WHERE id_hash IN (%s)`, "links", hashes,
		func(rows *sql.Rows) error {
			var h, p string
			err := rows.Scan(&h, &p)
			out[h] = p
			return err
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutLinks implements mpi.Links: the first link of a hash wins.
func (s *Store) PutLinks(ctx context.Context, links map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	defer tx.Rollback()
	hashes := make([]string, 0, len(links))
	for h := range links {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	now := s.now().UnixNano()
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO patient_links (id_hash, patient_id, linked_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			h, links[h], now); err != nil {
			return unavailable("insert link", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// GetWrapped implements keys.WrappedStore.
func (s *Store) GetWrapped(ctx context.Context, owner string) ([]byte, bool, error) {
	var w []byte
	err := s.db.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE owner = ?`, owner).Scan(&w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable("read data key", err)
	}
	return w, true, nil
}

// PutWrappedIfAbsent implements keys.WrappedStore. A destroyed owner gets
// keys.ErrDestroyed.
func (s *Store) PutWrappedIfAbsent(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	s.mu.Lock()
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO data_keys (owner, wrapped, created_ns)
		 SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM destroyed_keys WHERE owner = ?)
		 ON CONFLICT DO NOTHING`,
		owner, wrapped, s.now().UnixNano(), owner)
	s.mu.Unlock()
	if err != nil {
		return nil, unavailable("insert data key", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if destroyed, err := s.destroyed(ctx, owner); err != nil {
			return nil, err
		} else if destroyed {
			return nil, keys.ErrDestroyed
		}
	}
	w, ok, err := s.GetWrapped(ctx, owner)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unavailable("read data key", errors.New("key vanished after insert"))
	}
	return w, nil
}

// GetWrappedMany implements keys.BatchWrappedStore.
func (s *Store) GetWrappedMany(ctx context.Context, owners []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(owners))
	err := queryIn(ctx, s.db, `SELECT owner, wrapped FROM data_keys WHERE owner IN (%s)`, "data keys", owners,
		func(rows *sql.Rows) error {
			var o string
			var w []byte
			err := rows.Scan(&o, &w)
			out[o] = w
			return err
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutWrappedManyIfAbsent implements keys.BatchWrappedStore in one
// transaction. Destroyed owners are left out of the answer (and get no key).
func (s *Store) PutWrappedManyIfAbsent(ctx context.Context, wrapped map[string][]byte) (map[string][]byte, error) {
	owners := make([]string, 0, len(wrapped))
	for o := range wrapped {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	s.mu.Lock()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return unavailable("begin", err)
		}
		defer tx.Rollback()
		now := s.now().UnixNano()
		for _, o := range owners {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO data_keys (owner, wrapped, created_ns)
				 SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM destroyed_keys WHERE owner = ?)
				 ON CONFLICT DO NOTHING`,
				o, wrapped[o], now, o); err != nil {
				return unavailable("insert data key", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return unavailable("commit", err)
		}
		return nil
	}()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.GetWrappedMany(ctx, owners)
}

func (s *Store) destroyed(ctx context.Context, owner string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM destroyed_keys WHERE owner = ?`, owner).Scan(&n); err != nil {
		return false, unavailable("read destroyed keys", err)
	}
	return n > 0, nil
}

// RangeWrapped implements keys.MaintainedStore.
func (s *Store) RangeWrapped(ctx context.Context, fn func(owner string, wrapped []byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT owner, wrapped FROM data_keys ORDER BY owner`)
	if err != nil {
		return unavailable("query data keys", err)
	}
	type kv struct {
		owner   string
		wrapped []byte
	}
	var all []kv
	for rows.Next() {
		var e kv
		if err := rows.Scan(&e.owner, &e.wrapped); err != nil {
			rows.Close()
			return unavailable("scan data key", err)
		}
		all = append(all, e)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return unavailable("read data keys", err)
	}
	for _, e := range all { // after closing the cursor: fn may write
		if err := fn(e.owner, e.wrapped); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceWrapped implements keys.MaintainedStore.
func (s *Store) ReplaceWrapped(ctx context.Context, owner string, wrapped []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE data_keys SET wrapped = ? WHERE owner = ?`, wrapped, owner)
	if err != nil {
		return unavailable("replace data key", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("sqlite: replace data key: %w", keys.ErrInvalid)
	}
	return nil
}

// DestroyWrapped implements keys.MaintainedStore: the wrapped key is deleted
// and the owner marked destroyed, in one transaction.
func (s *Store) DestroyWrapped(ctx context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM data_keys WHERE owner = ?`, owner); err != nil {
		return unavailable("delete data key", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO destroyed_keys (owner, destroyed_ns) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		owner, s.now().UnixNano()); err != nil {
		return unavailable("mark data key destroyed", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	return nil
}
