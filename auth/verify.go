package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenSize bounds the tokens Verify parses.
const maxTokenSize = 16 << 10

// Verifier verifies bearer tokens against one pinned algorithm and key. It
// is safe for concurrent use.
type Verifier struct {
	alg    string
	key    any
	parser *jwt.Parser
}

// NewVerifier validates cfg and loads its key.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	alg := cfg.Algorithms[0]
	key, err := loadVerifyKey(cfg.KeyFile, alg)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{
		alg: alg,
		key: key,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Verify checks token's signature, algorithm, issuer, audience, expiry (and
// nbf and iat when present) and returns its principal. Every failure is
// ErrUnauthenticated with a short reason; the token is never echoed.
func (v *Verifier) Verify(token string) (Principal, error) {
	switch {
	case token == "":
		return Principal{}, unauthenticated("missing token")
	case len(token) > maxTokenSize:
		return Principal{}, unauthenticated("token too large")
	}
	var c tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != v.alg { // WithValidMethods already checks; keep the key pinned regardless
			return nil, errors.New("algorithm not allowed")
		}
		return v.key, nil
	})
	if err != nil {
		return Principal{}, unauthenticated(reason(tok, &c, v.alg, err))
	}
	if c.Subject == "" {
		return Principal{}, unauthenticated("missing subject")
	}
	kind := c.Kind
	switch kind {
	case "":
		kind = KindUser
	case KindUser, KindApplication:
	default:
		return Principal{}, unauthenticated("unsupported principal kind")
	}
	p := Principal{
		Subject:     c.Subject,
		Name:        c.Name,
		Roles:       []string(c.Roles),
		Org:         c.Org,
		Purposes:    []string(c.Purposes),
		Application: c.Application,
		Kind:        kind,
		FHIRUser:    c.FHIRUser,
	}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	return p, nil
}

func unauthenticated(reason string) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, reason)
}

// reason maps a parser error to a short fixed phrase. The parser's own
// messages are not passed on.
func reason(tok *jwt.Token, c *tokenClaims, alg string, err error) string {
	if tok != nil && tok.Method != nil && tok.Method.Alg() != alg {
		return "signing algorithm not allowed"
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// Claims are validated after the signature, so c is authentic here.
		switch {
		case c.ExpiresAt == nil:
			return "missing expiry (exp)"
		case c.Issuer == "":
			return "missing issuer"
		case len(c.Audience) == 0:
			return "missing audience"
		}
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	}
	return "invalid token"
}
