package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/carecrest/hub/keys"
)

// op names an operation in error messages, and says whether its request
// carried a wrapped key (which decides what a 400 means).
type op struct {
	name       string
	ciphertext bool
}

var (
	opGenerate = op{"generate data key", false}
	opUnwrap   = op{"unwrap data key", true}
	opUnwrapN  = op{"unwrap data keys", true}
	opRewrap   = op{"rewrap data key", true}
	opRotate   = op{"rotate key", false}
	opReadKey  = op{"read key", false}
	opEnsure   = op{"create key", false}
	opLogin    = op{"login", false}
	opLookup   = op{"token lookup", false}
	opRenew    = op{"token renewal", false}
	opRevoke   = op{"token revocation", false}
	opHealth   = op{"health", false}
)

// classify turns an error from the Vault client into one of the keys error
// categories, as the package documentation describes. The message names
// the operation, the HTTP status and Vault's sanitized error text; owners,
// key bytes and ciphertexts never reach it, because Vault only ever sees
// them in request bodies and our own text never quotes them.
func classify(o op, err error) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		detail := fmt.Sprintf("HTTP %d", re.StatusCode)
		if msg := sanitize(strings.Join(re.Errors, "; ")); msg != "" {
			detail += ": " + msg
		}
		cat := keys.ErrUnavailable
		switch code := re.StatusCode; {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			cat = keys.ErrDenied
		case code == http.StatusBadRequest && o == opLogin:
			cat = keys.ErrDenied // approle answers 400 to bad credentials
		case code == http.StatusBadRequest && keyNotFound(re.Errors):
			detail += " (check mount and key_name, or run EnsureKey)"
		case code == http.StatusNotFound:
			detail += " (is the mount enabled and the key created?)"
		case code == http.StatusBadRequest && o.ciphertext:
			cat = keys.ErrInvalid
		}
		return fmt.Errorf("%w: vault %s: %s", cat, o.name, detail)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Keep the context error matchable: callers tell their own
		// cancellation from Vault's unavailability.
		return fmt.Errorf("%w: vault %s: %w", keys.ErrUnavailable, o.name, ctxErr(err))
	}
	return fmt.Errorf("%w: vault %s: %s", keys.ErrUnavailable, o.name, sanitize(err.Error()))
}

func ctxErr(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return context.DeadlineExceeded
}

func keyNotFound(msgs []string) bool {
	for _, m := range msgs {
		if strings.Contains(m, "key not found") {
			return true
		}
	}
	return false
}

// status returns the HTTP status of a Vault response error, or 0.
func status(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

var (
	ciphertextRE = regexp.MustCompile(`vault:v\d+:\S*`)
	// Runs of 20+ base64/base64url/hex characters: contexts, plaintexts,
	// tokens (hvs.<24+ chars>), accessors.
	blobRE = regexp.MustCompile(`[A-Za-z0-9+/=_-]{20,}`)
)

// sanitize makes Vault's error text safe and short for our messages.
func sanitize(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "*", " ")), " ")
	s = ciphertextRE.ReplaceAllString(s, "[ciphertext]")
	s = blobRE.ReplaceAllString(s, "[redacted]")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// BatchError reports the owners whose wrapped keys UnwrapMany could not
// unwrap. Its message counts them without naming them; Failed names them
// for the caller.
type BatchError struct {
	// Failed maps each failed owner to its error (keys.ErrInvalid for a bad
	// or foreign wrapped key).
	Failed map[string]error
	total  int
}

func (e *BatchError) Error() string {
	owners := slices.Sorted(maps.Keys(e.Failed)) // a stable example
	return fmt.Sprintf("keys/vault: %d of %d wrapped keys did not unwrap (e.g. %v)", len(e.Failed), e.total, e.Failed[owners[0]])
}

// Unwrap returns the distinct errors of the failed items, so
// errors.Is(err, keys.ErrInvalid) holds when an item was invalid.
func (e *BatchError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}
