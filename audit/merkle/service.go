package merkle

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/oklog/ulid/v2"
	"github.com/segmentio/kafka-go"
)

// Audit vocabulary of checkpoint events.
const (
	// ActionCheckpoint is the action of a checkpoint event.
	ActionCheckpoint = "audit.checkpoint"
	// RecordTypeCheckpoint is the record type of a checkpoint event.
	RecordTypeCheckpoint = "AuditCheckpoint"
	// DefaultTopic is the Kafka topic checkpoints are published to.
	DefaultTopic = "carecrest.audit.checkpoints"
)

// Errors of the proof service. Their messages name shards, positions and
// event ids only.
var (
	// ErrNotFound: no event with that id, or no checkpoint of that shard.
	ErrNotFound = errors.New("merkle: not found")
	// ErrInvalid: arguments that cannot describe a proof (a size smaller
	// than the event's position, sizes out of order, an id that is not a
	// ULID).
	ErrInvalid = errors.New("merkle: invalid request")
	// ErrTampered: the stored log no longer matches a signed checkpoint, or
	// its chain is broken; run `hubctl audit verify` for the positions.
	ErrTampered = errors.New("merkle: the stored audit log does not match its checkpoints")
	// ErrPublish: the checkpoint is in the audit log but could not be
	// written to Kafka.
	ErrPublish = errors.New("merkle: checkpoint not published to Kafka")
)

// Publisher writes checkpoints to Kafka (kafka.Writer).
//
// Contract: WriteMessages returns nil only when every message is
// acknowledged by the broker.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// DataKeyer gives the data key of an owner (phi.Sealer).
type DataKeyer interface {
	DataKey(ctx context.Context, owner string) ([]byte, error)
}

// KeySigner returns the hub's checkpoint signer: its Ed25519 seed is the
// data key of keys.OwnerAuditSigning, created on first use and stored
// wrapped by the key manager like every data key.
func KeySigner(ctx context.Context, k DataKeyer) (*Signer, error) {
	seed, err := k.DataKey(ctx, keys.OwnerAuditSigning)
	if err != nil {
		return nil, fmt.Errorf("merkle: checkpoint signing key: %w", err)
	}
	return NewSigner(KeyName, seed)
}

