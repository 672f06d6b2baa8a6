package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/store"
)

const auditColumns = `shard, seq, id, time_ns, code, action, outcome, actor_id, actor_roles, actor_org,
 application, purpose, patient_id, record_type, record_ids, disclosed, masked, policy_revision, rules,
 consents, reason, request_id, idem_key, prev_hash, hash`

const insertAuditEvent = `INSERT INTO audit_events (` + auditColumns + `)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Append implements audit.Appender: one durable transaction per call.
func (s *Store) Append(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: begin: %v", audit.ErrUnavailable, err)
	}
	defer tx.Rollback()
	head, _, err := s.appendTx(ctx, tx, events)
	if err != nil {
		return fmt.Errorf("%w: %v", audit.ErrUnavailable, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %v", audit.ErrUnavailable, err)
	}
	s.head = head
	return nil
}

// appendTx links events into the chain after s.head and inserts them in tx,
// skipping events whose Key is already stored (or repeated in the batch).
// The caller holds s.mu and sets s.head to the returned head only after the
// transaction commits. It copies events; the caller's slice is not changed.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, events []audit.Event) (audit.Head, int, error) {
	if len(events) == 0 {
		return s.head, 0, nil
	}
	seen, err := existingKeys(ctx, tx, events)
	if err != nil {
		return s.head, 0, err
	}
	now := s.now()
	todo := make([]audit.Event, 0, len(events))
	for _, e := range events {
		if e.Key != "" {
			if seen[e.Key] {
				continue
			}
			seen[e.Key] = true
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		if e.ID == "" {
			e.ID = audit.NewID(e.Time)
		}
		e.ActorRoles = append([]string(nil), e.ActorRoles...)
		e.RecordIDs = append([]string(nil), e.RecordIDs...)
		e.Disclosed = append([]string(nil), e.Disclosed...)
		e.Masked = append([]string(nil), e.Masked...)
		e.Rules = append([]string(nil), e.Rules...)
		e.Consents = append([]string(nil), e.Consents...)
		audit.Normalize(&e)
		todo = append(todo, e)
	}
	head := audit.Link(s.shard, s.head, todo)
	stmt, err := tx.PrepareContext(ctx, insertAuditEvent)
	if err != nil {
		return s.head, 0, unavailable("prepare audit insert", err)
	}
	defer stmt.Close()
	for i := range todo {
		e := &todo[i]
		if _, err := stmt.ExecContext(ctx, e.Shard, e.Seq, e.ID, e.Time.UnixNano(), e.Code, e.Action, e.Outcome,
			e.ActorID, list(e.ActorRoles), e.ActorOrg, e.Application, e.Purpose, e.PatientID, e.RecordType,
			list(e.RecordIDs), list(e.Disclosed), list(e.Masked), e.PolicyRevision, list(e.Rules),
			list(e.Consents), e.Reason, e.RequestID, e.Key, e.PrevHash, e.Hash); err != nil {
			return s.head, 0, unavailable("insert audit event", err)
		}
	}
	return head, len(todo), nil
}

func existingKeys(ctx context.Context, tx *sql.Tx, events []audit.Event) (map[string]bool, error) {
	var keys []string
	for _, e := range events {
		if e.Key != "" {
			keys = append(keys, e.Key)
		}
	}
	seen := make(map[string]bool)
	err := queryIn(ctx, tx, `SELECT idem_key FROM audit_events WHERE idem_key IN (%s)`, "audit keys", keys,
		func(rows *sql.Rows) error {
			var k string
			err := rows.Scan(&k)
			seen[k] = true
			return err
		})
	if err != nil {
		return nil, err
	}
	return seen, nil
}

// Query implements audit.Querier.
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	where, args, limit := store.AuditWhere(f)
	q := `SELECT ` + auditColumns + ` FROM audit_events` + where
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	return s.scanEvents(ctx, q, args...)
}

// Shards implements audit.ChainReader.
func (s *Store) Shards(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT shard FROM audit_events ORDER BY shard`)
	if err != nil {
		return nil, unavailable("query shards", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sh string
		if err := rows.Scan(&sh); err != nil {
			return nil, unavailable("scan shard", err)
		}
		out = append(out, sh)
	}
	return out, rows.Err()
}

// ReadChain implements audit.ChainReader, in pages so memory stays flat.
func (s *Store) ReadChain(ctx context.Context, shard string, fn func(audit.Event) error) error {
	var after int64 = -1
	for {
		evs, err := s.scanEvents(ctx, `SELECT `+auditColumns+` FROM audit_events
			WHERE shard = ? AND seq > ? ORDER BY seq LIMIT 5000`, shard, after)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
			after = int64(e.Seq)
		}
		if len(evs) < 5000 {
			return nil
		}
	}
}

func (s *Store) scanEvents(ctx context.Context, q string, args ...any) ([]audit.Event, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, unavailable("query audit", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		var t int64
		var roles, ids, disclosed, masked, rules, consents string
		if err := rows.Scan(&e.Shard, &e.Seq, &e.ID, &t, &e.Code, &e.Action, &e.Outcome, &e.ActorID, &roles,
			&e.ActorOrg, &e.Application, &e.Purpose, &e.PatientID, &e.RecordType, &ids, &disclosed, &masked,
			&e.PolicyRevision, &rules, &consents, &e.Reason, &e.RequestID, &e.Key, &e.PrevHash, &e.Hash); err != nil {
			return nil, unavailable("scan audit event", err)
		}
		e.Time = time.Unix(0, t).UTC()
		for _, p := range []struct {
			raw string
			dst *[]string
		}{{roles, &e.ActorRoles}, {ids, &e.RecordIDs}, {disclosed, &e.Disclosed}, {masked, &e.Masked}, {rules, &e.Rules}, {consents, &e.Consents}} {
			if err := json.Unmarshal([]byte(p.raw), p.dst); err != nil {
				return nil, unavailable("decode audit list", err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read audit", err)
	}
	return out, nil
}

// list encodes a string list as a JSON array ("[]" for none), so that the
// stored form reads back to exactly what was hashed.
func list(l []string) string {
	b, _ := json.Marshal(nonNil(l))
	return string(b)
}
