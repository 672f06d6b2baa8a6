package phi_test

import (
	"context"
	"testing"

	"github.com/carecrest/hub/phi"
)

// Benchmarks run with a warm key cache, as in steady-state ingest.

func BenchmarkSeal(b *testing.B) {
	for _, tc := range []struct{ name, js string }{{"Patient", patientJSON}, {"Observation", observationJSON}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b, phi.CacheConfig{})
			rec := newRecord(b, tc.js, "p-1", "r-1")
			if _, err := f.sealer.Seal(ctx, rec); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.sealer.Seal(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, tc := range []struct {
		name, js string
		elements []string
	}{
		{"Patient/all", patientJSON, []string{"*"}},
		{"Patient/name", patientJSON, []string{"name"}},
		{"Patient/none", patientJSON, nil},
		{"Observation/all", observationJSON, []string{"*"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b, phi.CacheConfig{})
			s, err := f.sealer.Seal(ctx, newRecord(b, tc.js, "p-1", "r-1"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.sealer.Open(ctx, &s, tc.elements); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
