package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/carecrest/hub/keys"
)

const insertDataKey = `INSERT INTO data_keys (owner, op, wrapped, version, op_date)`

// Operations of the data_keys log.
const (
	opPut     = "put"     // PutWrappedIfAbsent: the first put of an owner wins
	opReplace = "replace" // ReplaceWrapped: the latest replace wins over the put
	opDestroy = "destroy" // DestroyWrapped: wins over everything, for ever
)

// keyState is an owner's data key as the data_keys log resolves it.
type keyState struct {
	wrapped   []byte
	destroyed bool
}

// selectKeyStates resolves owners' logs in one pass; the tuples break ties
// between equal versions (two instances) the same way on every read.
const selectKeyStates = `SELECT owner,
	countIf(op = 'destroy'),
	countIf(op = 'replace'),
	argMaxIf(wrapped, (version, wrapped), op = 'replace'),
	argMinIf(wrapped, (version, wrapped), op = 'put')
	FROM data_keys`

// keyStates returns the resolved state of each owner that has rows.
func (s *Store) keyStates(ctx context.Context, owners []string) (map[string]keyState, error) {
	out := make(map[string]keyState, len(owners))
	owners = uniq(owners)
	for start := 0; start < len(owners); start += lookupChunk {
		part := owners[start:min(start+lookupChunk, len(owners))]
		if err := s.scanKeyStates(ctx, selectKeyStates+` WHERE owner IN ? GROUP BY owner`, []any{groupSet(part)},
			func(owner string, st keyState) error { out[owner] = st; return nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) scanKeyStates(ctx context.Context, q string, args []any, fn func(string, keyState) error) error {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return unavailable("query data keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner string
		var destroyed, replaced uint64
		var latest, first []byte
		if err := rows.Scan(&owner, &destroyed, &replaced, &latest, &first); err != nil {
			return unavailable("scan data key", err)
		}
		st := keyState{wrapped: first, destroyed: destroyed > 0}
		if replaced > 0 {
			st.wrapped = latest
		}
		if st.destroyed {
			st.wrapped = nil
		}
		if err := fn(owner, st); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("read data keys", err)
	}
	return nil
}

// GetWrapped implements keys.WrappedStore. A destroyed owner reads as
// absent.
func (s *Store) GetWrapped(ctx context.Context, owner string) ([]byte, bool, error) {
	st, err := s.keyStates(ctx, []string{owner})
	if err != nil {
		return nil, false, err
	}
	k, ok := st[owner]
	if !ok || k.destroyed {
		return nil, false, nil
	}
	return k.wrapped, true, nil
}

// GetWrappedMany implements keys.BatchWrappedStore.
func (s *Store) GetWrappedMany(ctx context.Context, owners []string) (map[string][]byte, error) {
	st, err := s.keyStates(ctx, owners)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(st))
	for o, k := range st {
		if !k.destroyed {
			out[o] = k.wrapped
		}
	}
	return out, nil
}

// PutWrappedIfAbsent implements keys.WrappedStore: it returns the stored
// key, or keys.ErrDestroyed for a destroyed owner. Within one instance the
// first key put wins exactly; two instances putting one owner's key at the
// same moment may both insert, and readers then agree on the put with the
// least version, but an instance may have returned its own key before the
// other's insert landed (see the package doc).
func (s *Store) PutWrappedIfAbsent(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	stored, err := s.PutWrappedManyIfAbsent(ctx, map[string][]byte{owner: wrapped})
	if err != nil {
		return nil, err
	}
	w, ok := stored[owner]
	if !ok {
		return nil, keys.ErrDestroyed
	}
	return w, nil
}

// PutWrappedManyIfAbsent implements keys.BatchWrappedStore: the puts of
// every absent owner are one insert. Destroyed owners get no key and are
// left out of the answer (as store/sqlite does; phi rejects their data).
func (s *Store) PutWrappedManyIfAbsent(ctx context.Context, wrapped map[string][]byte) (map[string][]byte, error) {
	if len(wrapped) == 0 {
		return map[string][]byte{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, unavailable("put data keys", err)
	}
	owners := make([]string, 0, len(wrapped))
	for o := range wrapped {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	s.mu.Lock()
	err := func() error {
		st, err := s.keyStates(ctx, owners)
		if err != nil {
			return err
		}
		var todo []string
		for _, o := range owners {
			if _, ok := st[o]; !ok {
				todo = append(todo, o)
			}
		}
		if err := ctx.Err(); err != nil {
			return unavailable("put data keys", err)
		}
		return s.writeKeyOps(ctx, opPut, todo, wrapped)
	}()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	st, err := s.keyStates(ctx, owners)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(owners))
	for _, o := range owners {
		k, ok := st[o]
		switch {
		case !ok:
			return nil, unavailable("read data keys", errors.New("key not found after insert"))
		case !k.destroyed:
			out[o] = k.wrapped
		}
	}
	return out, nil
}

// writeKeyOps inserts one op row per owner, in one block. The caller
// holds s.mu.
func (s *Store) writeKeyOps(ctx context.Context, op string, owners []string, wrapped map[string][]byte) error {
	if len(owners) == 0 {
		return nil
	}
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	now := s.now()
	b, err := s.conn.PrepareBatch(wctx, insertDataKey)
	if err != nil {
		return unavailable("insert data keys", err)
	}
	defer b.Abort()
	for _, o := range owners {
		w := wrapped[o]
		if w == nil {
			w = []byte{}
		}
		if err := b.Append(o, op, w, s.nextVersion(now), utcDate(now)); err != nil {
			return unavailable("insert data keys", err)
		}
	}
	if err := b.Send(); err != nil {
		return unavailable("insert data keys", err)
	}
	return nil
}

// RangeWrapped implements keys.MaintainedStore: fn is called for every
// owner with a key (destroyed owners excluded), in owner order, while the
// result streams; fn may call the store.
func (s *Store) RangeWrapped(ctx context.Context, fn func(owner string, wrapped []byte) error) error {
	return s.scanKeyStates(ctx, selectKeyStates+` GROUP BY owner ORDER BY owner`, nil, func(o string, k keyState) error {
		if k.destroyed {
			return nil
		}
		return fn(o, k.wrapped)
	})
}

// ReplaceWrapped implements keys.MaintainedStore: wrapped (the same data
// key re-wrapped) becomes the owner's key. A destroyed owner's key is not
// brought back (keys.ErrDestroyed); an owner without a key is an error
// (keys.ErrInvalid): replacing never creates a key.
func (s *Store) ReplaceWrapped(ctx context.Context, owner string, wrapped []byte) error {
	if err := ctx.Err(); err != nil {
		return unavailable("replace data key", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.keyStates(ctx, []string{owner})
	if err != nil {
		return err
	}
	k, ok := st[owner]
	switch {
	case ok && k.destroyed:
		return keys.ErrDestroyed
	case !ok:
		return fmt.Errorf("%w: no data key stored to replace", keys.ErrInvalid)
	}
	return s.writeKeyOps(ctx, opReplace, []string{owner}, map[string][]byte{owner: wrapped})
}

// DestroyWrapped implements keys.MaintainedStore: a tombstone row makes
// the owner absent for ever. The wrapped key rows stay on disk until an
// administrator runs PurgeDestroyed (the hub's user may not delete);
// crypto-shredding is complete only then, and once backups holding them
// have expired.
func (s *Store) DestroyWrapped(ctx context.Context, owner string) error {
	if err := ctx.Err(); err != nil {
		return unavailable("destroy data key", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeKeyOps(ctx, opDestroy, []string{owner}, nil)
}

// PurgeDestroyed physically deletes the wrapped keys of destroyed owners,
// keeping their tombstones, and waits until ClickHouse has rewritten the
// parts. It needs a user allowed to ALTER ... DELETE (an administrator; see
// grants.sql), not the hub's.
func (s *Store) PurgeDestroyed(ctx context.Context) error {
	table := "data_keys"
	on := ""
	if s.cfg.Cluster != "" {
		// Tombstones are sharded by owner like the keys, so each node's
		// local subquery sees the tombstones of its own keys.
		table, on = "data_keys_local", " ON CLUSTER "+s.cfg.Cluster
	}
	q := fmt.Sprintf(`ALTER TABLE %s.%s%s DELETE WHERE op != 'destroy' AND owner IN (SELECT owner FROM %s.%s WHERE op = 'destroy')`,
		s.cfg.Database, table, on, s.cfg.Database, table)
	if err := s.conn.Exec(ctx, q); err != nil {
		return unavailable("purge destroyed keys", err)
	}
	if err := waitMutations(ctx, s, table); err != nil {
		return unavailable("purge destroyed keys", err)
	}
	return nil
}

// waitMutations waits until the mutations of table (on the server the
// store is connected to) are done: ClickHouse runs ALTER ... UPDATE and
// DELETE in the background.
func waitMutations(ctx context.Context, s *Store, table string) error {
	for {
		var pending uint64
		if err := s.conn.QueryRow(ctx, `SELECT count() FROM system.mutations WHERE database = ? AND table = ? AND is_done = 0`,
			s.cfg.Database, table).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
