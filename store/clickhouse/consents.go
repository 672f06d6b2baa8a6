package clickhouse

import (
	"context"
	"encoding/json"

	"github.com/carecrest/hub/consent"
)

// Consents implements store.ConsentReader: the latest version of each of
// the patient's directives. Versions are deduplicated by idempotency key
// first (the first stored copy of a key counts, should two instances race),
// then the highest version of each directive id wins.
func (s *Store) Consents(ctx context.Context, patientID string) ([]consent.Directive, error) {
	return s.directives(ctx, `
		SELECT argMax(directive, version) FROM (
			SELECT id, directive, version FROM consents WHERE patient_id = ?
			ORDER BY version LIMIT 1 BY idem_key
		) GROUP BY id ORDER BY id`, patientID)
}

// ConsentHistory returns every stored version of every directive of the
// patient, oldest first (by version: the store's commit order), each
// idempotency key once, as Consents counts them.
func (s *Store) ConsentHistory(ctx context.Context, patientID string) ([]consent.Directive, error) {
	return s.directives(ctx, `
		SELECT directive FROM (
			SELECT directive, version FROM consents WHERE patient_id = ?
			ORDER BY version LIMIT 1 BY idem_key
		) ORDER BY version`, patientID)
}

func (s *Store) directives(ctx context.Context, q string, args ...any) ([]consent.Directive, error) {
	rows, err := s.conn.Query(ctx, q, args...)
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
			return nil, unavailable("decode consent", errDecode)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read consents", err)
	}
	return out, nil
}
