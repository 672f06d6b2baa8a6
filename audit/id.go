package audit

import (
	"crypto/rand"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex
	idEntropy io.Reader = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a ULID for an event at t: lexically sortable by time,
// monotonic within one process.
func NewID(t time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), idEntropy).String()
}
