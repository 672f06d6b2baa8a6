// Package storetest is the conformance suite of the hub's storage
// contracts (store.Committer, store.RecordReader, store.ConsentReader,
// audit.Appender, audit.Querier, audit.ChainReader, keys.WrappedStore,
// mpi.Links, and keys.MaintainedStore for backends that implement it), run
// against every backend, as OpenFGA's RunAllTests and
// Teleport's EventsSuite are:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: ..., Reopen: ..., Tamper: ...})
//	}
//
// Run it with -race: several subtests write from many goroutines.
package storetest

import (
	"testing"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/store"
)

// Backend is everything a storage backend of the hub implements.
type Backend interface {
	store.Committer
	store.RecordReader
	store.ConsentReader
	audit.Appender
	audit.Querier
	audit.ChainReader
	keys.WrappedStore
	mpi.Links
}

// Harness connects the suite to a backend. The suite calls its functions
// from parallel subtests.
type Harness struct {
	// New returns a backend on fresh, empty storage (a new database file, a
	// new database on a server) that appends to the audit chain of shard.
	// It registers the release of backend and storage with t.Cleanup.
	// Required.
	New func(t *testing.T, shard string) Backend

	// Reopen returns another backend on the storage of b, appending to
	// shard. With a shard other than b's it is a second hub instance
	// sharing the storage, and b stays in use. With b's own shard it is b
	// restarted: the suite no longer uses b, and Reopen closes it first.
	// Optional: the multi-shard, reopen and cross-shard tamper tests skip
	// without it.
	Reopen func(t *testing.T, b Backend, shard string) Backend

	// Tamper edits stored audit events behind the backend's back, as an
	// attacker with write access to the storage would. Optional: the tamper
	// tests skip without it.
	Tamper *Tamper
}

// Tamper hooks edit the stored audit chain of shard in the storage of b.
// The suite does not append through b after tampering. A hook left nil
// skips its tests.
type Tamper struct {
	// Modify changes one content field of the stored event at seq (its
	// actor, patient, outcome..., not its Seq, PrevHash or Hash), without
	// fixing its hash.
	Modify func(t *testing.T, b Backend, shard string, seq uint64)
	// Delete removes the stored event at seq.
	Delete func(t *testing.T, b Backend, shard string, seq uint64)
	// Swap exchanges the positions of the stored events at seqA and seqB:
	// afterwards ReadChain yields the former event seqB at position seqA
	// and the former event seqA at position seqB. In a store that orders
	// the chain by its Seq column this means exchanging their Seq values,
	// and nothing else.
	Swap func(t *testing.T, b Backend, shard string, seqA, seqB uint64)
	// Insert stores forged (whose Seq is after+1, and whose PrevHash and
	// Hash the suite has set) as the event at position after+1, moving
	// every stored event after position after one position on (their Seq
	// plus one, nothing else changed), as a forger who does not rewrite
	// the rest of the chain must.
	Insert func(t *testing.T, b Backend, shard string, after uint64, forged audit.Event)
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is required")
	}
	s := &suite{h: h}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Commit", s.testCommit},
		{"Idempotency", s.testIdempotency},
		{"Consents", s.testConsents},
		{"ConsentHistory", s.testConsentHistory},
		{"Append", s.testAppend},
		{"Query", s.testQuery},
		{"VerifyLongChain", s.testVerifyLongChain},
		{"MultiShard", s.testMultiShard},
		{"Reopen", s.testReopen},
		{"Tamper", s.testTamper},
		{"WrappedKeys", s.testWrappedKeys},
		{"MaintainedKeys", s.testMaintainedKeys},
		{"Links", s.testLinks},
		{"Concurrency", s.testConcurrency},
		{"FailClosed", s.testFailClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

type suite struct{ h Harness }

// reopen returns a backend for shard on the storage of b, or skips the
// test when the harness cannot reopen.
func (s *suite) reopen(t *testing.T, b Backend, shard string) Backend {
	t.Helper()
	if s.h.Reopen == nil {
		t.Skip("storetest: Harness.Reopen not set")
	}
	return s.h.Reopen(t, b, shard)
}
