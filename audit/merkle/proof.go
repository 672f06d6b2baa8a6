package merkle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carecrest/hub/audit"
)

// Event is an audit event as proofs carry it: every field its chain hash
// covers, under the names the GraphQL audit API uses, plus the chain fields
// (key, prevHash) the hash needs.
type Event struct {
	ID             string    `json:"id"`
	Time           time.Time `json:"time"`
	Code           string    `json:"code"`
	Action         string    `json:"action"`
	Outcome        string    `json:"outcome"`
	ActorID        string    `json:"actor"`
	ActorRoles     []string  `json:"roles"`
	ActorOrg       string    `json:"organization"`
	Application    string    `json:"application"`
	Purpose        string    `json:"purpose"`
	PatientID      string    `json:"patient"`
	RecordType     string    `json:"recordType"`
	RecordIDs      []string  `json:"recordIds"`
	Disclosed      []string  `json:"disclosed"`
	Masked         []string  `json:"masked"`
	PolicyRevision string    `json:"policyRevision"`
	Rules          []string  `json:"rules"`
	Consents       []string  `json:"consents"`
	Reason         string    `json:"reason"`
	RequestID      string    `json:"requestId"`
	Key            string    `json:"key"`
	Shard          string    `json:"shard"`
	Seq            uint64    `json:"seq"`
	PrevHash       string    `json:"prevHash"`
	Hash           string    `json:"hash"`
}

// EventOf converts an audit event.
func EventOf(e audit.Event) Event {
	return Event{
		ID: e.ID, Time: e.Time.UTC(), Code: e.Code, Action: e.Action, Outcome: e.Outcome, ActorID: e.ActorID,
		ActorRoles: e.ActorRoles, ActorOrg: e.ActorOrg, Application: e.Application, Purpose: e.Purpose,
		PatientID: e.PatientID, RecordType: e.RecordType, RecordIDs: e.RecordIDs, Disclosed: e.Disclosed,
		Masked: e.Masked, PolicyRevision: e.PolicyRevision, Rules: e.Rules, Consents: e.Consents,
		Reason: e.Reason, RequestID: e.RequestID, Key: e.Key, Shard: e.Shard, Seq: e.Seq,
		PrevHash: e.PrevHash, Hash: e.Hash,
	}
}

// Audit converts back to an audit event.
func (e Event) Audit() audit.Event {
	return audit.Event{
		ID: e.ID, Time: e.Time, Code: e.Code, Action: e.Action, Outcome: e.Outcome, ActorID: e.ActorID,
		ActorRoles: e.ActorRoles, ActorOrg: e.ActorOrg, Application: e.Application, Purpose: e.Purpose,
		PatientID: e.PatientID, RecordType: e.RecordType, RecordIDs: e.RecordIDs, Disclosed: e.Disclosed,
		Masked: e.Masked, PolicyRevision: e.PolicyRevision, Rules: e.Rules, Consents: e.Consents,
		Reason: e.Reason, RequestID: e.RequestID, Key: e.Key, Shard: e.Shard, Seq: e.Seq,
		PrevHash: e.PrevHash, Hash: e.Hash,
	}
}

// EventLeaf is the leaf hash of an event: RFC 6962's leaf hash of the 32
// bytes of audit.ComputeHash(e), recomputed from its content.
func EventLeaf(e *audit.Event) Hash {
	var data [32]byte
	hex.Decode(data[:], []byte(audit.ComputeHash(e))) // always 64 hex digits
	return LeafHash(data[:])
}

// InclusionProof proves that an event is leaf LeafIndex (its Seq - 1) of
// the tree of the first TreeSize events of Shard.
type InclusionProof struct {
	Shard     string `json:"shard"`
	LeafIndex uint64 `json:"leafIndex"`
	TreeSize  uint64 `json:"treeSize"`
	Hashes    []Hash `json:"hashes"`
	// Checkpoint is a signed checkpoint of TreeSize events of Shard, when
	// one was published; verify against a checkpoint you trust.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Event is the event proved, as stored when the proof was made.
	Event *Event `json:"event,omitempty"`
}