// Deps are what the proof service works over.
type Deps struct {
	Chain  audit.ChainReader // reads each shard in sequence order
	Events audit.Querier     // finds events by id and published checkpoints
	// Log records published checkpoints; nil makes the service read-only
	// (Publish fails).
	Log    audit.Appender
	Signer *Signer
	// Instance is the hub instance (the actor of checkpoint events).
	Instance string
	// Publisher, when set, also writes each published checkpoint to Topic
	// (default DefaultTopic), keyed by shard.
	Publisher Publisher
	Topic     string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Service makes checkpoints and proofs over the stored audit log. Every
// proof is computed from the events as stored now, in one ordered pass over
// the shard, so an event changed after a checkpoint no longer proves
// against it.
type Service struct {
	d        Deps
	verifier *Verifier

	mu   sync.Mutex
	last map[string]Checkpoint // by shard: the largest this process signed
}

// NewService returns a proof service.
func NewService(d Deps) (*Service, error) {
	if d.Chain == nil || d.Events == nil || d.Signer == nil {
		return nil, errors.New("merkle: NewService needs a chain reader, a querier and a signer")
	}
	if d.Topic == "" {
		d.Topic = DefaultTopic
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := NewVerifier(d.Signer.VerifierKey())
	if err != nil {
		return nil, err
	}
	return &Service{d: d, verifier: v, last: map[string]Checkpoint{}}, nil
}

// VerifierKey is the public key that checks this hub's checkpoints.
func (s *Service) VerifierKey() string { return s.d.Signer.VerifierKey() }

// Shards lists the shards of the log.
func (s *Service) Shards(ctx context.Context) ([]string, error) { return s.d.Chain.Shards(ctx) }

// Sign returns a new signed checkpoint of shard over every event stored in
// it now, without publishing it. It refuses (ErrTampered) when the shard no
// longer matches its latest checkpoint (events changed, removed or
// truncated since), or its chain has a hole: a signer must never vouch for
// a rewritten history. The latest checkpoint is the larger of the latest
// published in the log and the latest this service signed: events removed
// from the end together with the checkpoint events after them are caught
// while the process runs, and by anyone holding a later checkpoint (Kafka,
// verifiers) always.
func (s *Service) Sign(ctx context.Context, shard string) (Checkpoint, error) {
	shards, err := s.d.Chain.Shards(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if shard != s.d.Instance && !slices.Contains(shards, shard) { // never sign (nor remember) a shard that is not there
		return Checkpoint{}, fmt.Errorf("%w: no shard %s", ErrNotFound, shard)
	}
	prev, havePrev, err := s.Latest(ctx, shard)
	if err != nil {
		return Checkpoint{}, err
	}
	s.mu.Lock()
	if mem, ok := s.last[shard]; ok && (!havePrev || mem.Size > prev.Size) {
		prev, havePrev = mem, true
	}
	s.mu.Unlock()
	var sizes []uint64
	if havePrev {
		sizes = []uint64{prev.Size}
	}
	c, err := NewCollector(nil, sizes, nil)
	if err != nil {
		return Checkpoint{}, err
	}
	c.TrackHead()
	now := s.d.Now()
	p, err := s.pass(ctx, shard, c, 0, 0)
	if err != nil {
		return Checkpoint{}, err
	}
	if havePrev {
		if p.n < prev.Size {
			return Checkpoint{}, fmt.Errorf("%w: shard %s holds %d events, its checkpoint of %s covers %d (events removed)",
				ErrTampered, shard, p.n, prev.Time.Format(time.RFC3339), prev.Size)
		}
		_, roots, _, err := c.Result()
		if err != nil {
			return Checkpoint{}, err
		}
		if roots[0] != prev.Root {
			return Checkpoint{}, fmt.Errorf("%w: shard %s: the first %d events no longer match the checkpoint of %s",
				ErrTampered, shard, prev.Size, prev.Time.Format(time.RFC3339))
		}
	}
	cp, err := SignCheckpoint(Checkpoint{Origin: Origin(shard), Size: p.n, Root: c.Head(), Time: now}, s.d.Signer)
	if err != nil {
		return Checkpoint{}, err
	}
	s.mu.Lock()
	if mem, ok := s.last[shard]; !ok || cp.Size >= mem.Size {
		s.last[shard] = cp
	}
	s.mu.Unlock()
	return cp, nil
}

// Publish signs a checkpoint of shard (as Sign), appends it to the audit
// log as a CodeCheckpoint event (durably: on error it is not published) and
// writes it to Kafka when a publisher is set. A Kafka failure is reported
// as ErrPublish with the checkpoint, which is in the log.
func (s *Service) Publish(ctx context.Context, shard string) (Checkpoint, error) {
	if s.d.Log == nil {
		return Checkpoint{}, errors.New("merkle: this service cannot publish (no audit log to append to)")
	}
	cp, err := s.Sign(ctx, shard)
	if err != nil {
		return Checkpoint{}, err
	}
	return s.record(ctx, shard, cp)
}

// PublishIfGrown publishes a checkpoint of shard (as Publish) unless
// nothing but the latest checkpoint's own event was appended since it, or
// the shard is empty: a schedule's idle ticks add nothing to the log. ok
// reports whether it published.
func (s *Service) PublishIfGrown(ctx context.Context, shard string) (cp Checkpoint, ok bool, err error) {
	prev, havePrev, err := s.Latest(ctx, shard)
	if err != nil {
		return Checkpoint{}, false, err
	}
	if cp, err = s.Sign(ctx, shard); err != nil {
		return Checkpoint{}, false, err
	}
	if !havePrev && cp.Size == 0 {
		return cp, false, nil
	}
	if havePrev {
		idle := prev.Size // nothing appended
		if shard == s.d.Instance {
			idle++ // only the checkpoint event, in the shard it covers
		}
		if cp.Size <= idle {
			return prev, false, nil
		}
	}
	cp, err = s.record(ctx, shard, cp)
	return cp, err == nil || errors.Is(err, ErrPublish), err
}

// record appends a signed checkpoint to the audit log and Kafka.
func (s *Service) record(ctx context.Context, shard string, cp Checkpoint) (Checkpoint, error) {
	if s.d.Log == nil {
		return Checkpoint{}, errors.New("merkle: this service cannot publish (no audit log to append to)")
	}
	ev := audit.Event{
		Time: s.d.Now().UTC(), Code: audit.CodeCheckpoint, Action: ActionCheckpoint, Outcome: audit.OutcomeAllow,
		ActorID: s.d.Instance, RecordType: RecordTypeCheckpoint, Reason: cp.Note,
	}
	if err := s.d.Log.Append(ctx, []audit.Event{ev}); err != nil {
		return Checkpoint{}, fmt.Errorf("merkle: record checkpoint: %w", err)
	}
	s.d.Logger.Info("audit checkpoint published", "shard", shard, "size", cp.Size, "root", cp.Root.String())
	if s.d.Publisher != nil {
		msg := kafka.Message{Topic: s.d.Topic, Key: []byte(shard), Value: []byte(cp.Note), Time: cp.Time}
		if err := s.d.Publisher.WriteMessages(ctx, msg); err != nil {
			return cp, fmt.Errorf("%w (topic %s): %v", ErrPublish, s.d.Topic, err)
		}
	}
	return cp, nil
}

// Checkpoint returns the latest published checkpoint of shard, publishing
// one when there is none yet.
func (s *Service) Checkpoint(ctx context.Context, shard string) (Checkpoint, error) {
	cp, ok, err := s.Latest(ctx, shard)
	if err != nil || ok {
		return cp, err
	}
	if s.d.Log == nil {
		return Checkpoint{}, fmt.Errorf("%w: no checkpoint of shard %s", ErrNotFound, shard)
	}
	return s.Publish(ctx, shard)
}

// Latest returns the published checkpoint of shard with the most events
// (ok false when none is published). Checkpoint events whose signature does
// not verify are skipped and logged: they were not made by this hub's key.
func (s *Service) Latest(ctx context.Context, shard string) (Checkpoint, bool, error) {
	cps, err := s.Published(ctx, shard)
	if err != nil || len(cps) == 0 {
		return Checkpoint{}, false, err
	}
	return cps[len(cps)-1], true, nil
}

// Published lists the checkpoints of shard published in the audit log, by
// size, then time.
func (s *Service) Published(ctx context.Context, shard string) ([]Checkpoint, error) {
	var out []Checkpoint
	f := audit.Filter{Codes: []string{audit.CodeCheckpoint}, Limit: 1000}
	for {
		evs, err := s.d.Events.Query(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("merkle: read checkpoints: %w", err)
		}
		for _, e := range evs {
			cp, err := OpenCheckpoint(e.Reason, s.verifier)
			if err != nil {
				s.d.Logger.Warn("audit checkpoint event does not verify; ignored", "event", e.ID, "shard", e.Shard, "seq", e.Seq, "err", err)
				continue
			}
			if cp.Origin == Origin(shard) {
				out = append(out, cp)
			}
		}
		if len(evs) < f.Limit {
			break
		}
		f.After = evs[len(evs)-1].ID
	}
	// Insertion sort by (size, time): the list is short and nearly sorted.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && less(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

func less(a, b Checkpoint) bool {
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	return a.Time.Before(b.Time)
}

// InclusionProof proves the event with id in the tree of the first
// treeSize events of its shard. treeSize 0 means the latest published
// checkpoint that covers the event (publishing one when none does). The
// proof carries the published checkpoint of that size, if any; if the
// stored events no longer match it, ErrTampered.
func (s *Service) InclusionProof(ctx context.Context, eventID string, treeSize uint64) (InclusionProof, error) {
	ev, err := s.find(ctx, eventID)
	if err != nil {
		return InclusionProof{}, err
	}
	shard, idx := ev.Shard, ev.Seq-1
	cps, err := s.Published(ctx, shard)
	if err != nil {
		return InclusionProof{}, err
	}
	var cp *Checkpoint
	if treeSize == 0 {
		if n := len(cps); n > 0 && cps[n-1].Size > idx {
			cp = &cps[n-1]
		} else {
			c, err := s.Publish(ctx, shard)
			if err != nil && !errors.Is(err, ErrPublish) {
				return InclusionProof{}, err
			}
			cp = &c
		}
		treeSize = cp.Size
	} else {
		for i := range cps {
			if cps[i].Size == treeSize {
				cp = &cps[i]
			}
		}
	}
	if treeSize <= idx {
		return InclusionProof{}, fmt.Errorf("%w: event %s is at position %d of shard %s, past a tree of %d events",
			ErrInvalid, eventID, ev.Seq, shard, treeSize)
	}
	ranges, err := InclusionRanges(idx, treeSize)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// The leaf and its path give the head: no second hash per leaf.
	c, err := NewCollector(ranges, nil, []uint64{idx})
	if err != nil {
		return InclusionProof{}, err
	}
	p, err := s.pass(ctx, shard, c, treeSize, ev.Seq)
	if err != nil {
		return InclusionProof{}, err
	}
	hashes, _, leaves, err := c.Result()
	if err != nil {
		return InclusionProof{}, fmt.Errorf("%w: shard %s holds %d events, fewer than %d", ErrInvalid, shard, p.n, treeSize)
	}
	if p.event == nil || p.event.ID != eventID {
		return InclusionProof{}, fmt.Errorf("%w: shard %s: event %s is no longer at position %d", ErrTampered, shard, eventID, ev.Seq)
	}
	root, err := RootFromInclusion(idx, treeSize, leaves[0], hashes)
	if err != nil {
		return InclusionProof{}, err
	}
	out := InclusionProof{Shard: shard, LeafIndex: idx, TreeSize: treeSize, Hashes: hashes}
	if cp != nil {
		if root != cp.Root {
			return InclusionProof{}, fmt.Errorf("%w: shard %s: the first %d events no longer match the checkpoint of %s",
				ErrTampered, shard, treeSize, cp.Time.Format(time.RFC3339))
		}
		out.Checkpoint = cp.Note
	}
	e := EventOf(*p.event)
	out.Event = &e
	return out, nil
}

// ConsistencyProof proves that the first size2 events of shard extend its
// first size1 events. size2 0 means the latest published checkpoint. The
// proof carries the published checkpoints of both sizes, if any; if the
// stored events no longer match one of them, ErrTampered.
func (s *Service) ConsistencyProof(ctx context.Context, shard string, size1, size2 uint64) (ConsistencyProof, error) {
	cps, err := s.Published(ctx, shard)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if size2 == 0 {
		if len(cps) == 0 {
			return ConsistencyProof{}, fmt.Errorf("%w: no checkpoint of shard %s", ErrNotFound, shard)
		}
		size2 = cps[len(cps)-1].Size
	}
	ranges, err := ConsistencyRanges(size1, size2)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c, err := NewCollector(ranges, []uint64{size1, size2}, nil)
	if err != nil {
		return ConsistencyProof{}, err
	}
	p, err := s.pass(ctx, shard, c, size2, 0)
	if err != nil {
		return ConsistencyProof{}, err
	}
	hashes, roots, _, err := c.Result()
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("%w: shard %s holds %d events, fewer than %d", ErrInvalid, shard, p.n, size2)
	}
	out := ConsistencyProof{Shard: shard, OldSize: size1, NewSize: size2, Hashes: hashes}
	for _, cp := range cps {
		for i, size := range []uint64{size1, size2} {
			if cp.Size != size {
				continue
			}
			if cp.Root != roots[i] {
				return ConsistencyProof{}, fmt.Errorf("%w: shard %s: the first %d events no longer match the checkpoint of %s",
					ErrTampered, shard, size, cp.Time.Format(time.RFC3339))
			}
			if i == 0 {
				out.OldCheckpoint = cp.Note
			} else {
				out.NewCheckpoint = cp.Note
			}
		}
	}
	return out, nil
}

// find reads the event with id through the querier: the first event whose
// id is not below id.
func (s *Service) find(ctx context.Context, id string) (audit.Event, error) {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return audit.Event{}, fmt.Errorf("%w: event id is not a ULID", ErrInvalid)
	}
	f := audit.Filter{After: predecessor(u), Limit: 1}
	// An event's id is made from its time: look there first, which lets
	// the store use its time index; then anywhere.
	t := ulid.Time(u.Time())
	for _, bounded := range []bool{true, false} {
		if bounded {
			f.From, f.To = t, t.Add(time.Millisecond)
		} else {
			f.From, f.To = time.Time{}, time.Time{}
		}
		evs, err := s.d.Events.Query(ctx, f)
		if err != nil {
			return audit.Event{}, fmt.Errorf("merkle: find event: %w", err)
		}
		if len(evs) == 1 && evs[0].ID == id {
			if evs[0].Seq == 0 || evs[0].Shard == "" {
				return audit.Event{}, fmt.Errorf("%w: event %s has no chain position", ErrTampered, id)
			}
			return evs[0], nil
		}
	}
	return audit.Event{}, fmt.Errorf("%w: no event %s", ErrNotFound, id)
}

// predecessor is the ULID string just below u ("" for the zero ULID), the
// After cursor that makes a query start at u.
func predecessor(u ulid.ULID) string {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] > 0 {
			u[i]--
			return u.String()
		}
		u[i] = 0xff
	}
	return ""
}

