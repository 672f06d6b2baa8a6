package mpi_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/store/sqlite"
)

// benchIndex is an index on SQLite with n patients, every second one
// merged into the next, and a relationship with each.
func benchIndex(b *testing.B, n int) (*mpi.Index, []string) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "hub.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	x := mpi.New([]byte("0123456789abcdef0123456789abcdef"), st)
	subjects := make([][]record.Identifier, n)
	for i := range subjects {
		subjects[i] = []record.Identifier{{System: "urn:oid:1.2.3", Value: fmt.Sprint("MRN", i)}}
	}
	p, err := x.ResolveAll(ctx, subjects)
	if err != nil {
		b.Fatal(err)
	}
	var f mpi.Facts
	for i, epi := range p {
		f.Care = append(f.Care, mpi.Relationship{Practitioner: fmt.Sprint("Practitioner/dr-", i), PatientID: epi})
		if i%2 == 1 {
			if _, err := x.Merge(ctx, p[i-1], epi); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := x.PutFacts(ctx, f); err != nil {
		b.Fatal(err)
	}
	return x, p
}

// BenchmarkGroup is the read path's cost of a merged patient: survivor and
// aliases from the store (nothing cached).
func BenchmarkGroup(b *testing.B) {
	x, p := benchIndex(b, 200)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, m, err := x.Group(ctx, p[(2*i+1)%len(p)]); err != nil || len(m) != 2 {
			b.Fatal(m, err)
		}
	}
}

// BenchmarkHasRelationship: a relationship through a merge, first look-up
// (store) and repeated (cached).
func BenchmarkHasRelationship(b *testing.B) {
	ctx := context.Background()
	b.Run("miss", func(b *testing.B) {
		x, p := benchIndex(b, 200)
		b.ResetTimer()
		for i := range b.N {
			if ok, err := x.HasRelationship(ctx, "Practitioner/dr-nobody", p[i%len(p)]); ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		x, p := benchIndex(b, 200)
		b.ResetTimer()
		for i := range b.N {
			if ok, err := x.HasRelationship(ctx, "Practitioner/dr-0", p[1]); !ok || err != nil {
				b.Fatal(ok, err, i)
			}
		}
	})
}
