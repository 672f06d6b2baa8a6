package metrics

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// IngestMessages counts n inbound messages from a source system with a
// result (ResultStored, ResultDuplicate, ResultRejected). A source that does
// not look like a system name, and any unknown result, count as "other".
func (m *Metrics) IngestMessages(source, result string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.ingestMessages.WithLabelValues(m.sourceLabel(source), closed(ingestResults, result)).Add(float64(n))
}

// RecordsStored counts n records of a FHIR resource type newly stored
// (duplicates of records already stored are not counted).
func (m *Metrics) RecordsStored(recordType string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.recordsStored.WithLabelValues(recordTypeLabel(recordType)).Add(float64(n))
}

// ObserveBatch records one batch that was made durable: how many messages
// it held and how long it took from its first processing attempt until it
// was durable, retries included (failed attempts are also counted by
// BatchFailed).
func (m *Metrics) ObserveBatch(messages int, d time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(messages))
	m.batchDuration.Observe(d.Seconds())
}

// BatchFailed counts one attempt at a batch that could not be made durable
// and will be retried, by cause (CauseStore, CauseAudit, CauseKeys,
// CauseDeadLetter, CausePolicy; anything else is "other").
func (m *Metrics) BatchFailed(cause string) {
	if m == nil {
		return
	}
	m.batchesFailed.WithLabelValues(closed(batchCauses, cause)).Inc()
}

// DeadLetter counts one message sent to the dead-letter topic, by its
// reason code (the audit event code of the rejection, e.g. CC1002W).
func (m *Metrics) DeadLetter(reasonCode string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(eventCodeLabel(reasonCode)).Inc()
}

// ObserveReaderStats records a snapshot of kafka-go's Reader.Stats(): the
// consumer lag, the fetch-ahead queue, and the reader's errors, rebalances
// and timeouts. Call it periodically (every 10 s or so) from one goroutine,
// and let nothing else call Stats on that reader: kafka-go resets its
// counters at each snapshot, and this method adds each snapshot's counts.
//
// A reader in a consumer group (GroupID set, as the hub's is) reports one
// lag for all its partitions, that of its most recent fetch; it is recorded
// as topic="all", partition="-1". For an exact lag per partition, poll
// kafkaconn.GroupLag and call SetConsumerLag.
func (m *Metrics) ObserveReaderStats(s kafka.ReaderStats) {
	if m == nil {
		return
	}
	topic := s.Topic
	if topic == "" {
		topic = "all"
	}
	partition, err := strconv.Atoi(s.Partition)
	if err != nil {
		partition = -1
	}
	m.SetConsumerLag(topic, partition, s.Lag)
	m.readerQueue.Set(float64(s.QueueLength))
	m.readerErrors.Add(float64(max(s.Errors, 0)))
	m.readerRebalances.Add(float64(max(s.Rebalances, 0)))
	m.readerTimeouts.Add(float64(max(s.Timeouts, 0)))
}

// SetConsumerLag sets the lag, in messages, of the consumer group on one
// partition of an inbound topic (hub.in.<source>). Other topics, and pairs
// beyond the first 1024 topic/partition pairs, count as "other".
func (m *Metrics) SetConsumerLag(topic string, partition int, lag int64) {
	if m == nil {
		return
	}
	p := strconv.Itoa(partition)
	if m.topicKey.label(topic+"/"+p) == Other {
		topic, p = Other, Other
	}
	m.consumerLag.WithLabelValues(topic, p).Set(float64(max(lag, 0)))
}
