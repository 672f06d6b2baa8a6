package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
)

// LookupLinks implements mpi.Links.
func (s *Store) LookupLinks(ctx context.Context, hashes []string) (map[string]string, error) {
	out := make(map[string]string, len(hashes))
	const chunk = 500
	for start := 0; start < len(hashes); start += chunk {
		part := hashes[start:min(start+chunk, len(hashes))]
		args := make([]any, len(part))
		for i, h := range part {
			args[i] = h
		}
		rows, err := s.db.QueryContext(ctx,
			`SELECT id_hash, patient_id FROM patient_links WHERE id_hash IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, unavailable("query links", err)
		}
		for rows.Next() {
			var h, p string
			if err := rows.Scan(&h, &p); err != nil {
				rows.Close()
				return nil, unavailable("scan link", err)
			}
			out[h] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, unavailable("read links", err)
		}
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

// PutWrappedIfAbsent implements keys.WrappedStore.
func (s *Store) PutWrappedIfAbsent(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	s.mu.Lock()
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO data_keys (owner, wrapped, created_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		owner, wrapped, s.now().UnixNano())
	s.mu.Unlock()
	if err != nil {
		return nil, unavailable("insert data key", err)
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
	const chunk = 500
	for start := 0; start < len(owners); start += chunk {
		part := owners[start:min(start+chunk, len(owners))]
		args := make([]any, len(part))
		for i, o := range part {
			args[i] = o
		}
		rows, err := s.db.QueryContext(ctx,
			`SELECT owner, wrapped FROM data_keys WHERE owner IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, unavailable("query data keys", err)
		}
		for rows.Next() {
			var o string
			var w []byte
			if err := rows.Scan(&o, &w); err != nil {
				rows.Close()
				return nil, unavailable("scan data key", err)
			}
			out[o] = w
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, unavailable("read data keys", err)
		}
	}
	return out, nil
}

// PutWrappedManyIfAbsent implements keys.BatchWrappedStore in one
// transaction.
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
				`INSERT INTO data_keys (owner, wrapped, created_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				o, wrapped[o], now); err != nil {
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
