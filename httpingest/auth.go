package httpingest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/carecrest/hub/auth"
)

// Authenticator maps a bearer token to the source system that sends with it.
//
// Contract: Authenticate returns the source name and nil only for a valid
// token of a source system. An error wrapping ErrForbidden is answered 403
// (the token is valid but its holder may not send); any other error 401.
// Errors are logged, never returned to the caller, and must not contain the
// token.
type Authenticator interface {
	Authenticate(token string) (source string, err error)
}

// Errors of an Authenticator.
var (
	ErrUnauthenticated = errors.New("httpingest: unauthenticated")
	ErrForbidden       = errors.New("httpingest: not a source system")
)

// RoleSourceSystem is the role a token must carry to send.
const RoleSourceSystem = "source-system"

// TokenVerifier verifies a JWT (auth.Verifier).
type TokenVerifier interface {
	Verify(token string) (auth.Principal, error)
}

var _ TokenVerifier = (*auth.Verifier)(nil)

// SourceSystems returns an Authenticator that accepts tokens v verifies
// whose principal is an application (claim kind "application") with role
// RoleSourceSystem; the source is the token's subject. A person's token is
// never a source system, whatever its roles.
func SourceSystems(v TokenVerifier) Authenticator { return sourceSystems{v} }

type sourceSystems struct{ v TokenVerifier }

func (s sourceSystems) Authenticate(token string) (string, error) {
	p, err := s.v.Verify(token)
	if err != nil {
		// auth's reasons never echo the token or its claims.
		return "", fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if p.Kind != auth.KindApplication || !slices.Contains(p.Roles, RoleSourceSystem) {
		return "", fmt.Errorf("%w: want kind %q with role %q", ErrForbidden, auth.KindApplication, RoleSourceSystem)
	}
	return p.Subject, nil
}
