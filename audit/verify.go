package audit

import (
	"context"
	"fmt"
	"sort"
)

// Problem kinds.
const (
	// KindModified: the stored content of the event at Seq does not match its
	// hash (a field, its Hash or its PrevHash was changed), and the event
	// sits in its place.
	KindModified = "modified"
	// KindGap: Missing events are gone from Seq on (deleted).
	KindGap = "gap"
	// KindUnexpected: the event stored at Seq does not belong there: it was
	// inserted (forged), or moved there from another position (reordered),
	// or it is a second copy of an event.
	KindUnexpected = "unexpected"
	// KindBrokenLink: the event at Seq is intact but does not name the event
	// stored before it: that event was replaced by one whose hash was
	// recomputed (or this one was rewritten with its hash recomputed).
	KindBrokenLink = "broken-link"
)

// Problem is one break in a stored chain.
type Problem struct {
	Shard string
	// Seq is the stored position of the problem: the Seq of the event
	// concerned or, for a gap, the first missing sequence number.
	Seq uint64
	// ID is the stored event at that position; empty for a gap.
	ID   string
	Kind string // one of the Kind constants
	// Missing is, for a gap, how many consecutive events are missing.
	Missing uint64
}

func (p Problem) String() string {
	if p.Kind == KindGap {
		return fmt.Sprintf("shard %s seq %d: gap (%d missing)", p.Shard, p.Seq, p.Missing)
	}
	return fmt.Sprintf("shard %s seq %d (event %s): %s", p.Shard, p.Seq, p.ID, p.Kind)
}

// Report is the result of verifying the stored chains.
type Report struct {
	Events   uint64
	Shards   int
	Problems []Problem
}

// OK reports whether every chain verified.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify walks every shard's chain and reports, one problem per tampered
// position, each event whose stored content does not match its hash
// (modified), each run of missing events (gap), each event that does not
// belong where it is stored (unexpected: inserted, reordered or copied) and
// each intact event that does not name its predecessor (broken-link). It
// keeps going after a problem so that one report lists them all; problems
// are ordered by shard, then position.
//
// Verify tells a renumbering (events after an insertion or deletion moved
// one position on or back) from a modification: the events renumbered still
// hash correctly under their original sequence number, so only the inserted
// event, or the gap, is reported, not every event after it.
//
// What a hash chain alone cannot show: events removed from the end of a
// shard, and a chain rewritten consistently (every hash recomputed) from
// some event to the end. Detecting those needs the head anchored outside
// the log (checkpoints).
func Verify(ctx context.Context, r ChainReader, opts ...VerifyOption) (Report, error) {
	var cfg verifyConfig
	for _, o := range opts {
		o(&cfg)
	}
	shards, err := r.Shards(ctx)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	rep.Shards = len(shards)
	prog := Progress{Shards: len(shards)}
	if cfg.progress != nil {
		if c, ok := r.(ChainCounter); ok {
			for _, shard := range shards {
				n, err := c.CountChain(ctx, shard)
				if err != nil { // progress without a total
					prog.Total = 0
					break
				}
				prog.Total += n
			}
		}
	}
	report := func() {
		prog.Events = rep.Events
		cfg.progress(prog)
	}
	for i, shard := range shards {
		w := newWalker()
		prog.Shard, prog.ShardIndex = shard, i
		if cfg.progress != nil {
			report()
		}
		err := r.ReadChain(ctx, shard, func(e Event) error {
			rep.Events++
			w.add(&e)
			if cfg.progress != nil && rep.Events%cfg.every == 0 {
				report()
			}
			return nil
		})
		for _, p := range w.finish() {
			p.Shard = shard
			rep.Problems = append(rep.Problems, p)
		}
		if err != nil {
			return rep, err
		}
	}
	if cfg.progress != nil {
		prog.Done = true
		report()
	}
	return rep, nil
}

// ChainCounter is a ChainReader that can count the events stored in a
// shard cheaply, without reading them. Verify uses it, when the reader has
// it, to give its progress reports a total.
type ChainCounter interface {
	CountChain(ctx context.Context, shard string) (uint64, error)
}

// Progress is how far Verify has walked the log.
type Progress struct {
	Shard      string // the shard being walked
	ShardIndex int    // its index among Shards (0-based)
	Shards     int
	Events     uint64 // events walked so far, every shard
	Total      uint64 // events stored, every shard; 0 when unknown
	Done       bool   // the last report: every shard walked
}

// VerifyOption configures Verify.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	progress func(Progress)
	every    uint64
}

// DefaultProgressEvery is how many events Verify walks between progress
// reports by default.
const DefaultProgressEvery = 4096

// WithProgress makes Verify call fn as it walks: when it starts each shard,
// every `every` events (DefaultProgressEvery when 0), and once at the end
// (Done). fn runs on Verify's goroutine and must be quick; the report
// Verify returns is the same with or without it.
func WithProgress(every uint64, fn func(Progress)) VerifyOption {
	return func(c *verifyConfig) {
		if every == 0 {
			every = DefaultProgressEvery
		}
		c.progress, c.every = fn, every
	}
}

