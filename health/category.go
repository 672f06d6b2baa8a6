package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"regexp"
)

// Categories /readyz shows after "unavailable: ". A check may use others
// through Categorize.
const (
	CategoryTimeout   = "timeout"
	CategoryNetwork   = "network"
	CategoryDNS       = "dns"
	CategoryTLS       = "tls"
	CategoryAuth      = "auth"
	CategoryNotLoaded = "not loaded"
	CategoryError     = "error"
)

// categorized is an error that names its own category.
type categorized struct {
	category string
	err      error
}

func (e *categorized) Error() string { return e.err.Error() }
func (e *categorized) Unwrap() error { return e.err }

// Categorize returns err marked with a short category (lower-case words,
// e.g. "auth" or "not loaded") for /readyz to show instead of the error. The
// error itself is kept for errors.Is and for the log. An invalid category
// shows as "error".
func Categorize(category string, err error) error {
	if err == nil {
		return nil
	}
	return &categorized{category: category, err: err}
}

var categoryPattern = regexp.MustCompile(`^[a-z][a-z0-9 _-]{0,23}$`)

// category classifies err for display: the category it was marked with,
// else one inferred from well-known error types, else "error".
func category(err error) string {
	var c *categorized
	if errors.As(err, &c) {
		if categoryPattern.MatchString(c.category) {
			return c.category
		}
		return CategoryError
	}
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		opErr    *net.OpError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		recHdr   tls.RecordHeaderError
		alertErr tls.AlertError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CategoryTimeout
	case errors.As(err, &dnsErr):
		return CategoryDNS
	case errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &recHdr), errors.As(err, &alertErr):
		return CategoryTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return CategoryTimeout
	case errors.As(err, &opErr):
		return CategoryNetwork
	default:
		return CategoryError
	}
}
