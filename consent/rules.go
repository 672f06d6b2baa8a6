package consent

import (
	"slices"
	"strconv"
	"time"
)

// Rule is one provision of a consent directive, flattened for policy: its
// own conditions conjoined with those of every ancestor, so that policy
// evaluates a flat list without recursion.
//
// A rule matches a request when every condition it has holds; a condition
// it lacks does not restrict. Policy (rego/consent.rego) takes, per
// directive, the deepest matching rule (deny winning a tie at one depth) as
// the directive's effect: a nested provision is an exception to its parent.
//
// Like Directive, a Rule holds no plaintext PHI: actors and data are
// references, everything else codes.
type Rule struct {
	// Path names the provision for explain: PathBase for the base policy
	// (Consent.policyRule), PathRoot for the root provision, then
	// "provision.provision[1]" and so on.
	Path     string `json:"path"`
	Depth    int    `json:"depth"`
	Decision string `json:"decision"` // permit or deny
	// Actors: each group is the recipient actors of one provision on the
	// path; the subject must match an actor of every group. Custodian
	// actors (CustodianRoles) are left out: the hub holds the data, so a
	// custodian says whose data it is, not who receives it.
	Actors [][]Actor `json:"actors,omitempty"`
	// Actions are consent action codes (access, use, disclose, collect,
	// correct); policy maps its actions onto them.
	Actions []string `json:"actions,omitempty"`
	// SecurityLabels (HL7 v3 sensitivity codes such as ETH), Purposes (v3
	// ActReason), Classes (FHIR resource types) and Codes ("system|code").
	SecurityLabels []string `json:"security_labels,omitempty"`
	Purposes       []string `json:"purposes,omitempty"`
	Classes        []string `json:"classes,omitempty"`
	Codes          []string `json:"codes,omitempty"`
	// Data are references to the resources covered (any meaning).
	Data []string `json:"data,omitempty"`
	// Start and End bound when the rule applies ([Start, End)); DataStart
	// and DataEnd bound the time of the data it covers.
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
	DataStart time.Time `json:"data_start,omitzero"`
	DataEnd   time.Time `json:"data_end,omitzero"`
}

// Paths of the rules that do not come from a nested provision.
const (
	PathBase = "policyRule" // the base policy of the Consent
	PathRoot = "provision"  // the root provision
)

// CustodianRoles are actor roles (v3 ParticipationType) that name the data's
// custodian rather than a recipient; they do not restrict who a rule
// applies to.
var CustodianRoles = []string{"CST"}

// PurposeEmergency is the purpose of use an emergency-only directive permits.
const PurposeEmergency = "ETREAT"

// Flatten turns the provision tree of a Consent into rules.
//
// base is the decision of the Consent's base policy (policyRule: Permit,
// Deny, or "" when it says neither). rootTyped tells whether the root
// provision carried its own type. The reading follows FHIR R4, where a
// provision is "an exception to the base policy":
//
//   - A root provision whose only conditions are a period and custodians
//     (none that restrict what or whom) is the directive itself: one rule,
//     with the root's decision.
//   - A root provision with restricting conditions under a known base is an
//     exception to it: a base rule at depth 0 and the root at depth 1,
//     deciding its own type or, untyped, the opposite of the base
//     (consent-example-notThis: an opt-in that withholds one record).
//   - Without a base, the root is one rule at depth 0 with its decision.
//   - Nested provisions are exceptions to their parent, one level deeper.
//
// emergencyOnly (ActConsentDirective EMRGONLY) replaces the tree by its
// meaning: deny everything, permit emergency treatment (PurposeEmergency)
// to the root's recipients. The FHIR R4 example (consent-example-Emergency)
// needs it: its nested deny, meant as "all other purposes", would otherwise
// cancel its own emergency exception.
//
// Conditions conjoin down the tree; a provision whose conditions cannot all
// hold (say purposes TREAT under a parent for HRESCH) gives no rule, nor do
// its descendants.
func Flatten(base string, root Provision, rootTyped, emergencyOnly bool) []Rule {
	if emergencyOnly {
		r := Rule{Path: PathRoot, Depth: 1, Decision: Permit, Purposes: []string{PurposeEmergency}}
		if as := recipients(root.Actors); len(as) > 0 {
			r.Actors = [][]Actor{as}
		}
		return []Rule{{Path: PathBase, Decision: Deny}, r}
	}
	var out []Rule
	top := own(root)
	top.Path, top.Decision = PathRoot, root.Decision
	top.Start, top.End = time.Time{}, time.Time{} // the Directive's period
	switch {
	case !restricts(top):
		// The directive itself.
	case base != "" && !rootTyped:
		out = append(out, Rule{Path: PathBase, Decision: base})
		top.Depth, top.Decision = 1, opposite(base)
	case base != "" && rootTyped && root.Decision != base:
		out = append(out, Rule{Path: PathBase, Decision: base})
		top.Depth = 1
	}
	out = append(out, top)
	return appendNested(out, top, root.Provisions)
}