// passResult is what one pass over a shard saw.
type passResult struct {
	n     uint64       // leaves read
	event *audit.Event // the event at the position asked for, if any
}

var errStop = errors.New("stop")

// pass reads shard in sequence order and feeds each event's leaf to c,
// stopping after upTo leaves (0: all). It keeps the event at seq want. The
// stored chain must hold positions 1, 2, ... without a hole; an exact copy
// of the previous position (a backend's duplicate row) is skipped; any
// other break is ErrTampered.
func (s *Service) pass(ctx context.Context, shard string, c *Collector, upTo, want uint64) (passResult, error) {
	var res passResult
	var last Hash
	prev := audit.GenesisHash
	err := s.d.Chain.ReadChain(ctx, shard, func(e audit.Event) error {
		if upTo > 0 && res.n >= upTo {
			return errStop
		}
		h := audit.ComputeHash(&e)
		var data [32]byte
		hex.Decode(data[:], []byte(h)) // always 64 hex digits
		leaf := LeafHash(data[:])
		switch {
		case e.Seq == res.n && res.n > 0 && leaf == last:
			return nil // the same event stored twice
		case e.Seq != res.n+1:
			return fmt.Errorf("%w: shard %s: the chain breaks at position %d (stored seq %d); run hubctl audit verify",
				ErrTampered, shard, res.n+1, e.Seq)
		case h != e.Hash || e.PrevHash != prev:
			// Never sign over, or prove from, an event whose content no
			// longer matches its chain hash or whose link is broken: a
			// checkpoint must not vouch for a rewritten history.
			return fmt.Errorf("%w: shard %s: the event at position %d does not match the hash chain; run hubctl audit verify",
				ErrTampered, shard, e.Seq)
		}
		prev = e.Hash
		if e.Seq == want {
			ev := e
			res.event = &ev
		}
		c.Add(leaf)
		last = leaf
		res.n++
		if err := ctx.Err(); err != nil && res.n%4096 == 0 {
			return err
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return passResult{}, err
	}
	return res, nil
}
