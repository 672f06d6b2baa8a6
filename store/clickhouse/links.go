package clickhouse

import (
	"context"
	"sort"
)

const insertLinks = `INSERT INTO patient_links (id_hash, patient_id, linked_ns, linked_date)`

// lookupChunk is how many keys one IN (...) query names.
const lookupChunk = 1000

// LookupLinks implements mpi.Links. A hash linked more than once (two
// instances racing) reads as its first link: the least (linked_ns,
// patient_id).
func (s *Store) LookupLinks(ctx context.Context, hashes []string) (map[string]string, error) {
	out := make(map[string]string, len(hashes))
	hashes = uniq(hashes)
	for start := 0; start < len(hashes); start += lookupChunk {
		part := hashes[start:min(start+lookupChunk, len(hashes))]
		rows, err := s.conn.Query(ctx, `SELECT id_hash, argMin(patient_id, (linked_ns, patient_id))
			FROM patient_links WHERE id_hash IN ? GROUP BY id_hash`, groupSet(part))
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

// PutLinks implements mpi.Links: under the store's mutex it reads which
// hashes are linked and inserts the others in one block. Within one
// instance the first link wins exactly. Two instances linking one hash at
// the same moment may both insert; readers then agree on the least
// (linked_ns, patient_id), but an instance that read its own link before
// the other's insert landed may have used it meanwhile (see the package
// doc: ClickHouse offers no compare-and-set).
func (s *Store) PutLinks(ctx context.Context, links map[string]string) error {
	if len(links) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return unavailable("put links", err)
	}
	hashes := make([]string, 0, len(links))
	for h := range links {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	s.mu.Lock()
	defer s.mu.Unlock()
	have, err := s.LookupLinks(ctx, hashes)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return unavailable("put links", err)
	}
	var todo []string
	for _, h := range hashes {
		if _, ok := have[h]; !ok {
			todo = append(todo, h)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	now := s.now()
	b, err := s.conn.PrepareBatch(wctx, insertLinks)
	if err != nil {
		return unavailable("insert links", err)
	}
	defer b.Abort()
	for _, h := range todo {
		if err := b.Append(h, links[h], now.UnixNano(), utcDate(now)); err != nil {
			return unavailable("insert links", err)
		}
	}
	if err := b.Send(); err != nil {
		return unavailable("insert links", err)
	}
	return nil
}
