package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store"
)

const insertRecord = `INSERT INTO records
 (id, idem_key, patient_id, type, source, message_id, labels, codes, clear, fields, received_ns, stored_ns)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT DO NOTHING`

func insertRecords(ctx context.Context, tx *sql.Tx, b store.Batch, now int64, res *store.Result) error {
	if len(b.Records) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, insertRecord)
	if err != nil {
		return unavailable("prepare record insert", err)
	}
	defer stmt.Close()
	for i := range b.Records {
		r := &b.Records[i]
		labels, _ := json.Marshal(nonNil(r.Labels))
		codes, _ := json.Marshal(r.Codes)
		fields, err := json.Marshal(r.Fields)
		if err != nil {
			return unavailable("encode fields", err)
		}
		clearJSON := r.Clear
		if clearJSON == nil {
			clearJSON = []byte{} // a nil []byte binds as NULL; a record may have no clear elements
		}
		out, err := stmt.ExecContext(ctx, r.ID, r.Key, r.PatientID, r.Type, r.Source, r.MessageID,
			string(labels), string(codes), clearJSON, fields, r.Received.UnixNano(), now)
		if err != nil {
			return unavailable("insert record", err)
		}
		if n, _ := out.RowsAffected(); n == 1 {
			res.Records++
		} else {
			res.Duplicates++
		}
	}
	return nil
}

// PatientRecords implements store.RecordReader.
func (s *Store) PatientRecords(ctx context.Context, patientID string, types []string) ([]record.Sealed, error) {
	q := `SELECT id, idem_key, patient_id, type, source, message_id, labels, codes, clear, fields, received_ns
	      FROM records WHERE patient_id = ?`
	args := []any{patientID}
	if len(types) > 0 {
		q += ` AND type IN (?` + strings.Repeat(",?", len(types)-1) + `)`
		for _, t := range types {
			args = append(args, t)
		}
	}
	q += ` ORDER BY received_ns, id`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, unavailable("query records", err)
	}
	defer rows.Close()
	var out []record.Sealed
	for rows.Next() {
		var r record.Sealed
		var labels, codes string
		var fields []byte
		var received int64
		if err := rows.Scan(&r.ID, &r.Key, &r.PatientID, &r.Type, &r.Source, &r.MessageID,
			&labels, &codes, &r.Clear, &fields, &received); err != nil {
			return nil, unavailable("scan record", err)
		}
		if err := json.Unmarshal([]byte(labels), &r.Labels); err != nil {
			return nil, unavailable("decode labels", err)
		}
		if err := json.Unmarshal([]byte(codes), &r.Codes); err != nil {
			return nil, unavailable("decode codes", err)
		}
		if err := json.Unmarshal(fields, &r.Fields); err != nil {
			return nil, unavailable("decode fields", err)
		}
		r.Received = time.Unix(0, received).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read records", err)
	}
	return out, nil
}

// CountRecords returns how many records are stored (for tests and operators).
func (s *Store) CountRecords(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM records`).Scan(&n)
	return n, err
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
