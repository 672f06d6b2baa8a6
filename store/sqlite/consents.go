package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/store"
)

func insertConsents(ctx context.Context, tx *sql.Tx, cs []store.ConsentVersion, now int64) error {
	for _, c := range cs {
		d, err := json.Marshal(c.Directive)
		if err != nil {
			return unavailable("encode consent", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO consents (idem_key, id, patient_id, directive, recorded_ns) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.Key, c.Directive.ID, c.Directive.PatientID, string(d), now); err != nil {
			return unavailable("insert consent", err)
		}
	}
	return nil
}

// Consents implements store.ConsentReader: the latest stored version of each
// directive of the patient.
func (s *Store) Consents(ctx context.Context, patientID string) ([]consent.Directive, error) {
	return s.directives(ctx, `
		SELECT c.directive FROM consents c
		JOIN (SELECT id, max(seq) AS seq FROM consents WHERE patient_id = ? GROUP BY id) l
		  ON c.seq = l.seq
		ORDER BY c.seq`, patientID)
}

// ConsentHistory returns every stored version of every directive of the
// patient, oldest first (the order the store committed them in).
func (s *Store) ConsentHistory(ctx context.Context, patientID string) ([]consent.Directive, error) {
	return s.directives(ctx, `SELECT directive FROM consents WHERE patient_id = ? ORDER BY seq`, patientID)
}

func (s *Store) directives(ctx context.Context, q string, args ...any) ([]consent.Directive, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, unavailable("query consents", err)
	}
	defer rows.Close()
	var out []consent.Directive
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, unavailable("scan consent", err)
		}
		var d consent.Directive
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return nil, unavailable("decode consent", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read consents", err)
	}
	return out, nil
}
