package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// File names GenerateEd25519 writes.
const (
	PrivateKeyFile = "jwt-ed25519.key.pem"
	PublicKeyFile  = "jwt-ed25519.pub.pem"
)

// Claims are what a development token asserts. Subject, Issuer and Audience
// are required.
type Claims struct {
	Subject     string
	Name        string
	Roles       []string
	Org         string
	Purposes    []string // purpose_of_use
	Application string   // azp
	Kind        string   // "", KindUser or KindApplication
	FHIRUser    string   // fhirUser (SMART): "Practitioner/<id>"
	Issuer      string
	Audience    string
}

// Signer mints tokens with a private key, for development and demos.
type Signer struct {
	key    crypto.Signer
	method jwt.SigningMethod
	now    func() time.Time
}

// GenerateEd25519 writes a new Ed25519 key pair into dir (created 0700 if
// absent): PrivateKeyFile (PKCS#8 PEM, mode 0600) and PublicKeyFile (PKIX
// PEM, mode 0644, what Config.KeyFile points at). It never replaces existing
// files: if either exists it fails with an error matching fs.ErrExist, and
// callers that want to reuse a pair can check for that.
func GenerateEd25519(dir string) (privPath, pubPath string, err error) {
	privPath = filepath.Join(dir, PrivateKeyFile)
	pubPath = filepath.Join(dir, PublicKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("auth: create key directory: %w", err)
	}
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("auth: %s: %w", p, fs.ErrExist)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("auth: generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", fmt.Errorf("auth: encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", fmt.Errorf("auth: encode public key: %w", err)
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), privateKeyMode); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeNew creates path with mode and content, failing if it exists.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	return nil
}

// LoadSigner reads a PEM private key (Ed25519 → EdDSA, ECDSA P-256 → ES256,
// RSA ≥ 2048 bits → RS256) from a file only its owner can access.
func LoadSigner(privPath string) (*Signer, error) {
	b, err := readKeyFile(privPath, true)
	if err != nil {
		return nil, err
	}
	k, err := parsePrivateKey(b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("auth: private key %s: %w", privPath, err)
	}
	var method jwt.SigningMethod
	switch k.(type) {
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *ecdsa.PrivateKey:
		method = jwt.SigningMethodES256
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	}
	if method == nil {
		return nil, fmt.Errorf("auth: private key %s: unsupported key type %T", privPath, k)
	}
	if err := checkKey(k, method.Alg()); err != nil {
		return nil, fmt.Errorf("auth: private key %s: %w", privPath, err)
	}
	return &Signer{key: k, method: method, now: time.Now}, nil
}

// Algorithm returns the JWT "alg" the signer uses.
func (s *Signer) Algorithm() string { return s.method.Alg() }

// Mint returns a signed token for c, valid from now for ttl, with a random
// "jti".
func (s *Signer) Mint(c Claims, ttl time.Duration) (string, error) {
	switch {
	case c.Subject == "" || c.Issuer == "" || c.Audience == "":
		return "", errors.New("auth: mint: subject, issuer and audience are required")
	case ttl <= 0:
		return "", errors.New("auth: mint: ttl must be positive")
	case c.Kind != "" && c.Kind != KindUser && c.Kind != KindApplication:
		return "", fmt.Errorf("auth: mint: unsupported kind %q", c.Kind)
	}
	now := s.now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
		Name:        c.Name,
		Roles:       c.Roles,
		Org:         c.Org,
		Purposes:    c.Purposes,
		Application: c.Application,
		Kind:        c.Kind,
		FHIRUser:    c.FHIRUser,
	}
	tok, err := jwt.NewWithClaims(s.method, claims).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return tok, nil
}
