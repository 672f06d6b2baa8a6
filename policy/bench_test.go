package policy

import (
	"context"
	"testing"

	"github.com/carecrest/hub/consent"
)

// BenchmarkDecide measures read decisions of the shapes (target:
// p99 <= 100 µs in process): the common allow (fast path), a consent deny,
// a read whose patient has directives that do not concern it, a 42 CFR
// Part 2 read with its consent, and break-the-glass. Each reports
// p50-ns, p99-ns and p99-µs.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b, Config{})
	physician := Subject{ID: "u-1", Kind: "user", Roles: []string{"physician"}, Org: "Organization/f002", Purpose: "TREAT"}
	part2 := consent.Directive{ID: "c-part2", PatientID: "p-1", Status: "active", Decision: consent.Permit, Recorded: now,
		Rules: []consent.Rule{{Path: consent.PathRoot, Decision: consent.Permit, SecurityLabels: []string{"ETH"}, Purposes: []string{"TREAT"}}}}
	notOrg := consent.Directive{ID: "c-notorg", PatientID: "p-1", Status: "active", Decision: consent.Deny, Recorded: now,
		Rules: []consent.Rule{
			{Path: consent.PathBase, Decision: consent.Permit},
			{Path: consent.PathRoot, Depth: 1, Decision: consent.Deny, Actions: []string{"access"},
				Actors: [][]consent.Actor{{{Role: "PRCP", Reference: "Organization/f002"}}}},
		}}
	// Directives that do not concern a treatment read: a research
	// authorization and an expired opt-out (the pre-filter drops them).
	research := consent.Directive{ID: "c-research", PatientID: "p-1", Status: "active", Decision: consent.Permit, Recorded: now,
		Rules: []consent.Rule{{Path: consent.PathRoot, Decision: consent.Permit, Purposes: []string{"HRESCH"}}}}
	expired := optOut("c-expired")
	expired.End = now.AddDate(0, -1, 0)
	part2Read := readInput(physician, "Condition", part2)
	part2Read.Labels = []string{"ETH"}
	bg := readInput(physician, "Observation", optOut("c-1"))
	bg.Subject.Purpose, bg.BreakGlass = "ETREAT", &BreakGlass{Reason: "code blue", Started: now.Add(-30 * 60e9)}
	cases := []struct {
		name  string
		in    Input
		allow bool
	}{
		{"common-allow", readInput(physician, "Observation"), true},
		{"consent-deny", readInput(physician, "Observation", notOrg), false},
		{"unrelated-consents", readInput(physician, "Observation", research, expired), true},
		{"part2-with-consent", part2Read, true},
		{"break-glass", bg, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if d, err := e.Decide(context.Background(), tc.in); err != nil || d.Allow != tc.allow {
				b.Fatalf("decision %+v, %v; want allow=%v", d, err, tc.allow)
			}
			benchDecide(b, e, tc.in)
		})
	}
}
