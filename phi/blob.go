package phi

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
)

const (
	nonceSize  = 12 // AES-GCM standard nonce
	blobPrefix = "carecrest/blob/v1|"
)

// SealBlob encrypts plaintext under owner's data key (creating the key on
// first use), for payloads that are not records, such as dead-lettered
// messages (owner keys.OwnerDeadLetter). The result is nonce || ciphertext;
// it opens only with the same owner and aad. The additional data used is
// "carecrest/blob/v1|" + owner + "|" + aad, so a blob never opens as a record
// field or as another owner's blob.
func (s *Sealer) SealBlob(ctx context.Context, owner string, plaintext, aad []byte) ([]byte, error) {
	dk, err := s.dataKey(ctx, owner, true)
	if err != nil {
		return nil, err
	}
	return seal(dk.aead, plaintext, blobAAD(owner, aad)), nil
}

// OpenBlob decrypts a blob made by SealBlob for the same owner and aad. It
// fails with ErrIntegrity if the blob was modified or belongs to another
// owner or aad, and with ErrNoKey if owner has no data key.
func (s *Sealer) OpenBlob(ctx context.Context, owner string, blob, aad []byte) ([]byte, error) {
	dk, err := s.dataKey(ctx, owner, false)
	if err != nil {
		return nil, err
	}
	return open(dk.aead, blob, blobAAD(owner, aad))
}

func blobAAD(owner string, aad []byte) []byte {
	b := make([]byte, 0, len(blobPrefix)+len(owner)+1+len(aad))
	b = append(b, blobPrefix...)
	b = append(b, owner...)
	b = append(b, '|')
	return append(b, aad...)
}

// seal returns nonce || AES-GCM(plaintext, aad) with a random nonce.
func seal(aead cipher.AEAD, plaintext, aad []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+aead.Overhead())
	rand.Read(out) // never returns an error
	return aead.Seal(out, out, plaintext, aad)
}

// open reverses seal; every failure is ErrIntegrity.
func open(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < nonceSize+aead.Overhead() {
		return nil, ErrIntegrity
	}
	plain, err := aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil {
		return nil, ErrIntegrity
	}
	return plain, nil
}
