package merkle

import (
	"errors"
	"fmt"
)

// ErrProof reports a proof that does not verify.
var ErrProof = errors.New("merkle: proof does not verify")

// RootFromInclusion returns the tree head that an inclusion proof of leaf
// (at index, in a tree of size leaves) leads to, following RFC 9162
// §2.1.3.2 (the verification of RFC 6962's audit paths).
func RootFromInclusion(index, size uint64, leaf Hash, proof []Hash) (Hash, error) {
	if index >= size {
		return Hash{}, fmt.Errorf("%w: leaf %d is not in a tree of %d leaves", ErrProof, index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return Hash{}, fmt.Errorf("%w: path too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, fmt.Errorf("%w: path too short", ErrProof)
	}
	return r, nil
}

// CheckInclusion verifies that leaf is the leaf at index of the tree of
// size leaves whose head is root.
func CheckInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) error {
	got, err := RootFromInclusion(index, size, leaf, proof)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: the path leads to another tree head", ErrProof)
	}
	return nil
}

// CheckConsistency verifies that the tree of size2 leaves with head root2
// extends the tree of size1 leaves with head root1 (RFC 9162 §2.1.4.2, the
// verification of RFC 6962's consistency proofs).
func CheckConsistency(size1, size2 uint64, proof []Hash, root1, root2 Hash) error {
	switch {
	case size1 > size2:
		return fmt.Errorf("%w: size %d is older than size %d", ErrProof, size2, size1)
	case size1 == size2:
		if len(proof) != 0 {
			return fmt.Errorf("%w: equal sizes need an empty proof", ErrProof)
		}
		if root1 != root2 {
			return fmt.Errorf("%w: two heads for one size", ErrProof)
		}
		return nil
	case size1 == 0:
		if len(proof) != 0 {
			return fmt.Errorf("%w: the empty tree needs an empty proof", ErrProof)
		}
		if root1 != EmptyRoot {
			return fmt.Errorf("%w: the empty tree has another head", ErrProof)
		}
		return nil
	case len(proof) == 0:
		return fmt.Errorf("%w: empty proof", ErrProof)
	}
	path := proof
	if size1&(size1-1) == 0 { // a power of two: the old head is a node of the new tree
		path = append([]Hash{root1}, proof...)
	}
	fn, sn := size1-1, size2-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return fmt.Errorf("%w: proof too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: proof too short", ErrProof)
	}
	if fr != root1 {
		return fmt.Errorf("%w: the proof does not lead to the old tree head", ErrProof)
	}
	if sr != root2 {
		return fmt.Errorf("%w: the proof does not lead to the new tree head", ErrProof)
	}
	return nil
}
