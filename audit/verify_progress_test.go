package audit_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/carecrest/hub/audit"
)

// countingChain is a memChain that can count its shards.
type countingChain struct{ *memChain }

func (c countingChain) CountChain(_ context.Context, shard string) (uint64, error) {
	return uint64(len(c.shards[shard])), nil
}

// Progress reports count the events walked, carry the total when the
// reader can count, end with Done, and leave the report unchanged.
func TestVerifyProgress(t *testing.T) {
	a, b := chain("hub-a", 25), chain("hub-b", 10)
	b[3].ActorID = "edited" // one problem, so the report is not trivially equal
	m := &memChain{shards: map[string][]audit.Event{"hub-a": a, "hub-b": b}}
	want, err := audit.Verify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		r     audit.ChainReader
		total uint64
	}{{"no count", m, 0}, {"count", countingChain{m}, 35}} {
		t.Run(tc.name, func(t *testing.T) {
			var reps []audit.Progress
			got, err := audit.Verify(context.Background(), tc.r, audit.WithProgress(10, func(p audit.Progress) { reps = append(reps, p) }))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("report with progress %+v, without %+v", got, want)
			}
			// Start of hub-a, 10, 20, start of hub-b (25), 30, end.
			wantEvents := []uint64{0, 10, 20, 25, 30, 35}
			if len(reps) != len(wantEvents) {
				t.Fatalf("%d reports: %+v", len(reps), reps)
			}
			for i, p := range reps {
				if p.Events != wantEvents[i] || p.Total != tc.total || p.Shards != 2 || p.Done != (i == len(reps)-1) {
					t.Errorf("report %d: %+v", i, p)
				}
			}
			if reps[3].Shard != "hub-b" || reps[3].ShardIndex != 1 {
				t.Errorf("report at the start of hub-b: %+v", reps[3])
			}
		})
	}
}
