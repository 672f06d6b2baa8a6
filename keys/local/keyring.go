// Package local is the embedded key manager: a key-encryption key (KEK) kept
// in a keyring file (or in the CARECREST_KEK environment variable) wraps the
// per-owner data keys with AES-256-GCM.
//
// It is the default for development, demos and single-node installs. The
// KEK lives on the same host as the data it protects, so production installs
// use Vault Transit instead (keys/vault), where the KEK never leaves Vault.
//
// Wrapped key format (version 1):
//
//	0x01 || 12-byte random nonce || AES-256-GCM(KEK, DEK, aad)
//	aad = "carecrest/dek/v1|" + owner
//
// The owner in the additional data binds a wrapped key to its owner: a
// wrapped key copied to another patient does not unwrap. Random nonces are
// safe for far more than the number of data keys one KEK will ever wrap (one
// per patient).
package local

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/carecrest/hub/keys"
)

// EnvKEK is the environment variable FromEnv reads: a base64-encoded 32-byte
// key-encryption key.
const EnvKEK = "CARECREST_KEK"

const (
	kekSize     = 32 // AES-256
	dekSize     = 32 // AES-256 data keys
	nonceSize   = 12 // AES-GCM standard nonce
	wrapVersion = 1  // first byte of every wrapped key
	aadPrefix   = "carecrest/dek/v1|"
)

// Keyring wraps and unwraps data keys under one KEK. It is safe for
// concurrent use.
type Keyring struct {
	aead cipher.AEAD
}

var _ keys.Manager = (*Keyring)(nil)

// FromKey returns a keyring for a 32-byte KEK. The keyring keeps no
// reference to kek.
func FromKey(kek []byte) (*Keyring, error) {
	if len(kek) != kekSize {
		return nil, fmt.Errorf("keys/local: key-encryption key must be %d bytes, got %d", kekSize, len(kek))
	}
	block, err := aes.NewCipher(kek) // copies the key into its schedule
	if err != nil {
		return nil, fmt.Errorf("keys/local: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys/local: %w", err)
	}
	return &Keyring{aead: aead}, nil
}

// FromEnv returns a keyring for the base64 KEK in $CARECREST_KEK (standard or
// URL alphabet, padded or not). Generate one with: head -c 32 /dev/urandom |
// base64.
func FromEnv() (*Keyring, error) {
	v := strings.TrimSpace(os.Getenv(EnvKEK))
	if v == "" {
		return nil, fmt.Errorf("keys/local: %s is not set", EnvKEK)
	}
	kek, err := decodeKEK(v)
	if err != nil {
		return nil, fmt.Errorf("keys/local: %s: %w", EnvKEK, err)
	}
	defer clear(kek)
	return FromKey(kek)
}

// decodeKEK decodes a base64 KEK; its errors never include the input.
func decodeKEK(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != kekSize {
				clear(b)
				return nil, fmt.Errorf("key must decode to %d bytes, got %d", kekSize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("key is not valid base64")
}

// GenerateDataKey returns a fresh random 256-bit data key for owner and the
// same key wrapped under the KEK.
func (k *Keyring) GenerateDataKey(_ context.Context, owner string) (plaintext, wrapped []byte, err error) {
	if owner == "" {
		return nil, nil, fmt.Errorf("%w: empty owner", keys.ErrInvalid)
	}
	dek := make([]byte, dekSize)
	rand.Read(dek) // never returns an error; crashes the program if the OS source fails
	out := make([]byte, 1+nonceSize, 1+nonceSize+dekSize+k.aead.Overhead())
	out[0] = wrapVersion
	rand.Read(out[1 : 1+nonceSize])
	out = k.aead.Seal(out, out[1:1+nonceSize], dek, aad(owner))
	return dek, out, nil
}

// UnwrapDataKey returns the data key wrapped in wrapped, provided it was
// generated for owner under this keyring's KEK. Any other input (another
// owner's key, another KEK, a modified or truncated key, an unknown version)
// yields keys.ErrInvalid.
func (k *Keyring) UnwrapDataKey(_ context.Context, owner string, wrapped []byte) ([]byte, error) {
	if owner == "" {
		return nil, fmt.Errorf("%w: empty owner", keys.ErrInvalid)
	}
	if len(wrapped) != 1+nonceSize+dekSize+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: wrong length", keys.ErrInvalid)
	}
	if wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: unknown version %d", keys.ErrInvalid, wrapped[0])
	}
	dek, err := k.aead.Open(nil, wrapped[1:1+nonceSize], wrapped[1+nonceSize:], aad(owner))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", keys.ErrInvalid)
	}
	return dek, nil
}

func aad(owner string) []byte {
	return []byte(aadPrefix + owner)
}
