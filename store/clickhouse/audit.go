package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/store"
)

// auditColumns are the columns of audit_chain, audit_events and
// audit_by_actor, in the order rows are appended and scanned.
const auditColumns = `shard, seq, id, time_ns, code, action, outcome, actor_id, actor_roles, actor_org,
 application, purpose, patient_id, record_type, record_ids, disclosed, masked, policy_revision, rules,
 consents, reason, request_id, idem_key, prev_hash, hash`

// Inserts of audit rows. The hub writes audit_chain; the materialized views
// copy each insert into audit_events, audit_by_actor and idem_keys. The
// other two are used only to repair those copies (see settle).
const (
	insertAuditChain   = `INSERT INTO audit_chain (` + auditColumns + `, event_date)`
	insertAuditEvents  = `INSERT INTO audit_events (` + auditColumns + `, event_date)`
	insertAuditByActor = `INSERT INTO audit_by_actor (` + auditColumns + `, event_date)`
	insertIdemKeys     = `INSERT INTO idem_keys (kind, idem_key, stored_date)`
)

// Kinds of idempotency keys in idem_keys.
const (
	kindRecord  = "record"
	kindConsent = "consent"
	kindAudit   = "audit"
)

// chainPage is how many chain positions ReadChain reads per query.
const chainPage = 5000

// doubt is an audit insert whose outcome the store does not know (the
// INSERT failed, and the check of what it left failed too). Until it is
// settled the store appends nothing, so that the chain never forks.
type doubt struct {
	events  []audit.Event // linked, as sent
	head    audit.Head    // the head if they were stored
	date    time.Time     // their event_date
	queryID string        // of the INSERT, to wait for it to end on the server
}

// appendReq is one Append call waiting in the group commit.
type appendReq struct {
	ctx    context.Context
	events []audit.Event
	done   chan error // buffered; answered exactly once
}

var (
	errClosed      = &safeError{msg: "store closed"}
	errOtherWriter = &safeError{msg: "another writer appended to this instance's chain shard (shard names must be unique per instance)"}
)

// Append implements audit.Appender. Concurrent calls are grouped into one
// INSERT (Config.BatchMaxRows, BatchMaxWait); each returns when its group
// is durable, or with an error that wraps audit.ErrUnavailable and
// store.ErrUnavailable. A call whose context ends before its group is
// written is dropped from the group; once written, it succeeds.
func (s *Store) Append(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return auditUnavailable(unavailable("append", err))
	}
	req := &appendReq{ctx: ctx, events: events, done: make(chan error, 1)}
	select {
	case s.appends <- req:
	case <-ctx.Done():
		return auditUnavailable(unavailable("append", ctx.Err()))
	case <-s.done:
		return auditUnavailable(unavailable("append", errClosed))
	}
	select {
	case err := <-req.done:
		return err
	case <-s.done:
		// The group commit answers every request it took before it stops.
		select {
		case err := <-req.done:
			return err
		default:
			return auditUnavailable(unavailable("append", errClosed))
		}
	}
}

// groupCommit writes queued Append calls, a group at a time, until Close.
func (s *Store) groupCommit() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			for {
				select {
				case r := <-s.appends:
					r.done <- auditUnavailable(unavailable("append", errClosed))
				default:
					return
				}
			}
		case r := <-s.appends:
			group, n := []*appendReq{r}, len(r.events)
			var timeout <-chan time.Time
			var timer *time.Timer
			if s.cfg.BatchMaxWait > 0 {
				timer = time.NewTimer(s.cfg.BatchMaxWait)
				timeout = timer.C
			}
		collect:
			for n < s.cfg.BatchMaxRows {
				if timeout == nil {
					select {
					case r := <-s.appends:
						group, n = append(group, r), n+len(r.events)
					default:
						break collect
					}
				} else {
					select {
					case r := <-s.appends:
						group, n = append(group, r), n+len(r.events)
					case <-timeout:
						break collect
					case <-s.stop:
						break collect
					}
				}
			}
			if timer != nil {
				timer.Stop()
			}
			s.flush(group)
		}
	}
}