const (
	// verifyWindow is how many accepted events the walker remembers, to
	// place an event moved back by up to this many positions.
	verifyWindow = 4096
	// verifyMaxSkip is the longest run of deleted events, with the events
	// after them renumbered, that the walker reports as one gap (longer
	// runs are reported as unexpected events).
	verifyMaxSkip = 16
)

// placed is an event as the walker placed it.
type placed struct {
	seq  uint64 // chain position: the Seq its hash verifies under
	pos  uint64 // stored position (its Seq as stored)
	id   string
	hash string // its stored Hash, which the next event names
	alt  string // the hash of its stored content, when that differs from hash
	prev string // its PrevHash
	prob int    // index of its problem in walker.probs, or -1
}

// named reports whether h names p (a successor's PrevHash).
func (p placed) named(h string) bool { return h == p.hash || (p.alt != "" && h == p.alt) }

type holdKind int

const (
	// holdGap: an intact event ahead of its position; either the events
	// before it were deleted and the rest renumbered (its successor follows
	// it), or it was moved forward (its successor does not).
	holdGap holdKind = iota + 1
	// holdFork: an intact event behind its position that links into the
	// chain; either the events accepted since its predecessor were inserted
	// (its successor follows it), or it was moved back (it does not).
	holdFork
)

// walker verifies one shard, one event at a time. It accepts events into
// the chain it rebuilds (tip is the last accepted), flags the events that do
// not belong, and holds an event whose reading depends on its successor.
type walker struct {
	probs   []Problem
	last    uint64   // highest stored position read
	tip     placed   // the last accepted event; seq 0 is the genesis
	flagged []placed // events flagged unexpected since the tip

	held     placed
	heldKind holdKind // 0: nothing held
	heldX    uint64   // for holdGap: the chain position expected for it

	bySeq  map[uint64]placed // accepted events, recent window
	byHash map[string]uint64 // their hashes → chain position
	order  []uint64          // accepted chain positions, oldest first
}

func newWalker() *walker {
	w := &walker{bySeq: make(map[uint64]placed), byHash: make(map[string]uint64)}
	w.accept(placed{hash: GenesisHash, prob: -1})
	return w
}

func (w *walker) add(e *Event) {
	if w.heldKind != 0 {
		w.resolve(e)
	}
	w.place(e)
}

func (w *walker) finish() []Problem {
	if w.heldKind != 0 {
		w.resolve(nil)
	}
	sort.SliceStable(w.probs, func(i, j int) bool { return w.probs[i].Seq < w.probs[j].Seq })
	return w.probs
}

func (w *walker) place(e *Event) {
	p := e.Seq
	if p > w.last+1 {
		w.probs = append(w.probs, Problem{Seq: w.last + 1, Kind: KindGap, Missing: p - w.last - 1})
	}
	w.last = max(w.last, p)
	// x is the chain position the event takes if it is where it should be:
	// its stored position, less the shift left by earlier renumbering.
	x := int64(p) - (int64(w.tip.pos) - int64(w.tip.seq))
	// adjacent: nothing (no hole, no flagged event) between the tip and this
	// event, so its PrevHash must name the tip.
	adjacent := p == w.tip.pos+1
	pl := placed{pos: p, id: e.ID, hash: e.Hash, prev: e.PrevHash, prob: -1}

	h, intact := w.locate(e, x)
	if !intact {
		switch {
		case x <= int64(w.tip.seq): // its position is taken
			w.flag(pl)
		case adjacent && (w.tip.named(e.PrevHash) || w.verifies(e, uint64(x), w.tip.hash)):
			// In its place, linked (or only its PrevHash changed).
			pl.seq = uint64(x)
			pl.alt = w.hashAt(e, pl.seq)
			w.accept(w.withProblem(pl, KindModified))
		case adjacent: // neither its hash nor its link holds
			w.flag(pl)
		default:
			// After a gap or a flagged event its link cannot be checked;
			// take it as the event of its position, modified.
			pl.seq = uint64(x)
			pl.alt = w.hashAt(e, pl.seq)
			w.accept(w.withProblem(pl, KindModified))
		}
		return
	}

	pl.seq = h
	switch {
	case h > w.tip.seq && int64(h) == x: // in its place
		if adjacent && !w.tip.named(e.PrevHash) {
			pl = w.withProblem(pl, KindBrokenLink)
		}
		w.accept(pl)
	case h > w.tip.seq && int64(h) > x:
		w.hold(pl, holdGap, uint64(max(x, int64(w.tip.seq)+1)))
	case w.flaggedNames(e.Hash):
		// An event flagged since the tip names it as its predecessor: it
		// was moved back behind its successor.
		w.flag(pl)
	case h > w.tip.seq:
		w.hold(pl, holdFork, 0)
	default:
		w.behind(pl)
	}
}

