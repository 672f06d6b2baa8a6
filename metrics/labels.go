package metrics

import (
	"github.com/carecrest/hub/fhir"

	"regexp"
	"strconv"
	"sync"
)

// Other is the label value of anything outside a label's closed set.
const Other = "other"

// Ingest results (label result of carecrest_hub_ingest_messages_total).
const (
	ResultStored    = "stored"    // the message's records were stored
	ResultDuplicate = "duplicate" // every record was already stored (redelivery)
	ResultRejected  = "rejected"  // dead-lettered
)

// Causes of a failed batch attempt (label cause of
// carecrest_hub_ingest_batches_failed_total). The pipeline picks one with
// errors.Is on the sentinel categories (store.ErrUnavailable,
// audit.ErrUnavailable, keys.ErrUnavailable, ...).
const (
	CauseStore      = "store"      // the store could not commit
	CauseAudit      = "audit"      // the audit log could not append
	CauseKeys       = "keys"       // the key manager was unavailable
	CauseDeadLetter = "deadletter" // the dead-letter topic did not acknowledge
	CausePolicy     = "policy"     // the policy engine failed
)

// Policy decision results (label result of
// carecrest_hub_policy_decisions_total).
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	DecisionError = "error"
)

// Key-manager operations (label operation).
const (
	KeyOpGenerate = "generate"
	KeyOpUnwrap   = "unwrap"
	KeyOpRotate   = "rotate"
	KeyOpRewrap   = "rewrap"
)

// Key-manager call results (label result of
// carecrest_hub_keys_manager_calls_total).
const (
	KeyResultOK          = "ok"
	KeyResultUnavailable = "unavailable"
	KeyResultDenied      = "denied"
	KeyResultInvalid     = "invalid"
	KeyResultCanceled    = "canceled"
	KeyResultError       = "error"
)

// CodeOK is the GraphQL result code of a request without errors.
const CodeOK = "OK"

var (
	ingestResults = set(ResultStored, ResultDuplicate, ResultRejected)
	batchCauses   = set(CauseStore, CauseAudit, CauseKeys, CauseDeadLetter, CausePolicy)
	// policyActions are policy.ActionWrite, ActionRead and ActionRoute.
	policyActions = set("write", "read", "route")
	keyOps        = set(KeyOpGenerate, KeyOpUnwrap, KeyOpRotate, KeyOpRewrap)
	// graphqlOperations are the top-level fields of the GraphQL schema
	// (query/schema.go). A client-chosen operation name is never a label.
	graphqlOperations = set("patient", "auditEvents")
	// graphqlCodes are the API error codes of query.APIError, plus OK.
	graphqlCodes = set(CodeOK, "BAD_REQUEST", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "UNAVAILABLE")
)

// eventCodes are the audit event codes (audit/event.go); a test keeps the
// two in step.
var eventCodes = set(
	"CC1000I", "CC1001W", "CC1002W",
	"CC2000I", "CC2001W", "CC2002W", "CC2003E",
	"CC3000I",
	"CC4000I", "CC4001W", "CC4002I", "CC4003I", "CC4004W", "CC4100I", "CC4200I",
	"CC5000I", "CC5001W",
	"CC6000I",
	"CC7000I", "CC7001W", "CC7002I", "CC7003I", "CC7004W",
	"CC8000W", "CC8001I", "CC8002I", "CC8003W",
	"CC9000I", "CC9001I", "CC9002W",
)

// The number of distinct values a pattern-checked label may take; later
// values count as Other. Sources and topics come from configuration, so the
// caps are never reached in a correct deployment: they only stop a bug from
// turning a label into an unbounded one.
const (
	maxSources         = 64
	maxTopicPartitions = 1024
)

// sourcePattern is what a source system name may look like: the suffix of
// an inbound topic hub.in.<source>.
var sourcePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// topicPattern is an inbound topic (hub.in.<source>), or "all" for what a
// consumer-group reader reports. Any other legal Kafka topic name could
// just as well be an identifier, so it is not admitted.
var topicPattern = regexp.MustCompile(`^(all|hub\.in\.[a-z][a-z0-9_-]{0,31})$`)

func validSource(s string) bool { return sourcePattern.MatchString(s) }

// validTopicPartition accepts "topic/partition" keys.
func validTopicPartition(s string) bool {
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '/' {
			p, err := strconv.Atoi(s[i+1:])
			return err == nil && p >= -1 && topicPattern.MatchString(s[:i])
		}
	}
	return false
}

func set(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}

// closed returns v if it is in the set, else Other.
func closed(s map[string]bool, v string) string {
	if s[v] {
		return v
	}
	return Other
}

// boundedSet admits values that pass a check, up to a number of distinct
// values; anything else is Other.
type boundedSet struct {
	valid func(string) bool
	max   int

	mu   sync.RWMutex
	seen map[string]bool
}

func newBoundedSet(max int, valid func(string) bool) *boundedSet {
	return &boundedSet{valid: valid, max: max, seen: map[string]bool{}}
}

func (b *boundedSet) label(v string) string {
	b.mu.RLock()
	ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	if v == Other || !b.valid(v) {
		return Other
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = true
	return v
}

// sourceLabel is a source system name if it looks like one (lower-case
// letters, digits, '-' and '_', at most 32 characters) and fewer than
// maxSources distinct sources were seen before it, else Other.
func (m *Metrics) sourceLabel(source string) string { return m.sources.label(source) }

// recordTypeLabel is a FHIR R4 resource type, else Other.
func recordTypeLabel(typ string) string {
	if fhir.IsResourceType(typ) {
		return typ
	}
	return Other
}

// eventCodeLabel is a known audit event code, else Other.
func eventCodeLabel(code string) string { return closed(eventCodes, code) }