// ConsistencyProof proves that the tree of NewSize events of Shard extends
// the tree of its first OldSize events: nothing before OldSize changed.
type ConsistencyProof struct {
	Shard   string `json:"shard"`
	OldSize uint64 `json:"oldSize"`
	NewSize uint64 `json:"newSize"`
	Hashes  []Hash `json:"hashes"`
	// OldCheckpoint and NewCheckpoint are signed checkpoints of the two
	// sizes, when published.
	OldCheckpoint string `json:"oldCheckpoint,omitempty"`
	NewCheckpoint string `json:"newCheckpoint,omitempty"`
}

// VerifyInclusion checks, offline, that the event (JSON of an Event) is in
// the shard's log as covered by a trusted checkpoint: the checkpoint's
// signature by verifierKey, its origin and size against the proof, the
// event's shard and position, and the path from the event's leaf (its hash
// recomputed from its content) to the checkpoint's root.
func VerifyInclusion(eventJSON []byte, p InclusionProof, checkpoint, verifierKey string) error {
	v, err := NewVerifier(verifierKey)
	if err != nil {
		return err
	}
	cp, err := OpenCheckpoint(checkpoint, v)
	if err != nil {
		return err
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(eventJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return fmt.Errorf("merkle: event: %w", err)
	}
	switch {
	case cp.Origin != Origin(p.Shard):
		return fmt.Errorf("%w: the checkpoint is of %q, the proof of shard %q", ErrProof, cp.Origin, p.Shard)
	case cp.Size != p.TreeSize:
		return fmt.Errorf("%w: the checkpoint covers %d events, the proof %d", ErrProof, cp.Size, p.TreeSize)
	case ev.Shard != p.Shard || ev.Seq == 0 || ev.Seq-1 != p.LeafIndex:
		return fmt.Errorf("%w: the event is shard %q seq %d, the proof is for leaf %d of shard %q",
			ErrProof, ev.Shard, ev.Seq, p.LeafIndex, p.Shard)
	}
	e := ev.Audit()
	if err := CheckInclusion(p.LeafIndex, p.TreeSize, EventLeaf(&e), p.Hashes, cp.Root); err != nil {
		return fmt.Errorf("event %s (shard %s seq %d) against the checkpoint of %d events: %w", ev.ID, ev.Shard, ev.Seq, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks, offline, that the new checkpoint's log extends
// the old one's: both signed by verifierKey, of the same shard, with the
// sizes of the proof, and the proof leading to both roots.
func VerifyConsistency(oldCheckpoint, newCheckpoint string, p ConsistencyProof, verifierKey string) error {
	v, err := NewVerifier(verifierKey)
	if err != nil {
		return err
	}
	oldCP, err := OpenCheckpoint(oldCheckpoint, v)
	if err != nil {
		return fmt.Errorf("old checkpoint: %w", err)
	}
	newCP, err := OpenCheckpoint(newCheckpoint, v)
	if err != nil {
		return fmt.Errorf("new checkpoint: %w", err)
	}
	switch {
	case oldCP.Origin != Origin(p.Shard) || newCP.Origin != Origin(p.Shard):
		return fmt.Errorf("%w: checkpoints of %q and %q, a proof of shard %q", ErrProof, oldCP.Origin, newCP.Origin, p.Shard)
	case oldCP.Size != p.OldSize || newCP.Size != p.NewSize:
		return fmt.Errorf("%w: checkpoints of %d and %d events, a proof from %d to %d", ErrProof, oldCP.Size, newCP.Size, p.OldSize, p.NewSize)
	}
	if err := CheckConsistency(p.OldSize, p.NewSize, p.Hashes, oldCP.Root, newCP.Root); err != nil {
		return fmt.Errorf("shard %s from %d to %d events: %w", p.Shard, p.OldSize, p.NewSize, err)
	}
	return nil
}
