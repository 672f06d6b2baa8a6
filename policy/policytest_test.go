package policy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/policy/policytest"
)

// TestCases runs the shared decision table against the engine, through
// Decide and through Explain, which must agree.
func TestCases(t *testing.T) {
	if n := len(policytest.Cases); n < 60 {
		t.Fatalf("%d cases, want at least 60", n)
	}
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range policytest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if seen[c.Name] {
				t.Fatalf("duplicate case name")
			}
			seen[c.Name] = true
			in, err := c.Input()
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if msg := c.Check(d); msg != "" {
				t.Fatalf("Decide: %s", msg)
			}
			x, err := e.Explain(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if x.Decision.Allow != d.Allow || strings.Join(x.Decision.Rules, ",") != strings.Join(d.Rules, ",") ||
				strings.Join(x.Decision.Obligations, ",") != strings.Join(d.Obligations, ",") {
				t.Fatalf("Explain decision %+v differs from Decide %+v", x.Decision, d)
			}
			if x.Revision != d.Revision || x.Profile == "" {
				t.Fatalf("Explain revision %q profile %q", x.Revision, x.Profile)
			}
			if _, err := json.Marshal(x); err != nil {
				t.Fatal(err)
			}
		})
	}
}
