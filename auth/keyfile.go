package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

const (
	maxKeyFile     = 64 << 10
	minHMACSecret  = 32
	minRSABits     = 2048
	privateKeyMode = 0o600
)

// readKeyFile reads a small key file. When private is set it refuses a file
// that group or others may access, since it grants the power to mint tokens.
func readKeyFile(path string, private bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); private && perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("auth: key file %s has mode %04o but holds a secret; fix with: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("auth: read key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("auth: key file %s is too large for a key", path)
	}
	return b, nil
}

// loadVerifyKey returns the key that verifies alg from path.
func loadVerifyKey(path, alg string) (any, error) {
	if alg == AlgHS256 {
		return loadHMACSecret(path)
	}
	b, err := readKeyFile(path, false)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("auth: key file %s holds no PEM block", path)
	}
	var pub any
	switch {
	case block.Type == "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("auth: key file %s holds a private key; give the verifier the public key", path)
	default:
		return nil, fmt.Errorf("auth: key file %s: unsupported PEM block %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: key file %s: %w", path, err)
	}
	if err := checkKey(pub, alg); err != nil {
		return nil, fmt.Errorf("auth: key file %s: %w", path, err)
	}
	return pub, nil
}

// checkKey reports whether k (a public or private key) is right for alg.
func checkKey(k any, alg string) error {
	if s, ok := k.(crypto.Signer); ok {
		k = s.Public()
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		if alg == AlgEdDSA {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == AlgES256 {
			if k.Curve != elliptic.P256() {
				return errors.New("ES256 needs a P-256 key")
			}
			return nil
		}
	case *rsa.PublicKey:
		if alg == AlgRS256 {
			if k.N.BitLen() < minRSABits {
				return fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
			}
			return nil
		}
	default:
		return fmt.Errorf("unsupported key type %T", k)
	}
	return fmt.Errorf("a %s key cannot verify %s", keyKind(k), alg)
}

func keyKind(k any) string {
	switch k.(type) {
	case ed25519.PublicKey:
		return "Ed25519"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	}
	return "unknown"
}

// loadHMACSecret reads an HS256 secret: the file's bytes without a trailing
// newline, at least 32 of them, from a file only its owner can access. A PEM
// file is refused: using a public key as an HMAC secret is the classic
// algorithm-confusion attack.
func loadHMACSecret(path string) ([]byte, error) {
	b, err := readKeyFile(path, true)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
		return nil, fmt.Errorf("auth: HS256 key file %s holds a PEM key, not a shared secret", path)
	}
	if len(b) < minHMACSecret {
		return nil, fmt.Errorf("auth: HS256 secret in %s has %d bytes, want at least %d", path, len(b), minHMACSecret)
	}
	return b, nil
}

// parsePrivateKey parses a PEM private key (PKCS#8, SEC 1 or PKCS#1).
func parsePrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}
