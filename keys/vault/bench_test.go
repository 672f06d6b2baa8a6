package vault_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/carecrest/hub/keys/vault/transittest"
)

// BenchmarkGenerateUnwrap measures a data key's round trip through Vault
// Transit (one datakey and one decrypt call) against the double over
// loopback HTTP, and reports Vault calls per second. It is an upper bound
// on the client's overhead, not Vault's throughput. In the hub, the
// sealer's key cache means Vault is called about once per patient per
// cache TTL (a decrypt on first use, a datakey for a new patient), not
// once per record.
func BenchmarkGenerateUnwrap(b *testing.B) {
	srv := transittest.New(b)
	m := newManager(b, doubleConfig(srv))
	ctx := context.Background()
	owners := make([]string, 64)
	for i := range owners {
		owners[i] = fmt.Sprintf("bench-patient-%d", i)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			o := owners[i%len(owners)]
			i++
			p, w, err := m.GenerateDataKey(ctx, o)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := m.UnwrapDataKey(ctx, o, w); err != nil {
				b.Error(err)
				return
			}
			clear(p)
		}
	})
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkUnwrapMany measures unwrapping 100 owners' keys in one batch
// call, and reports keys per second.
func BenchmarkUnwrapMany(b *testing.B) {
	srv := transittest.New(b)
	m := newManager(b, doubleConfig(srv))
	ctx := context.Background()
	in := map[string][]byte{}
	for i := range 100 {
		o := fmt.Sprintf("bench-patient-%d", i)
		_, w, err := m.GenerateDataKey(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		in[o] = w
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.UnwrapMany(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(in)*b.N)/b.Elapsed().Seconds(), "keys/s")
}
