// Package mpi is the hub's master patient index: it turns the identifiers a
// message gives for its patient (MRNs qualified by assigning authority,
// national ids, source-scoped FHIR ids) into one enterprise patient id.
//
// Identifiers are PHI, so the index never stores or looks them up in
// plaintext: each identifier becomes an HMAC-SHA256 under the hub's index key
// (from the key manager), and only those keyed hashes are stored.
//
// The same Links store, under keys derived from the index key, also holds:
//
//   - merges (merge.go): Merge, Canonical (the survivor of an id), Group
//     and Aliases (every id merged into a survivor), PlanMerges for ingest;
//   - care relationships (care.go): PutFacts, HasRelationship;
//   - demographic match keys (care.go, demographics.go): SharesSurname,
//     SharesAddress.
//
// None of them needs a table of its own, so every store backend that
// implements Links supports them.
package mpi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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
//
// Besides identifier links it keeps, in the same Links store and under keys
// derived from the index key (see linkHash), the merges of patients
// (merge.go), the care relationships of practitioners and patients
// (care.go) and demographic match keys (demographics.go).
type Index struct {
	key   []byte
	dkey  []byte // key of the derived links, from key
	links Links
	now   func() time.Time
	// mergeTTL bounds how long ResolveAll trusts that a patient has not
	// been merged (by another hub instance); reads never use that cache.
	mergeTTL time.Duration

	mu       sync.Mutex
	cache    map[string]string    // hash → patient id, bounded
	merged   map[string]string    // retired id → the id it was merged into (links are permanent)
	unmerged map[string]time.Time // id → when it was last seen not merged
	known    map[string]struct{}  // fact hashes this instance stored (care, surname, address)
	related  map[string]struct{}  // care hashes (practitioner, asked id) answered true
	limit    int
}

// New returns an index that hashes identifiers under key.
func New(key []byte, links Links) *Index {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("carecrest/mpi/derived-links/v1"))
	return &Index{
		key: key, dkey: m.Sum(nil), links: links, now: time.Now, mergeTTL: 5 * time.Second,
		cache: make(map[string]string), merged: make(map[string]string),
		unmerged: make(map[string]time.Time), known: make(map[string]struct{}), related: make(map[string]struct{}),
		limit: 100_000,
	}
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
//
// A subject whose patient was merged resolves to the survivor (Canonical).
// A merge made by another hub instance is seen within mergeTTL (5 s); a
// record linked meanwhile to the retired id is still part of the merged
// patient (Group), so nothing is lost.
func (x *Index) ResolveAll(ctx context.Context, subjects [][]record.Identifier) ([]string, error) {
	ids, err := x.resolve(ctx, subjects)
	if err != nil {
		return nil, err
	}
	can, err := x.canonical(ctx, ids, true)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		ids[i] = can[id]
	}
	return ids, nil
}

// resolve is ResolveAll without following merges: the enterprise id each
// subject's identifiers are linked to.
func (x *Index) resolve(ctx context.Context, subjects [][]record.Identifier) ([]string, error) {
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

// Lookup returns the enterprise id linked to an identifier, if any. The
// identifier of a merged patient returns the survivor.
func (x *Index) Lookup(ctx context.Context, id record.Identifier) (string, bool, error) {
	h := x.Hash(id)
	found, err := x.links.LookupLinks(ctx, []string{h})
	if err != nil {
		return "", false, err
	}
	p, ok := found[h]
	if !ok {
		return "", false, nil
	}
	p, err = x.Canonical(ctx, p)
	if err != nil {
		return "", false, err
	}
	return p, true, nil
}

// linkHash is the keyed hash of a derived link: kind and parts, each
// length-prefixed, under the derived key. Derived links can therefore never
// collide with identifier hashes or with each other.
func (x *Index) linkHash(kind string, parts ...string) string {
	m := hmac.New(sha256.New, x.dkey)
	var n [binary.MaxVarintLen64]byte
	for _, p := range append([]string{kind}, parts...) {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}
