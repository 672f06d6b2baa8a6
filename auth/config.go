package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Supported signing algorithms.
const (
	AlgEdDSA = "EdDSA" // Ed25519 public key
	AlgES256 = "ES256" // ECDSA P-256 public key
	AlgRS256 = "RS256" // RSA public key of at least 2048 bits
	AlgHS256 = "HS256" // shared secret of at least 32 bytes; only when no public-key option exists
)

var supported = []string{AlgEdDSA, AlgES256, AlgRS256, AlgHS256}

// maxLeeway bounds the clock skew tolerated on exp, nbf and iat.
const maxLeeway = 5 * time.Minute

// Config configures token verification.
type Config struct {
	// Issuer is the required "iss".
	Issuer string `yaml:"issuer"`
	// Audience must be one of the token's "aud" values.
	Audience string `yaml:"audience"`
	// Algorithms pins the accepted "alg". With one KeyFile this is one
	// algorithm, matching the key; "none" is never accepted.
	Algorithms []string `yaml:"algorithms"`
	// KeyFile is the PEM public key (Ed25519, ECDSA P-256 or RSA; PKIX,
	// PKCS#1 or a certificate) or, for HS256, a file holding the raw shared
	// secret (at least 32 bytes, mode 0600; a trailing newline is ignored).
	// It has no default.
	KeyFile string `yaml:"key_file"`
	// Leeway is the clock skew tolerated on exp, nbf and iat (at most 5m).
	Leeway time.Duration `yaml:"leeway"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `yaml:"-"`
}

// Defaults returns the development defaults: issuer "carecrest-dev",
// audience "carecrest-hub", EdDSA, 30s leeway. KeyFile must still be set.
func (Config) Defaults() Config {
	return Config{
		Issuer:     "carecrest-dev",
		Audience:   "carecrest-hub",
		Algorithms: []string{AlgEdDSA},
		Leeway:     30 * time.Second,
	}
}

// Validate reports whether c is usable. It does not read KeyFile;
// NewVerifier does.
func (c Config) Validate() error {
	if c.Issuer == "" {
		return fmt.Errorf("auth: issuer is required")
	}
	if c.Audience == "" {
		return fmt.Errorf("auth: audience is required")
	}
	if len(c.Algorithms) == 0 {
		return fmt.Errorf("auth: algorithms is empty; set one of %s", strings.Join(supported, ", "))
	}
	for _, a := range c.Algorithms {
		if strings.EqualFold(a, "none") {
			return fmt.Errorf("auth: algorithm \"none\" (unsigned tokens) is never accepted")
		}
		if !slices.Contains(supported, a) {
			return fmt.Errorf("auth: unsupported algorithm %q; supported: %s", a, strings.Join(supported, ", "))
		}
	}
	if algs := uniq(c.Algorithms); len(algs) > 1 {
		return fmt.Errorf("auth: algorithms %s need different keys but there is one key file; pin one algorithm", strings.Join(algs, ", "))
	}
	if c.KeyFile == "" {
		return fmt.Errorf("auth: key_file is required (a PEM public key, or the HS256 secret)")
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		return fmt.Errorf("auth: leeway must be between 0 and %s, got %s", maxLeeway, c.Leeway)
	}
	return nil
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
