// Package auth verifies the JWT bearer tokens of GraphQL API callers and
// turns them into a Principal for policy decisions. It also mints tokens
// with a local Ed25519 key for development and demos; production tokens come
// from the organisation's identity provider.
//
// Verification is pinned: one configured algorithm and key, a required
// issuer, audience and expiry. Every failure is ErrUnauthenticated with a
// short reason that never echoes the token or its claims.
package auth

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthenticated is the category of every verification failure.
var ErrUnauthenticated = errors.New("auth: unauthenticated")

// Kinds of principal.
const (
	KindUser        = "user"        // a person, the default
	KindApplication = "application" // a client acting on its own behalf
)

// Principal is the verified caller.
type Principal struct {
	Subject     string   // "sub": user or client id
	Name        string   // "name": display name, for audit
	Roles       []string // "roles"
	Org         string   // "org": the caller's organisation
	Purposes    []string // "purpose_of_use": HL7 v3 ActReason codes (TREAT, ...), a string or an array
	Application string   // "azp": the client application the token was issued to
	Kind        string   // KindUser, or KindApplication when claim "kind" says so
	// FHIRUser is the SMART on FHIR "fhirUser" claim: the FHIR resource of
	// the user, such as "Practitioner/dr-osei" or an absolute URL to it.
	// Treatment relationships are looked up by it (record.PractitionerKey
	// gives its normal form). Empty when the token has none.
	FHIRUser  string
	ExpiresAt time.Time // "exp"
}

// tokenClaims is the token's claim set.
type tokenClaims struct {
	jwt.RegisteredClaims
	Name        string     `json:"name,omitempty"`
	Roles       stringList `json:"roles,omitempty"`
	Org         string     `json:"org,omitempty"`
	Purposes    stringList `json:"purpose_of_use,omitempty"`
	Application string     `json:"azp,omitempty"`
	Kind        string     `json:"kind,omitempty"`
	FHIRUser    string     `json:"fhirUser,omitempty"`
}

// stringList is a claim that is either one string or an array of strings.
type stringList []string

// UnmarshalJSON accepts "a", ["a","b"] and null.
func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = nil
		if one != "" {
			*l = stringList{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*l = many
	return nil
}
