package merkle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Signed notes follow C2SP signed-note (https://c2sp.org/signed-note), the
// format of Go's checksum database and of transparency-log checkpoints:
//
//	<text, one or more lines, each ending in \n>
//	\n
//	— <key name> <base64(4-byte key hash || Ed25519 signature)>\n
//
// The key hash is the first four bytes of SHA-256(name || "\n" || 0x01 ||
// public key); a verifier key is "<name>+<key hash, 8 hex digits>+<base64(
// 0x01 || public key)>", the form golang.org/x/mod/sumdb/note reads.

// KeyName names the hub's checkpoint signing key in notes and verifier keys.
const KeyName = "carecrest-hub"

const algEd25519 = 0x01

// ErrSignature reports a note without a valid signature by the trusted key.
var ErrSignature = errors.New("merkle: note not signed by the trusted key")

// Signer signs notes with an Ed25519 key.
type Signer struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
}

// NewSigner returns a signer named name whose key derives from a 32-byte
// seed (ed25519.NewKeyFromSeed): the hub's seed is the data key of
// keys.OwnerAuditSigning, so the signing key is kept, wrapped and rotated
// like every other data key.
func NewSigner(name string, seed []byte) (*Signer, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("merkle: invalid key name %q", name)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("merkle: signing seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{name: name, hash: keyHash(name, pub), priv: priv}, nil
}

// Name is the key name.
func (s *Signer) Name() string { return s.name }

// VerifierKey is the public key in signed-note verifier key form, for
// publication: whoever holds it can check checkpoints offline.
func (s *Signer) VerifierKey() string {
	pub := s.priv.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", s.name, s.hash, base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, pub...)))
}

// Sign returns text as a signed note. text must be non-empty UTF-8, end in
// a newline, and hold no blank line.
func (s *Signer) Sign(text string) (string, error) {
	if err := checkText(text); err != nil {
		return "", err
	}
	sig := ed25519.Sign(s.priv, []byte(text))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], s.hash)
	return text + "\n— " + s.name + " " + base64.StdEncoding.EncodeToString(append(b[:], sig...)) + "\n", nil
}

// Verifier checks notes against one public key.
type Verifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewVerifier parses a verifier key ("name+hash+base64key").
func NewVerifier(vkey string) (*Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexHash, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validKeyName(name) || len(hexHash) != 8 {
		return nil, errors.New("merkle: malformed verifier key (want name+hash+key)")
	}
	h, err := hex.DecodeString(hexHash)
	if err != nil {
		return nil, errors.New("merkle: malformed verifier key hash")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != algEd25519 {
		return nil, errors.New("merkle: verifier key is not an Ed25519 key")
	}
	pub := ed25519.PublicKey(key[1:])
	v := &Verifier{name: name, hash: binary.BigEndian.Uint32(h), pub: pub}
	if keyHash(name, pub) != v.hash {
		return nil, errors.New("merkle: verifier key hash does not match its key")
	}
	return v, nil
}

// Name is the key name.
func (v *Verifier) Name() string { return v.name }

// Open checks that note carries a valid signature by v and returns its
// text. Signatures by other keys are ignored (a note may be cosigned);
// ErrSignature when none is v's or v's does not verify.
func (v *Verifier) Open(note string) (string, error) {
	if len(note) > 1<<20 {
		return "", errors.New("merkle: note too large")
	}
	if !utf8.ValidString(note) {
		return "", errors.New("merkle: note is not UTF-8")
	}
	i := strings.LastIndex(note, "\n\n")
	if i < 0 {
		return "", errors.New("merkle: malformed note: no signature block")
	}
	text, sigs := note[:i+1], note[i+2:]
	if err := checkText(text); err != nil {
		return "", err
	}
	if sigs == "" || !strings.HasSuffix(sigs, "\n") {
		return "", errors.New("merkle: malformed note: no signature lines")
	}
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return "", errors.New("merkle: malformed note signature line")
		}
		name, b64, ok := strings.Cut(rest, " ")
		if !ok || !validKeyName(name) {
			return "", errors.New("merkle: malformed note signature line")
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 5 {
			return "", errors.New("merkle: malformed note signature")
		}
		if name != v.name || binary.BigEndian.Uint32(sig) != v.hash {
			continue
		}
		if len(sig) == 4+ed25519.SignatureSize && ed25519.Verify(v.pub, []byte(text), sig[4:]) {
			return text, nil
		}
		return "", ErrSignature
	}
	return "", ErrSignature
}

func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.ContainsAny(name, "+ \t\n\r") &&
		!strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func checkText(text string) error {
	switch {
	case text == "" || !strings.HasSuffix(text, "\n"):
		return errors.New("merkle: note text must end in a newline")
	case !utf8.ValidString(text):
		return errors.New("merkle: note text is not UTF-8")
	case strings.Contains(text, "\n\n") || strings.HasPrefix(text, "\n"):
		return errors.New("merkle: note text must not hold a blank line")
	case bytes.ContainsFunc([]byte(text), func(r rune) bool { return r != '\n' && (r < 0x20 || r == 0x7f) }):
		return errors.New("merkle: note text holds control characters")
	}
	return nil
}
