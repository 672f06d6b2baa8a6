// Package ingest consumes inter-system traffic from Kafka and turns it into
// stored, encrypted, audited records:
//
//	fetch batch → decode → link patients (MPI) → decide (may this source
//	write?) → plan merges → seal PHI → one durable commit of records +
//	audit events → merges, care relationships and match keys into the
//	MPI → route → dead-letter what was rejected → commit offsets
//
// Offsets are committed only after the store, the audit log and the dead
// letters are durable. A failure of any of them (store, audit, key manager)
// retries the same batch until it succeeds or the hub stops, so nothing is
// lost; the store's idempotency keys make the retry and any redelivery
// harmless. A bad message never stops the messages behind it: it is
// dead-lettered with its reason and its offset advances.
package ingest

import (
	"context"
	"time"

	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
	"github.com/segmentio/kafka-go"
)

// Source is the part of a Kafka consumer the hub uses (kafka-go's *Reader).
type Source interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Sink is the part of a Kafka producer the hub uses (kafka-go's *Writer).
//
// Contract: WriteMessages returns nil only when every message is acknowledged
// by the broker (RequiredAcks = all).
type Sink interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Sealer encrypts records and blobs (phi.Sealer). Prepare loads or creates
// the data keys of a batch's patients in one round trip before sealing.
type Sealer interface {
	Prepare(ctx context.Context, owners []string) error
	Seal(ctx context.Context, rec *record.Record) (record.Sealed, error)
	SealBlob(ctx context.Context, owner string, plaintext, aad []byte) ([]byte, error)
}

// Resolver links patient identifiers to enterprise ids (mpi.Index).
type Resolver interface {
	ResolveAll(ctx context.Context, subjects [][]record.Identifier) ([]string, error)
}

// PatientIndex records what ingest learns about patients beyond their
// identifiers (mpi.Index): merges, care relationships and demographic
// match keys.
//
// Contract: PlanMerges resolves and decides merges without writing one;
// Merge and PutFacts return nil only when what they wrote is durable, and
// are idempotent, so a batch may be retried.
type PatientIndex interface {
	PlanMerges(ctx context.Context, reqs []mpi.MergeRequest) ([]mpi.MergePlan, error)
	Merge(ctx context.Context, retired, survivor string) (mpi.MergeResult, error)
	PutFacts(ctx context.Context, f mpi.Facts) error
}

// DecodeFunc decodes one message payload of a content type into records.
// Errors are permanent for that message and must not contain its content.
type DecodeFunc func(contentType, source string, payload []byte, received time.Time) ([]record.Record, error)

// Content types the hub understands, carried in the Kafka header
// "content-type" (sniffed when absent).
const (
	ContentHL7v2     = "application/hl7-v2"
	ContentFHIRJSON  = "application/fhir+json"
	ContentDICOMJSON = "application/dicom+json"
)

// TopicPrefix is the prefix of inbound topics: hub.in.<system>.
const TopicPrefix = "hub.in."

// Observer receives ingest measurements (metrics.Metrics). Label values
// passed are source names, result words and audit codes: never PHI.
type Observer interface {
	IngestMessages(source, result string, n int)
	ObserveBatch(messages int, d time.Duration)
	BatchFailed(cause string)
	DeadLetter(reasonCode string)
}

type noObserver struct{}

func (noObserver) IngestMessages(string, string, int) {}
func (noObserver) ObserveBatch(int, time.Duration)    {}
func (noObserver) BatchFailed(string)                 {}
func (noObserver) DeadLetter(string)                  {}
