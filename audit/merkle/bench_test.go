package merkle

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
)

const benchLeaves = 1 << 20 // 1,048,576

// feed streams n leaf hashes into c as a shard pass does, without holding
// them: leaf i is the leaf hash of i's 8 bytes (one SHA-256 per leaf, as
// each event costs).
func feed(c *Collector, n uint64) {
	var b [8]byte
	for i := range n {
		binary.BigEndian.PutUint64(b[:], i)
		c.Add(LeafHash(b[:]))
	}
}

// An inclusion proof over a 1M-leaf shard: one pass, O(log n) memory
// (B/op stays a few KB whatever the size).
func BenchmarkInclusionProof1M(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		rs, err := InclusionRanges(benchLeaves/3, benchLeaves)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := NewCollector(rs, nil, []uint64{benchLeaves / 3})
		feed(c, benchLeaves)
		hs, _, ls, err := c.Result()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := RootFromInclusion(benchLeaves/3, benchLeaves, ls[0], hs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchLeaves)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}

// A consistency proof between 700k and 1M leaves.
func BenchmarkConsistencyProof1M(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		rs, _ := ConsistencyRanges(700_000, benchLeaves)
		c, _ := NewCollector(rs, []uint64{700_000, benchLeaves}, nil)
		feed(c, benchLeaves)
		if _, _, _, err := c.Result(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchLeaves)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}

// The tree head of a 1M-leaf shard, as a checkpoint computes it.
func BenchmarkCheckpointRoot1M(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		c, _ := NewCollector(nil, nil, nil)
		c.TrackHead()
		feed(c, benchLeaves)
		_ = c.Head()
	}
	b.ReportMetric(float64(benchLeaves)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}

// The per-event cost a pass adds to reading the event: its chain hash
// recomputed and the leaf hash of it.
func BenchmarkEventLeaf(b *testing.B) {
	e := audit.Event{
		ID: audit.NewID(time.Now()), Time: time.Now(), Code: audit.CodeRecordRead, Action: audit.ActionRead,
		Outcome: audit.OutcomeAllow, ActorID: "dr.osei", ActorRoles: []string{"physician"}, Purpose: "TREAT",
		PatientID: "P000123", RecordType: "Observation", RecordIDs: []string{"R1", "R2"},
		Disclosed: []string{"code", "valueQuantity"}, Shard: "hub-0", Seq: 42, PrevHash: audit.GenesisHash,
	}
	for b.Loop() {
		_ = EventLeaf(&e)
	}
}
