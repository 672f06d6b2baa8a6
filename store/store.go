// Package store holds the contracts of the hub's durable state: sealed
// records, consent directives and the audit events that go with them.
// Backends: store/sqlite (embedded default) and, for production, ClickHouse.
package store

import (
	"context"
	"errors"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/record"
)

// Batch is one unit of ingest: the records decoded from a batch of messages,
// the consent directives they carried and the audit events that record the
// writes and rejections.
type Batch struct {
	Records  []record.Sealed
	Consents []ConsentVersion
	Events   []audit.Event
}

// ConsentVersion is one stored version of a consent directive. Key is the
// idempotency key of the record that carried it.
type ConsentVersion struct {
	Key       string
	Directive consent.Directive
}

// Result says what a Commit stored.
type Result struct {
	Records    int // records newly stored
	Duplicates int // records skipped because their Key was already stored
	Events     int // audit events appended
}

// Committer writes ingest batches.
//
// Contract: Commit returns nil only after every record, consent version and
// audit event of the batch is durable. Records and consent versions whose Key
// is already stored are skipped, and so are events whose Key is already in
// the audit log, so a batch may be retried, and a redelivered message never
// creates a duplicate. On error nothing of the batch may be relied on and the
// caller must not commit its source offsets.
type Committer interface {
	Commit(ctx context.Context, b Batch) (Result, error)
}

// RecordReader reads sealed records.
type RecordReader interface {
	// PatientRecords returns the patient's records, oldest first; types
	// filters by record type when non-empty.
	PatientRecords(ctx context.Context, patientID string, types []string) ([]record.Sealed, error)
}

// ConsentReader reads consent directives.
type ConsentReader interface {
	// Consents returns the latest version of each of the patient's
	// directives.
	Consents(ctx context.Context, patientID string) ([]consent.Directive, error)
}

// ErrUnavailable reports that the store could not complete a write or read;
// callers fail closed and may retry.
var ErrUnavailable = errors.New("store: unavailable")
