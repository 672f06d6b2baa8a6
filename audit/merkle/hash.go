// Package merkle makes the audit log tamper-evident beyond its hash chain:
// an RFC 6962 Merkle tree over each shard's events, signed checkpoints of
// its head (C2SP tlog-checkpoint in a C2SP signed note, Ed25519), inclusion
// proofs for single events and consistency proofs between two checkpoints,
// and verifiers that need only the proof, the event and a trusted
// checkpoint.
//
// Leaf i of a shard's tree is the event at Seq i+1; its leaf data is the 32
// bytes of audit.ComputeHash of the event as stored (recomputed from its
// content, not read from its Hash field), so an event changed after a
// checkpoint no longer proves against it.
//
// Proofs are generated in one ordered pass over the shard (ChainReader),
// holding O(log n) hashes, never the whole tree: a shard of 10 million
// events costs one read of the shard per proof, not 320 MB of leaf hashes.
package merkle

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// Hash is a SHA-256 digest: a leaf hash, a node hash or a tree head.
type Hash [sha256.Size]byte

// String returns h in standard base64, as checkpoints and proofs carry it.
func (h Hash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// ParseHash decodes a base64 (standard) or hex SHA-256 digest.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		if b, err = hex.DecodeString(s); err != nil || len(b) != len(h) {
			return h, fmt.Errorf("merkle: %q is not a base64 or hex SHA-256 hash", truncate(s, 80))
		}
	}
	copy(h[:], b)
	return h, nil
}

// EmptyRoot is the head of the empty tree: SHA-256 of the empty string.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash is RFC 6962's leaf hash: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash is RFC 6962's interior node hash: SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// MarshalText encodes h in standard base64 (JSON strings).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a base64 or hex hash.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
