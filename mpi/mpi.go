// Package mpi is the hub's master patient index: it turns the identifiers a
// message gives for its patient (MRNs qualified by assigning authority,
// national ids, source-scoped FHIR ids) into one enterprise patient id.
//
// Identifiers are PHI, so the index never stores or looks them up in
// plaintext: each identifier becomes an HMAC-SHA256 under the hub's index key
// (from the key manager), and only those keyed hashes are stored.
package mpi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/carecrest/hub/record"
)

// Links stores identifier hashes and the enterprise id each links to.
//
// Contract: PutLinks stores each hash → patient link unless the hash is
// already linked (the first link wins) and returns only when durable.
type Links interface {
	LookupLinks(ctx context.Context, hashes []string) (map[string]string, error)
	PutLinks(ctx context.Context, links map[string]string) error
}

// ErrNoIdentifier reports a record with no patient identifier.
var ErrNoIdentifier = errors.New("mpi: record names no patient identifier")

// Index resolves identifiers to enterprise patient ids. It is safe for
// concurrent use.
type Index struct {
	key   []byte
	links Links

	mu    sync.Mutex
	cache map[string]string // hash → patient id, bounded
	limit int
}

// New returns an index that hashes identifiers under key.
func New(key []byte, links Links) *Index {
	return &Index{key: key, links: links, cache: make(map[string]string), limit: 100_000}
}

// Hash returns the keyed hash of an identifier.
func (x *Index) Hash(id record.Identifier) string {
	m := hmac.New(sha256.New, x.key)
	m.Write([]byte(strings.TrimSpace(id.System)))
	m.Write([]byte{0})
	m.Write([]byte(strings.TrimSpace(id.Value)))
	return hex.EncodeToString(m.Sum(nil))
}

// newPatientID derives a new enterprise id from the first identifier's hash,
// so that a redelivered message resolves to the same id.
func newPatientID(hash string) string {
	b, _ := hex.DecodeString(hash)
	m := sha256.Sum256(append([]byte("carecrest/epi/v1|"), b...))
	return "P" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m[:10]))
}

// ResolveAll resolves the subjects of many records at once and returns one
// enterprise id per subject. Subjects that share an identifier resolve to
// the same id even when both are new. Links are durable when it returns.
func (x *Index) ResolveAll(ctx context.Context, subjects [][]record.Identifier) ([]string, error) {
	hashes := make([][]string, len(subjects))
	var all []string
	for i, ids := range subjects {
		for _, id := range ids {
			if strings.TrimSpace(id.Value) == "" {
				continue
			}
			h := x.Hash(id)
			hashes[i] = append(hashes[i], h)
			all = append(all, h)
		}
		if len(hashes[i]) == 0 {
			return nil, fmt.Errorf("%w (record %d of batch)", ErrNoIdentifier, i)
		}
	}
	known := make(map[string]string, len(all))
	var missing []string
	x.mu.Lock()
	for _, h := range all {
		if p, ok := x.cache[h]; ok {
			known[h] = p
		} else {
			missing = append(missing, h)
		}
	}
	x.mu.Unlock()
	if len(missing) > 0 {
		found, err := x.links.LookupLinks(ctx, missing)
		if err != nil {
			return nil, err
		}
		for h, p := range found {
			known[h] = p
		}
	}
	out := make([]string, len(subjects))
	newLinks := make(map[string]string)
	for i, hs := range hashes {
		pid := ""
		for _, h := range hs {
			if p, ok := known[h]; ok {
				pid = p
				break
			}
		}
		if pid == "" {
			pid = newPatientID(hs[0])
		}
		for _, h := range hs {
			if _, ok := known[h]; !ok {
				known[h] = pid
				newLinks[h] = pid
			}
		}
		out[i] = pid
	}
	if len(newLinks) > 0 {
		if err := x.links.PutLinks(ctx, newLinks); err != nil {
			return nil, err
		}
		// The store keeps the first link of a hash; re-read what won so that
		// a concurrent writer's link is respected.
		keys := make([]string, 0, len(newLinks))
		for h := range newLinks {
			keys = append(keys, h)
		}
		stored, err := x.links.LookupLinks(ctx, keys)
		if err != nil {
			return nil, err
		}
		for i, hs := range hashes {
			if p, ok := stored[hs[0]]; ok && p != out[i] {
				out[i] = p
			}
		}
		for h, p := range stored {
			known[h] = p
		}
	}
	x.mu.Lock()
	if len(x.cache) > x.limit {
		clear(x.cache)
	}
	for _, hs := range hashes {
		for _, h := range hs {
			x.cache[h] = known[h]
		}
	}
	x.mu.Unlock()
	return out, nil
}

// Lookup returns the enterprise id linked to an identifier, if any.
func (x *Index) Lookup(ctx context.Context, id record.Identifier) (string, bool, error) {
	h := x.Hash(id)
	found, err := x.links.LookupLinks(ctx, []string{h})
	if err != nil {
		return "", false, err
	}
	p, ok := found[h]
	return p, ok, nil
}