// flush appends the events of a group in one INSERT and answers each call.
func (s *Store) flush(group []*appendReq) {
	var live []*appendReq
	var all []audit.Event
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- auditUnavailable(unavailable("append", err))
			continue
		}
		live = append(live, r)
		all = append(all, r.events...)
	}
	if len(live) == 0 {
		return
	}
	s.flushes.Add(1)
	ctx, cancel := s.writeContext(context.Background())
	defer cancel()
	s.mu.Lock()
	_, err := s.appendLocked(ctx, all)
	s.mu.Unlock()
	if err != nil {
		err = auditUnavailable(err)
	}
	for _, r := range live {
		r.done <- err
	}
}

// appendLocked links events into this instance's chain and inserts them,
// skipping events whose Key is stored or repeated. It settles an earlier
// insert in doubt first. The caller holds s.mu; ctx bounds the whole write.
// The caller's events are not changed.
func (s *Store) appendLocked(ctx context.Context, events []audit.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	if err := s.settleDoubt(ctx); err != nil {
		return 0, err
	}
	var keys []string
	for _, e := range events {
		if e.Key != "" {
			keys = append(keys, e.Key)
		}
	}
	seen, err := s.storedKeys(ctx, kindAudit, keys)
	if err != nil {
		return 0, err
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
		for _, l := range []*[]string{&e.ActorRoles, &e.RecordIDs, &e.Disclosed, &e.Masked, &e.Rules, &e.Consents} {
			*l = slices.Clone(*l)
		}
		audit.Normalize(&e)
		todo = append(todo, e)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	head := audit.Link(s.cfg.Shard, s.head, todo)
	d := &doubt{events: todo, head: head, date: utcDate(now), queryID: newQueryID()}
	err = s.insertEvents(ch.Context(ctx, ch.WithQueryID(d.queryID)), insertAuditChain, todo, d.date)
	if err == nil {
		s.head = head
		return len(todo), nil
	}
	// The INSERT failed, but the server may have stored it, or part of it.
	// Find out now, with a fresh deadline; if that fails too, hold the
	// store until a later write can find out.
	sctx, cancel := s.writeContext(context.Background())
	defer cancel()
	stored, serr := s.settle(sctx, d)
	switch {
	case serr != nil:
		s.doubt = d
		s.log.Warn("clickhouse: audit insert in doubt; appends wait until it is settled", "shard", s.cfg.Shard, "error", serr)
		return 0, unavailable("insert audit events", err)
	case stored:
		s.head = head
		return len(todo), nil
	default:
		return 0, unavailable("insert audit events", err)
	}
}

// settleDoubt settles the insert in doubt, if any. The caller holds s.mu.
func (s *Store) settleDoubt(ctx context.Context) error {
	if s.doubt == nil {
		return nil
	}
	stored, err := s.settle(ctx, s.doubt)
	if err != nil {
		return unavailable("settle audit insert in doubt", err)
	}
	if stored {
		s.head = s.doubt.head
	}
	s.doubt = nil
	return nil
}

// settle finds out what a failed audit insert left and makes it whole: it
// waits until the INSERT no longer runs on the server, then reads which of
// the events' chain positions are stored. None: it reports false, and the
// head stays where it was. Some or all: it inserts the missing ones (roll
// forward: the chain never keeps a hole the hub made), writes the copies
// of the events again (the views may have missed them; reads deduplicate),
// and reports true.
func (s *Store) settle(ctx context.Context, d *doubt) (bool, error) {
	for {
		running, err := s.queryRunning(ctx, d.queryID)
		if err != nil {
			return false, err
		}
		if !running {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	lo, hi := d.events[0].Seq, d.events[len(d.events)-1].Seq
	rows, err := s.conn.Query(s.consistent(ctx),
		`SELECT seq, hash FROM audit_chain WHERE shard = ? AND seq >= ? AND seq <= ? AND event_date = ?`,
		s.cfg.Shard, lo, hi, dateString(d.date))
	if err != nil {
		return false, err
	}
	present := map[uint64]bool{}
	for rows.Next() {
		var seq uint64
		var hash string
		if err := rows.Scan(&seq, &hash); err != nil {
			rows.Close()
			return false, err
		}
		if hash != d.events[seq-lo].Hash {
			rows.Close()
			return false, errOtherWriter
		}
		present[seq] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(present) == 0 {
		return false, nil
	}
	var missing, landed []audit.Event
	for _, e := range d.events {
		if present[e.Seq] {
			landed = append(landed, e)
		} else {
			missing = append(missing, e)
		}
	}
	if len(missing) > 0 {
		if err := s.insertEvents(ctx, insertAuditChain, missing, d.date); err != nil {
			return false, err
		}
	}
	for _, q := range []string{insertAuditEvents, insertAuditByActor} {
		if err := s.insertEvents(ctx, q, landed, d.date); err != nil {
			return false, err
		}
	}
	var keys []string
	for _, e := range landed {
		if e.Key != "" {
			keys = append(keys, e.Key)
		}
	}
	if err := s.insertKeys(ctx, kindAudit, keys, d.date); err != nil {
		return false, err
	}
	s.log.Info("clickhouse: settled an audit insert that failed", "shard", s.cfg.Shard, "landed", len(landed), "completed", len(missing))
	return true, nil
}

// queryRunning reports whether the query with id still runs on the server
// (an INSERT the client gave up on may still be writing).
func (s *Store) queryRunning(ctx context.Context, id string) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT count() FROM system.processes WHERE query_id = ?`, id).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// consistent marks ctx's queries as needing every quorum-acknowledged
// insert (cluster mode with an insert quorum): the chain head must never
// be read from a replica that lags behind.
func (s *Store) consistent(ctx context.Context) context.Context {
	if s.cfg.Cluster != "" && s.cfg.InsertQuorum > 1 {
		return ch.Context(ctx, ch.WithSettings(ch.Settings{"select_sequential_consistency": 1}))
	}
	return ctx
}

func newQueryID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "hub-" + hex.EncodeToString(b)
}

// insertEvents writes events as one block with one INSERT.
func (s *Store) insertEvents(ctx context.Context, query string, events []audit.Event, date time.Time) error {
	if len(events) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer b.Abort()
	for i := range events {
		e := &events[i]
		if err := b.Append(e.Shard, e.Seq, e.ID, e.Time.UnixNano(), e.Code, e.Action, e.Outcome, e.ActorID,
			nonNil(e.ActorRoles), e.ActorOrg, e.Application, e.Purpose, e.PatientID, e.RecordType,
			nonNil(e.RecordIDs), nonNil(e.Disclosed), nonNil(e.Masked), e.PolicyRevision, nonNil(e.Rules),
			nonNil(e.Consents), e.Reason, e.RequestID, e.Key, e.PrevHash, e.Hash, date); err != nil {
			return err
		}
	}
	return b.Send()
}

// loadHead reads this instance's chain head: the event with the highest
// seq of its shard.
func (s *Store) loadHead(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadHeadLocked(ctx)
}

func (s *Store) loadHeadLocked(ctx context.Context) error {
	ctx = s.consistent(ctx)
	var n, last uint64
	if err := s.conn.QueryRow(ctx, `SELECT count(), max(seq) FROM audit_chain WHERE shard = ?`, s.cfg.Shard).Scan(&n, &last); err != nil {
		return unavailable("read audit head", err)
	}
	if n == 0 {
		s.head = audit.Head{}
		return nil
	}
	var hash string
	if err := s.conn.QueryRow(ctx, `SELECT hash FROM audit_chain WHERE shard = ? AND seq = ? ORDER BY hash LIMIT 1`,
		s.cfg.Shard, last).Scan(&hash); err != nil {
		return unavailable("read audit head", err)
	}
	s.head = audit.Head{Seq: last, Hash: hash}
	return nil
}

// Query implements audit.Querier. With a PatientID it reads audit_events
// (ordered by patient), else with an ActorID audit_by_actor (ordered by
// actor), else audit_events. Copies written twice by a settled insert
// are read once (LIMIT 1 BY shard, seq).
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	table := "audit_events"
	if f.PatientID == "" && f.ActorID != "" {
		table = "audit_by_actor"
	}
	where, args, limit := store.AuditWhere(f)
	q := `SELECT ` + auditColumns + ` FROM ` + table + where
	q += fmt.Sprintf(` ORDER BY id LIMIT 1 BY shard, seq LIMIT %d`, limit)
	var out []audit.Event
	if err := s.scanEvents(ctx, q, args, func(e audit.Event) error { out = append(out, e); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// Shards implements audit.ChainReader.
func (s *Store) Shards(ctx context.Context) ([]string, error) {
	rows, err := s.conn.Query(ctx, `SELECT DISTINCT shard FROM audit_chain ORDER BY shard`)
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
	if err := rows.Err(); err != nil {
		return nil, unavailable("read shards", err)
	}
	return out, nil
}

// ReadChain implements audit.ChainReader. It reads audit_chain, whose
// sort key is (shard, seq), one range of chainPage positions per query:
// each query reads only the granules of its range and sorts at most a page,
// so memory stays flat however long the chain. Events appended after the
// call started are not read.
func (s *Store) ReadChain(ctx context.Context, shard string, fn func(audit.Event) error) error {
	var n, last uint64
	if err := s.conn.QueryRow(ctx, `SELECT count(), max(seq) FROM audit_chain WHERE shard = ?`, shard).Scan(&n, &last); err != nil {
		return unavailable("read chain bounds", err)
	}
	if n == 0 {
		return nil
	}
	const q = `SELECT ` + auditColumns + ` FROM audit_chain
		WHERE shard = ? AND seq >= ? AND seq < ? ORDER BY seq, id, hash`
	for lo := uint64(0); lo <= last; {
		hi := lo + chainPage
		var page []audit.Event
		if err := s.scanEvents(ctx, q, []any{shard, lo, hi}, func(e audit.Event) error { page = append(page, e); return nil }); err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) == 0 && hi <= last {
			// A long run of missing positions: skip to the next stored one.
			var next uint64
			if err := s.conn.QueryRow(ctx, `SELECT min(seq) FROM audit_chain WHERE shard = ? AND seq >= ?`, shard, hi).Scan(&next); err != nil {
				return unavailable("read chain", err)
			}
			hi = max(hi, next)
		}
		lo = hi
	}
	return nil
}

// scanEvents runs an audit query and calls fn for each event.
func (s *Store) scanEvents(ctx context.Context, q string, args []any, fn func(audit.Event) error) error {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return unavailable("query audit", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e audit.Event
		var t int64
		if err := rows.Scan(&e.Shard, &e.Seq, &e.ID, &t, &e.Code, &e.Action, &e.Outcome, &e.ActorID, &e.ActorRoles,
			&e.ActorOrg, &e.Application, &e.Purpose, &e.PatientID, &e.RecordType, &e.RecordIDs, &e.Disclosed, &e.Masked,
			&e.PolicyRevision, &e.Rules, &e.Consents, &e.Reason, &e.RequestID, &e.Key, &e.PrevHash, &e.Hash); err != nil {
			return unavailable("scan audit event", err)
		}
		e.Time = time.Unix(0, t).UTC()
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("read audit", err)
	}
	return nil
}

// storedKeys returns which of keys are stored as idempotency keys of kind
// (within Config.DedupeWindow, when set).
func (s *Store) storedKeys(ctx context.Context, kind string, keys []string) (map[string]bool, error) {
	seen := make(map[string]bool, len(keys))
	keys = uniq(keys)
	const chunk = 1000
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		q := `SELECT DISTINCT idem_key FROM idem_keys WHERE kind = ? AND idem_key IN ?`
		args := []any{kind, groupSet(part)}
		if s.cfg.DedupeWindow > 0 {
			q += ` AND stored_date >= ?`
			args = append(args, dateString(s.now().Add(-s.cfg.DedupeWindow-24*time.Hour)))
		}
		rows, err := s.conn.Query(ctx, q, args...)
		if err != nil {
			return nil, unavailable("query idempotency keys", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, unavailable("scan idempotency key", err)
			}
			seen[k] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, unavailable("read idempotency keys", err)
		}
	}
	return seen, nil
}

// insertKeys writes idempotency keys directly (the views write them in
// the normal course; this repairs what a failed insert may have missed).
func (s *Store) insertKeys(ctx context.Context, kind string, keys []string, date time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, insertIdemKeys)
	if err != nil {
		return err
	}
	defer b.Abort()
	for _, k := range keys {
		if err := b.Append(kind, k, date); err != nil {
			return err
		}
	}
	return b.Send()
}

func groupSet(l []string) ch.GroupSet {
	v := make([]any, len(l))
	for i, s := range l {
		v[i] = s
	}
	return ch.GroupSet{Value: v}
}

func uniq(l []string) []string {
	out := slices.Clone(l)
	slices.Sort(out)
	return slices.Compact(out)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
