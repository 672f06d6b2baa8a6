package merkle

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// Test vectors of RFC 6962 trees: the eight leaves, the tree heads of their
// prefixes and some proofs, as published with transparency-dev/merkle
// (proof/verify_test.go) and certificate-transparency-go.
var (
	vectorLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	vectorRoots  = []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	// index is 0-based here.
	vectorInclusion = []struct {
		index, size uint64
		proof       []string
	}{
		{0, 1, nil},
		{0, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{2, 3, []string{"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
		{1, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	}
	vectorConsistency = []struct {
		size1, size2 uint64
		proof        []string
	}{
		{1, 1, nil},
		{1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{6, 8, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{2, 5, []string{
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
		{6, 7, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	}
)

func hx(t testing.TB, s string) Hash {
	t.Helper()
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hxs(t testing.TB, l []string) []Hash {
	out := []Hash{}
	for _, s := range l {
		out = append(out, hx(t, s))
	}
	return out
}

func vectorLeafHashes(t testing.TB) []Hash {
	var out []Hash
	for _, s := range vectorLeaves {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, LeafHash(b))
	}
	return out
}

func TestEmptyRoot(t *testing.T) {
	if got, want := EmptyRoot, hx(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); got != want {
		t.Fatalf("empty root %x, want %x", got, want)
	}
	if Root(nil) != EmptyRoot {
		t.Fatal("Root(nil) is not the empty root")
	}
}

func TestVectorRoots(t *testing.T) {
	leaves := vectorLeafHashes(t)
	for i, want := range vectorRoots {
		if got := Root(leaves[:i+1]); got != hx(t, want) {
			t.Errorf("root of %d leaves %x, want %s", i+1, got, want)
		}
		if got := mth(leaves[:i+1]); got != hx(t, want) {
			t.Errorf("reference root of %d leaves %x, want %s", i+1, got, want)
		}
	}
}

func TestVectorInclusion(t *testing.T) {
	leaves := vectorLeafHashes(t)
	for _, v := range vectorInclusion {
		t.Run(fmt.Sprintf("%d/%d", v.index, v.size), func(t *testing.T) {
			rs, err := InclusionRanges(v.index, v.size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Proof(leaves, rs)
			if err != nil {
				t.Fatal(err)
			}
			if want := hxs(t, v.proof); !slices.Equal(got, want) {
				t.Fatalf("proof %x, want %x", got, want)
			}
			root := hx(t, vectorRoots[v.size-1])
			if err := CheckInclusion(v.index, v.size, leaves[v.index], got, root); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVectorConsistency(t *testing.T) {
	leaves := vectorLeafHashes(t)
	for _, v := range vectorConsistency {
		t.Run(fmt.Sprintf("%d/%d", v.size1, v.size2), func(t *testing.T) {
			rs, err := ConsistencyRanges(v.size1, v.size2)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Proof(leaves, rs)
			if err != nil {
				t.Fatal(err)
			}
			if want := hxs(t, v.proof); !slices.Equal(got, want) {
				t.Fatalf("proof %x, want %x", got, want)
			}
			if err := CheckConsistency(v.size1, v.size2, got, hx(t, vectorRoots[v.size1-1]), hx(t, vectorRoots[v.size2-1])); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// mth, path and proof are RFC 6962 §2.1 written out as the RFC writes
// them, over leaves in memory: the reference the streaming code is
// checked against.
func mth(d []Hash) Hash {
	switch n := uint64(len(d)); n {
	case 0:
		return EmptyRoot
	case 1:
		return d[0]
	default:
		k := split(n)
		return NodeHash(mth(d[:k]), mth(d[k:]))
	}
}

func path(m uint64, d []Hash) []Hash {
	n := uint64(len(d))
	if n == 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(path(m, d[:k]), mth(d[k:]))
	}
	return append(path(m-k, d[k:]), mth(d[:k]))
}

func subproof(m uint64, d []Hash, b bool) []Hash {
	n := uint64(len(d))
	if m == n {
		if b {
			return nil
		}
		return []Hash{mth(d)}
	}
	k := split(n)
	if m <= k {
		return append(subproof(m, d[:k], b), mth(d[k:]))
	}
	return append(subproof(m-k, d[k:], false), mth(d[:k]))
}

func testLeaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		out[i] = LeafHash(b[:])
	}
	return out
}

// Every leaf of every tree up to 64 leaves proves, and every proof matches
// the RFC's definition; a wrong leaf, index, size, root or any changed,
// missing or extra hash fails.
func TestInclusionAllSizes(t *testing.T) {
	const maxN = 64
	all := testLeaves(maxN)
	other := LeafHash([]byte("other"))
	for n := uint64(1); n <= maxN; n++ {
		leaves := all[:n]
		root := Root(leaves)
		if root != mth(leaves) {
			t.Fatalf("n=%d: root differs from the RFC's MTH", n)
		}
		for m := uint64(0); m < n; m++ {
			rs, err := InclusionRanges(m, n)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := Proof(leaves, rs)
			if err != nil {
				t.Fatal(err)
			}
			if want := path(m, leaves); !slices.Equal(proof, want) {
				t.Fatalf("m=%d n=%d: proof differs from the RFC's PATH", m, n)
			}
			if err := CheckInclusion(m, n, leaves[m], proof, root); err != nil {
				t.Fatalf("m=%d n=%d: %v", m, n, err)
			}
			bad := func(what string, index, size uint64, leaf Hash, p []Hash, r Hash) {
				t.Helper()
				if err := CheckInclusion(index, size, leaf, p, r); !errors.Is(err, ErrProof) {
					t.Fatalf("m=%d n=%d: %s verified (err %v)", m, n, what, err)
				}
			}
			bad("wrong leaf", m, n, other, proof, root)
			bad("wrong root", m, n, leaves[m], proof, other)
			bad("size*2", m, 2*n, leaves[m], proof, root)
			if n/2 > m {
				bad("size/2", m, n/2, leaves[m], proof, root)
			}
			bad("index past size", n, n, leaves[m], proof, root)
			if n > 1 {
				bad("other index", (m+1)%n, n, leaves[m], proof, root)
				bad("other leaf", m, n, leaves[(m+1)%n], proof, root)
			}
			bad("extra hash", m, n, leaves[m], append(slices.Clone(proof), other), root)
			for i := range proof {
				p := slices.Clone(proof)
				p[i][0] ^= 1
				bad(fmt.Sprintf("flipped hash %d", i), m, n, leaves[m], p, root)
				bad(fmt.Sprintf("dropped hash %d", i), m, n, leaves[m], slices.Delete(slices.Clone(proof), i, i+1), root)
			}
		}
	}
}

func TestConsistencyAllSizes(t *testing.T) {
	const maxN = 64
	all := testLeaves(maxN)
	other := LeafHash([]byte("other"))
	for n := uint64(1); n <= maxN; n++ {
		root2 := Root(all[:n])
		for m := uint64(0); m <= n; m++ {
			root1 := Root(all[:m])
			rs, err := ConsistencyRanges(m, n)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := Proof(all[:n], rs)
			if err != nil {
				t.Fatal(err)
			}
			var want []Hash
			if m > 0 && m < n {
				want = subproof(m, all[:n], true)
			}
			if !slices.Equal(proof, want) {
				t.Fatalf("m=%d n=%d: proof differs from the RFC's PROOF", m, n)
			}
			if err := CheckConsistency(m, n, proof, root1, root2); err != nil {
				t.Fatalf("m=%d n=%d: %v", m, n, err)
			}
			if m == 0 {
				continue // the empty tree is consistent with every tree
			}
			bad := func(what string, s1, s2 uint64, p []Hash, r1, r2 Hash) {
				t.Helper()
				if err := CheckConsistency(s1, s2, p, r1, r2); !errors.Is(err, ErrProof) {
					t.Fatalf("m=%d n=%d: %s verified (err %v)", m, n, what, err)
				}
			}
			bad("wrong old root", m, n, proof, other, root2)
			bad("wrong new root", m, n, proof, root1, other)
			bad("time travel", n+1, n, proof, root1, root2)
			if m == n {
				bad("non-empty proof for equal sizes", m, n, []Hash{other}, root1, root2)
				continue
			}
			bad("swapped roots", m, n, proof, root2, root1)
			bad("size2*2", m, 2*n, proof, root1, root2)
			bad("size1-1", m-1, n, proof, root1, root2)
			bad("extra hash", m, n, append(slices.Clone(proof), other), root1, root2)
			bad("empty proof", m, n, nil, root1, root2)
			for i := range proof {
				p := slices.Clone(proof)
				p[i][0] ^= 1
				bad(fmt.Sprintf("flipped hash %d", i), m, n, p, root1, root2)
			}
		}
	}
}

// A tampered leaf changes the head, so the old head's proofs fail.
func TestTamperedLeaf(t *testing.T) {
	leaves := testLeaves(37)
	root := Root(leaves)
	rs, _ := InclusionRanges(20, 37)
	proof, _ := Proof(leaves, rs)
	tampered := slices.Clone(leaves)
	tampered[20] = LeafHash([]byte("edited"))
	if err := CheckInclusion(20, 37, tampered[20], proof, root); err == nil {
		t.Fatal("tampered leaf proved against the old head")
	}
	tampered = slices.Clone(leaves)
	tampered[3] = LeafHash([]byte("edited"))
	proof2, _ := Proof(tampered, rs)
	if err := CheckInclusion(20, 37, leaves[20], proof2, root); err == nil {
		t.Fatal("proof from a tampered tree verified against the old head")
	}
	crs, _ := ConsistencyRanges(10, 37)
	cp, _ := Proof(tampered, crs)
	if err := CheckConsistency(10, 37, cp, Root(leaves[:10]), Root(tampered)); err == nil {
		t.Fatal("a rewritten history proved consistent")
	}
}

// The collector computes everything asked of it in one pass: ranges in any
// order, heads of prefixes and single leaves.
func TestCollector(t *testing.T) {
	leaves := testLeaves(100)
	ranges := []Range{{64, 96}, {0, 64}, {10, 11}, {96, 100}, {5, 70}}
	sizes := []uint64{0, 1, 37, 100}
	c, err := NewCollector(ranges, sizes, []uint64{42, 0})
	if err != nil {
		t.Fatal(err)
	}
	if c.Need() != 100 {
		t.Fatalf("need %d", c.Need())
	}
	for i, l := range leaves {
		if i == 50 {
			if _, _, _, err := c.Result(); !errors.Is(err, ErrShort) {
				t.Fatalf("result of a short pass: %v", err)
			}
		}
		c.Add(l)
	}
	hs, roots, ls, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range ranges {
		if hs[i] != mth(leaves[r.Start:r.End]) {
			t.Errorf("range %v: wrong hash", r)
		}
	}
	for i, s := range sizes {
		if roots[i] != mth(leaves[:s]) {
			t.Errorf("size %d: wrong head", s)
		}
	}
	if ls[0] != leaves[42] || ls[1] != leaves[0] {
		t.Error("wrong leaves")
	}
	if _, err := NewCollector([]Range{{3, 3}}, nil, nil); err == nil {
		t.Error("empty range accepted")
	}
	if _, err := InclusionRanges(5, 5); err == nil {
		t.Error("inclusion of a leaf past the tree accepted")
	}
	if _, err := ConsistencyRanges(6, 5); err == nil {
		t.Error("consistency back in time accepted")
	}
}
