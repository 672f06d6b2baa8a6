package clickhouse

import (
	"context"
	"encoding/json"
	"time"

	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

const (
	insertRecords = `INSERT INTO records
 (id, idem_key, patient_id, type, source, message_id, labels, codes, clear, fields, received_ns, stored_ns, stored_date)`
	insertConsents = `INSERT INTO consents (idem_key, id, patient_id, directive, version, stored_date)`
)

// Commit implements store.Committer. ClickHouse has no transactions, so a
// batch is written in three inserts, each one block (one part per table,
// all or nothing): the new records, the new consent versions, then the
// audit events (linked into the chain). Keys already stored, or repeated in
// the batch, are skipped (checked under the store's mutex against
// idem_keys; reads deduplicate as well, for two instances racing).
//
// If an insert fails, Commit returns an error and the caller retries the
// whole batch: what the failed call stored is then skipped (records and
// consents) or was settled (audit events; see settle), so a retried batch
// ends with everything stored once. Result counts what this call stored:
// records a failed call did store count as duplicates on the retry.
//
// The context bounds the reads before the first insert; from the first
// insert on, the write runs to its end under Config.WriteTimeout, detached
// from the caller's cancellation, so that a deadline never leaves a batch
// half written.
func (s *Store) Commit(ctx context.Context, b store.Batch) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, unavailable("commit", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.settleDoubt(ctx); err != nil {
		return store.Result{}, err
	}

	recKeys := make([]string, len(b.Records))
	for i, r := range b.Records {
		recKeys[i] = r.Key
	}
	seenRec, err := s.storedKeys(ctx, kindRecord, recKeys)
	if err != nil {
		return store.Result{}, err
	}
	conKeys := make([]string, len(b.Consents))
	for i, c := range b.Consents {
		conKeys[i] = c.Key
	}
	seenCon, err := s.storedKeys(ctx, kindConsent, conKeys)
	if err != nil {
		return store.Result{}, err
	}
	var res store.Result
	var recs []*record.Sealed
	for i := range b.Records {
		r := &b.Records[i]
		if seenRec[r.Key] {
			res.Duplicates++
			continue
		}
		seenRec[r.Key] = true
		recs = append(recs, r)
	}
	var cons []store.ConsentVersion
	for _, c := range b.Consents {
		if !seenCon[c.Key] {
			seenCon[c.Key] = true
			cons = append(cons, c)
		}
	}
	if err := ctx.Err(); err != nil {
		return store.Result{}, unavailable("commit", err)
	}

	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	now := s.now()
	if err := s.insertRecords(wctx, recs, now); err != nil {
		return store.Result{}, unavailable("insert records", err)
	}
	if err := s.insertConsents(wctx, cons, now); err != nil {
		return store.Result{}, unavailable("insert consents", err)
	}
	n, err := s.appendLocked(wctx, b.Events)
	if err != nil {
		return store.Result{}, err
	}
	res.Records = len(recs)
	res.Events = n
	return res, nil
}

func (s *Store) insertRecords(ctx context.Context, recs []*record.Sealed, now time.Time) error {
	if len(recs) == 0 {
		return nil
	}
	bt, err := s.conn.PrepareBatch(ctx, insertRecords)
	if err != nil {
		return err
	}
	defer bt.Abort()
	date := utcDate(now)
	for _, r := range recs {
		codes, err := json.Marshal(r.Codes)
		if err != nil {
			return err
		}
		fields, err := json.Marshal(r.Fields)
		if err != nil {
			return err
		}
		clearJSON := r.Clear
		if clearJSON == nil {
			clearJSON = []byte{}
		}
		if err := bt.Append(r.ID, r.Key, r.PatientID, r.Type, r.Source, r.MessageID, nonNil(r.Labels),
			string(codes), clearJSON, string(fields), r.Received.UnixNano(), now.UnixNano(), date); err != nil {
			return err
		}
	}
	return bt.Send()
}

func (s *Store) insertConsents(ctx context.Context, cs []store.ConsentVersion, now time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	bt, err := s.conn.PrepareBatch(ctx, insertConsents)
	if err != nil {
		return err
	}
	defer bt.Abort()
	date := utcDate(now)
	for _, c := range cs {
		d, err := json.Marshal(c.Directive)
		if err != nil {
			return err
		}
		// Versions are the store's commit order: later in the batch, or in a
		// later batch, is newer.
		if err := bt.Append(c.Key, c.Directive.ID, c.Directive.PatientID, string(d), s.nextVersion(now), date); err != nil {
			return err
		}
	}
	return bt.Send()
}

// PatientRecords implements store.RecordReader: the patient's records,
// oldest first, read from records (sorted by patient, type, time), each
// idempotency key once (LIMIT 1 BY idem_key: two instances racing on one
// redelivered message may both have stored it).
func (s *Store) PatientRecords(ctx context.Context, patientID string, types []string) ([]record.Sealed, error) {
	q := `SELECT id, idem_key, patient_id, type, source, message_id, labels, codes, clear, fields, received_ns
	      FROM records WHERE patient_id = ?`
	args := []any{patientID}
	if len(types) > 0 {
		q += ` AND type IN ?`
		args = append(args, groupSet(types))
	}
	q += ` ORDER BY received_ns, id LIMIT 1 BY idem_key`
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable("query records", err)
	}
	defer rows.Close()
	var out []record.Sealed
	for rows.Next() {
		var r record.Sealed
		var codes, fields string
		var received int64
		if err := rows.Scan(&r.ID, &r.Key, &r.PatientID, &r.Type, &r.Source, &r.MessageID,
			&r.Labels, &codes, &r.Clear, &fields, &received); err != nil {
			return nil, unavailable("scan record", err)
		}
		if err := json.Unmarshal([]byte(codes), &r.Codes); err != nil {
			return nil, unavailable("decode codes", errDecode)
		}
		if err := json.Unmarshal([]byte(fields), &r.Fields); err != nil {
			return nil, unavailable("decode fields", errDecode)
		}
		r.Received = time.Unix(0, received).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read records", err)
	}
	return out, nil
}
