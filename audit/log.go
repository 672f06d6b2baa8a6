package audit

import (
	"context"
	"errors"
)

// Appender is the write side of the audit log.
//
// Contract: Append returns nil only after every event is durably stored and
// linked into its shard's hash chain; when it returns an error none of the
// events may be relied on and the caller must fail closed (return no data,
// commit no offset). Events whose Key is already in the log are skipped, so
// callers may retry a batch. Append fills ID and Time when they are empty.
type Appender interface {
	Append(ctx context.Context, events []Event) error
}

// Querier answers audit queries, newest last, ordered by event ID.
type Querier interface {
	Query(ctx context.Context, f Filter) ([]Event, error)
}

// ChainReader reads the stored chains for verification.
type ChainReader interface {
	// Shards lists the chain shards present in the log.
	Shards(ctx context.Context) ([]string, error)
	// ReadChain calls fn for each stored event of shard in sequence order,
	// exactly as stored.
	ReadChain(ctx context.Context, shard string, fn func(Event) error) error
}

// ErrUnavailable reports that the audit log could not durably record
// events. Callers fail closed.
var ErrUnavailable = errors.New("audit: log unavailable")