// behind handles an intact event whose chain position the walker has
// already passed.
func (w *walker) behind(pl placed) {
	if acc, ok := w.bySeq[pl.seq]; ok && acc.hash == pl.hash {
		w.flag(pl) // a copy of an accepted event
		return
	}
	if next, ok := w.bySeq[pl.seq+1]; ok && next.prev == pl.hash {
		w.flag(pl) // its successor came earlier: it was moved back
		return
	}
	if pred, ok := w.bySeq[pl.seq-1]; ok && pred.named(pl.prev) {
		w.hold(pl, holdFork, 0) // it forks the chain after its predecessor
		return
	}
	w.flag(pl)
}

// resolve decides the held event once its successor next is read (nil at
// the end of the chain).
func (w *walker) resolve(next *Event) {
	f, kind, x := w.held, w.heldKind, w.heldX
	w.heldKind = 0
	var follows bool
	if next != nil {
		follows = f.named(next.PrevHash) && w.verifies(next, f.seq+1, next.PrevHash)
	} else {
		// Nothing follows: a gap stands; a fork stands when the event was
		// renumbered (as the events after an insertion are).
		follows = kind == holdGap || f.pos != f.seq
	}
	if !follows {
		w.flag(f)
		return
	}
	switch kind {
	case holdGap:
		w.probs = append(w.probs, Problem{Seq: f.pos, Kind: KindGap, Missing: f.seq - x})
	case holdFork:
		w.dropFrom(f.seq)
	}
	w.accept(f)
}

// locate returns the chain position under which e's hash verifies: its
// stored Seq or, for an event renumbered or moved, a nearby candidate.
func (w *walker) locate(e *Event, x int64) (uint64, bool) {
	if ComputeHash(e) == e.Hash {
		return e.Seq, true
	}
	var cands [3 + verifyMaxSkip]uint64
	n := 0
	if x >= 1 {
		cands[n] = uint64(x)
		n++
	}
	cands[n] = w.tip.seq + 1
	n++
	if q, ok := w.byHash[e.PrevHash]; ok {
		cands[n] = q + 1
		n++
	}
	for i := int64(1); i <= verifyMaxSkip; i++ {
		if x+i >= 1 {
			cands[n] = uint64(x + i)
			n++
		}
	}
	for i, c := range cands[:n] {
		dup := c == e.Seq
		for _, d := range cands[:i] {
			dup = dup || d == c
		}
		if !dup && w.verifies(e, c, e.PrevHash) {
			return c, true
		}
	}
	return 0, false
}

// verifies reports whether e's stored Hash is its hash at position seq
// after prev.
func (w *walker) verifies(e *Event, seq uint64, prev string) bool {
	c := *e
	c.Seq, c.PrevHash = seq, prev
	return ComputeHash(&c) == e.Hash
}

// hashAt returns the hash of e's stored content at position seq, or "" when
// that is its stored Hash.
func (w *walker) hashAt(e *Event, seq uint64) string {
	c := *e
	c.Seq = seq
	if h := ComputeHash(&c); h != e.Hash {
		return h
	}
	return ""
}

func (w *walker) flaggedNames(hash string) bool {
	for _, f := range w.flagged {
		if f.prev == hash {
			return true
		}
	}
	return false
}

func (w *walker) withProblem(pl placed, kind string) placed {
	pl.prob = len(w.probs)
	w.probs = append(w.probs, Problem{Seq: pl.pos, ID: pl.id, Kind: kind})
	return pl
}

func (w *walker) hold(pl placed, kind holdKind, x uint64) {
	w.held, w.heldKind, w.heldX = pl, kind, x
}

// flag reports pl as unexpected; it stays out of the chain.
func (w *walker) flag(pl placed) {
	w.probs = append(w.probs, Problem{Seq: pl.pos, ID: pl.id, Kind: KindUnexpected})
	w.flagged = append(w.flagged, pl)
}

func (w *walker) accept(pl placed) {
	w.tip = pl
	w.flagged = w.flagged[:0]
	w.bySeq[pl.seq] = pl
	w.byHash[pl.hash] = pl.seq
	if pl.alt != "" {
		w.byHash[pl.alt] = pl.seq
	}
	w.order = append(w.order, pl.seq)
	if len(w.order) > verifyWindow {
		w.forget(w.order[0])
		w.order = w.order[1:]
	}
}

// dropFrom takes the accepted events at chain positions seq and after out
// of the chain and reports them as unexpected (they were inserted).
func (w *walker) dropFrom(seq uint64) {
	for len(w.order) > 0 && w.order[len(w.order)-1] >= seq {
		s := w.order[len(w.order)-1]
		w.order = w.order[:len(w.order)-1]
		pl := w.bySeq[s]
		if pl.prob >= 0 {
			w.probs[pl.prob].Kind = KindUnexpected
		} else {
			w.probs = append(w.probs, Problem{Seq: pl.pos, ID: pl.id, Kind: KindUnexpected})
		}
		w.forget(s)
	}
}

func (w *walker) forget(seq uint64) {
	pl, ok := w.bySeq[seq]
	if !ok {
		return
	}
	delete(w.bySeq, seq)
	for _, h := range []string{pl.hash, pl.alt} {
		if q, ok := w.byHash[h]; ok && q == seq {
			delete(w.byHash, h)
		}
	}
}