func appendNested(out []Rule, parent Rule, ps []Provision) []Rule {
	for i, p := range ps {
		r, ok := conjoin(parent, own(p))
		if !ok {
			continue
		}
		r.Path = parent.Path + ".provision[" + strconv.Itoa(i) + "]"
		r.Depth = parent.Depth + 1
		r.Decision = p.Decision
		out = append(out, r)
		out = appendNested(out, r, p.Provisions)
	}
	return out
}

// own returns the conditions of p alone (the period included: for a
// nested provision it bounds the rule; Flatten leaves the root's period to
// the Directive).
func own(p Provision) Rule {
	r := Rule{
		Actions:        slices.Clone(p.Actions),
		SecurityLabels: slices.Clone(p.SecurityLabels),
		Purposes:       slices.Clone(p.Purposes),
		Classes:        slices.Clone(p.Classes),
		Codes:          slices.Clone(p.Codes),
		Start:          p.Start,
		End:            p.End,
		DataStart:      p.DataStart,
		DataEnd:        p.DataEnd,
	}
	if as := recipients(p.Actors); len(as) > 0 {
		r.Actors = [][]Actor{as}
	}
	for _, d := range p.Data {
		if d.Reference != "" {
			r.Data = append(r.Data, d.Reference)
		}
	}
	return r
}

// restricts reports whether r limits what or whom it applies to.
func restricts(r Rule) bool {
	return len(r.Actors) > 0 || len(r.Actions) > 0 || len(r.SecurityLabels) > 0 || len(r.Purposes) > 0 ||
		len(r.Classes) > 0 || len(r.Codes) > 0 || len(r.Data) > 0 || !r.DataStart.IsZero() || !r.DataEnd.IsZero()
}

// conjoin returns the conditions of parent and child together, false when
// they cannot both hold.
func conjoin(parent, child Rule) (Rule, bool) {
	var r Rule
	var ok bool
	lists := []struct {
		dst  *[]string
		a, b []string
	}{
		{&r.Actions, parent.Actions, child.Actions},
		{&r.SecurityLabels, parent.SecurityLabels, child.SecurityLabels},
		{&r.Purposes, parent.Purposes, child.Purposes},
		{&r.Classes, parent.Classes, child.Classes},
		{&r.Codes, parent.Codes, child.Codes},
		{&r.Data, parent.Data, child.Data},
	}
	for _, l := range lists {
		if *l.dst, ok = intersect(l.a, l.b); !ok {
			return Rule{}, false
		}
	}
	r.Actors = append(slices.Clone(parent.Actors), child.Actors...)
	if r.Start, r.End, ok = within(parent.Start, parent.End, child.Start, child.End); !ok {
		return Rule{}, false
	}
	if r.DataStart, r.DataEnd, ok = within(parent.DataStart, parent.DataEnd, child.DataStart, child.DataEnd); !ok {
		return Rule{}, false
	}
	return r, true
}

// intersect conjoins two "one of" conditions: an empty list does not
// restrict; two lists leave the values in both, and none means the
// conjunction cannot hold.
func intersect(a, b []string) ([]string, bool) {
	switch {
	case len(a) == 0:
		return slices.Clone(b), true
	case len(b) == 0:
		return slices.Clone(a), true
	}
	var out []string
	for _, x := range b {
		if slices.Contains(a, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out, len(out) > 0
}

// within intersects two half-open periods (zero bounds are open).
func within(s1, e1, s2, e2 time.Time) (start, end time.Time, ok bool) {
	start, end = s1, e1
	if !s2.IsZero() && (start.IsZero() || s2.After(start)) {
		start = s2
	}
	if !e2.IsZero() && (end.IsZero() || e2.Before(end)) {
		end = e2
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return start, end, false
	}
	return start, end, true
}

// recipients returns the actors that are not custodians.
func recipients(as []Actor) []Actor {
	var out []Actor
	for _, a := range as {
		if !slices.Contains(CustodianRoles, a.Role) {
			out = append(out, a)
		}
	}
	return out
}

func opposite(d string) string {
	if d == Permit {
		return Deny
	}
	return Permit
}
