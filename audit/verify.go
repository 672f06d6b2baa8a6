package audit

import (
	"context"
	"fmt"
)

// Problem is one break in a stored chain.
type Problem struct {
	Shard string
	Seq   uint64 // position where the chain breaks (the expected sequence number)
	ID    string // the stored event at that position, if any
	Kind  string // "modified", "gap" (deleted), "unexpected" (inserted or reordered), "broken-link"
}

func (p Problem) String() string {
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

// Verify walks every shard's chain and reports each event whose stored hash
// does not match its content (modified), each missing sequence number
// (deleted), each event out of sequence (inserted or reordered) and each
// event whose PrevHash does not name its predecessor. It keeps going after a
// problem so that one report lists them all.
func Verify(ctx context.Context, r ChainReader) (Report, error) {
	shards, err := r.Shards(ctx)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	rep.Shards = len(shards)
	for _, shard := range shards {
		want := uint64(1)
		prev := GenesisHash
		err := r.ReadChain(ctx, shard, func(e Event) error {
			rep.Events++
			switch {
			case e.Seq > want:
				rep.Problems = append(rep.Problems, Problem{Shard: shard, Seq: want, ID: e.ID, Kind: "gap"})
			case e.Seq < want:
				rep.Problems = append(rep.Problems, Problem{Shard: shard, Seq: e.Seq, ID: e.ID, Kind: "unexpected"})
			}
			if e.Seq >= want && e.PrevHash != prev {
				rep.Problems = append(rep.Problems, Problem{Shard: shard, Seq: e.Seq, ID: e.ID, Kind: "broken-link"})
			}
			if ComputeHash(&e) != e.Hash {
				rep.Problems = append(rep.Problems, Problem{Shard: shard, Seq: e.Seq, ID: e.ID, Kind: "modified"})
			}
			if e.Seq >= want {
				want = e.Seq + 1
				prev = e.Hash
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}
