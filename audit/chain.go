package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
)

// GenesisHash is the PrevHash of the first event of every shard.
var GenesisHash = hex.EncodeToString(make([]byte, sha256.Size))

// ComputeHash returns the chain hash of e: SHA-256 over the previous hash and
// a canonical, length-prefixed encoding of every field of the event except
// Hash itself. Any change to a stored field, or to the order of events,
// changes the hash of that event and of every event after it.
func ComputeHash(e *Event) string {
	h := sha256.New()
	writeStr(h, "carecrest-audit-v1")
	writeStr(h, e.PrevHash)
	writeStr(h, e.Shard)
	writeU64(h, e.Seq)
	writeStr(h, e.ID)
	writeU64(h, uint64(e.Time.UTC().UnixNano()))
	for _, s := range []string{e.Code, e.Action, e.Outcome, e.ActorID} {
		writeStr(h, s)
	}
	writeList(h, e.ActorRoles)
	for _, s := range []string{e.ActorOrg, e.Application, e.Purpose, e.PatientID, e.RecordType} {
		writeStr(h, s)
	}
	writeList(h, e.RecordIDs)
	writeList(h, e.Disclosed)
	writeList(h, e.Masked)
	writeStr(h, e.PolicyRevision)
	writeList(h, e.Rules)
	writeList(h, e.Consents)
	for _, s := range []string{e.Reason, e.RequestID, e.Key} {
		writeStr(h, s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Head is the position of the last event of a shard.
type Head struct {
	Seq  uint64
	Hash string
}

// Link assigns shard, sequence numbers and hashes to events, continuing the
// chain from head, and returns the new head. It mutates events in place.
func Link(shard string, head Head, events []Event) Head {
	for i := range events {
		e := &events[i]
		e.Shard = shard
		head.Seq++
		e.Seq = head.Seq
		if head.Hash == "" {
			head.Hash = GenesisHash
		}
		e.PrevHash = head.Hash
		e.Hash = ComputeHash(e)
		head.Hash = e.Hash
	}
	return head
}

// Normalize sorts the list fields of e so that equal events hash equally
// whatever order their producer listed fields in.
func Normalize(e *Event) {
	for _, l := range [][]string{e.ActorRoles, e.RecordIDs, e.Disclosed, e.Masked, e.Rules, e.Consents} {
		sort.Strings(l)
	}
}

func writeStr(h hash.Hash, s string) {
	writeU64(h, uint64(len(s)))
	h.Write([]byte(s))
}

func writeU64(h hash.Hash, v uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	h.Write(b[:])
}

func writeList(h hash.Hash, l []string) {
	writeU64(h, uint64(len(l)))
	for _, s := range l {
		writeStr(h, s)
	}
}
