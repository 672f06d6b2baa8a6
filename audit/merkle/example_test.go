package merkle_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/carecrest/hub/audit/merkle"
)

// A tree of three leaves, the audit path of the second, and a signed
// checkpoint of the tree that anyone holding the verifier key can check.
func Example() {
	var leaves []merkle.Hash
	for _, d := range []string{"event 1", "event 2", "event 3"} {
		leaves = append(leaves, merkle.LeafHash([]byte(d)))
	}
	root := merkle.Root(leaves)
	ranges, _ := merkle.InclusionRanges(1, 3)
	proof, _ := merkle.Proof(leaves, ranges)
	fmt.Println("path:", len(proof), "hashes; verifies:", merkle.CheckInclusion(1, 3, leaves[1], proof, root) == nil)

	signer, _ := merkle.NewSigner(merkle.KeyName, make([]byte, 32)) // the hub's seed comes from the key manager
	cp, _ := merkle.SignCheckpoint(merkle.Checkpoint{
		Origin: merkle.Origin("hub-0"), Size: 3, Root: root, Time: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC),
	}, signer)
	fmt.Print(cp.Note[:strings.Index(cp.Note, "\n\n")+1])
	v, _ := merkle.NewVerifier(signer.VerifierKey())
	opened, err := merkle.OpenCheckpoint(cp.Note, v)
	fmt.Println("signature:", err == nil, "size:", opened.Size)
	// Output:
	// path: 2 hashes; verifies: true
	// carecrest-hub/hub-0
	// 3
	// W54VgP76q0J5i9BXL1rdQafzFLgHF6zh55ARDp62ZWA=
	// time 2026-05-04T10:00:00Z
	// signature: true size: 3
}
