package policy

import (
	"bytes"
	"io/fs"
	"slices"
	"time"

	"github.com/carecrest/hub/consent"
	hubrego "github.com/carecrest/hub/rego"
	"github.com/open-policy-agent/opa/v1/ast"
)

// consentFilter drops, before evaluation, the consent directives and rules
// that the embedded policy (rego/consent.rego) would find not to apply to a
// read or route: directives not active or outside their period, and rules
// with a condition that is provably false for the input (purpose, action,
// security label, class, actor, code, data, period, data period) or, for a
// permit, one the input cannot answer. A directive left without rules goes.
// What it drops had no effect on the decision: the policy reports, blocks
// and notes only directives with a matching rule, and a directive's
// deciding rule is chosen among the matching ones in their order, which is
// kept. The policy still evaluates everything that remains, so it stays
// the authority; the filter only saves it the work (most directives of a
// patient do not concern a given read, and a read without directives takes
// the policy's fast path).
//
// Every check mirrors the Rego exactly or errs on keeping: times outside
// the range the policy can parse (time.parse_rfc3339_ns: years 1678-2262)
// and a zero Now (the policy then uses its clock) are not compared, and a
// table the data does not define filters nothing. The filter is used only
// when the policy's modules are the embedded ones (its data may differ):
// another policy may read consents differently. Explain never filters, so
// that it lists every directive considered.
type consentFilter struct {
	actions        map[string][]string // access.consent.actions: hub action -> consent actions
	recipientRoles []string            // access.consent.recipient_roles
}

// newConsentFilter returns the filter for a policy whose module files are
// files, or nil when they are not the embedded modules.
func newConsentFilter(files []file, data dataCache) *consentFilter {
	if !embeddedModules(files) {
		return nil
	}
	f := &consentFilter{actions: map[string][]string{}}
	cfg, _ := data.Get(ast.MustParseRef("data.carecrest.access.consent")).(ast.Object)
	if cfg == nil {
		return f
	}
	if acts, ok := cfg.Get(ast.StringTerm("actions")).Value.(ast.Object); ok {
		acts.Foreach(func(k, v *ast.Term) {
			if name, ok := k.Value.(ast.String); ok {
				if vs, ok := astStrings(v.Value); ok {
					f.actions[string(name)] = vs
				}
			}
		})
	}
	if t := cfg.Get(ast.StringTerm("recipient_roles")); t != nil {
		f.recipientRoles, _ = astStrings(t.Value)
	}
	return f
}

// astStrings returns an array of strings as []string; ok is false for any
// other value.
func astStrings(v ast.Value) ([]string, bool) {
	arr, ok := v.(*ast.Array)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, arr.Len())
	for i := range arr.Len() {
		s, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return nil, false
		}
		out = append(out, string(s))
	}
	return out, true
}

// embeddedModules reports whether files hold exactly the Rego modules of
// the embedded policy (data.json aside).
func embeddedModules(files []file) bool {
	n := 0
	for _, f := range files {
		if f.name == hubrego.DataFile {
			continue
		}
		n++
		want, err := fs.ReadFile(hubrego.FS, f.name)
		if err != nil || !bytes.Equal(want, f.data) {
			return false
		}
	}
	embedded, err := fs.Glob(hubrego.FS, "*.rego")
	return err == nil && n == len(embedded)
}

// apply returns in.Consents without what cannot apply to in. It allocates
// only when it drops something; the caller's directives are never changed.
func (f *consentFilter) apply(in *Input) []consent.Directive {
	if f == nil || (in.Action != ActionRead && in.Action != ActionRoute) || len(in.Consents) == 0 {
		return in.Consents
	}
	var out []consent.Directive
	for i := range in.Consents {
		d := &in.Consents[i]
		kept, changed := f.directive(in, d)
		if out == nil && (kept == nil || changed) {
			out = make([]consent.Directive, i, len(in.Consents))
			copy(out, in.Consents[:i])
		}
		if out != nil && kept != nil {
			out = append(out, *kept)
		}
	}
	if out == nil {
		return in.Consents
	}
	return out
}

// directive returns d, a copy of d with fewer rules (changed), or nil when
// nothing in it can apply.
func (f *consentFilter) directive(in *Input, d *consent.Directive) (kept *consent.Directive, changed bool) {
	if d.Status != "active" || timeBefore(in.Now, d.Start) || timeNotBefore(in.Now, d.End) {
		return nil, false
	}
	if len(d.Rules) == 0 {
		// The directive is one rule with its decision and purposes.
		if len(d.Purposes) > 0 && !slices.Contains(d.Purposes, in.Subject.Purpose) {
			return nil, false
		}
		return d, false
	}
	var rules []consent.Rule
	for i := range d.Rules {
		ok := f.mayMatch(in, &d.Rules[i])
		if !ok && rules == nil {
			rules = make([]consent.Rule, i, len(d.Rules))
			copy(rules, d.Rules[:i])
		}
		if ok && rules != nil {
			rules = append(rules, d.Rules[i])
		}
	}
	switch {
	case rules == nil:
		return d, false
	case len(rules) == 0:
		return nil, false
	}
	c := *d
	c.Rules = rules
	return &c, true
}

// mayMatch is false only when rule_matches(r) is provably false for in.
func (f *consentFilter) mayMatch(in *Input, r *consent.Rule) bool {
	s := &in.Subject
	if len(r.Purposes) > 0 && !slices.Contains(r.Purposes, s.Purpose) {
		return false
	}
	if len(r.Actions) > 0 {
		if acts, ok := f.actions[in.Action]; ok && !overlaps(acts, r.Actions) {
			return false
		}
	}
	if len(r.SecurityLabels) > 0 && !overlaps(in.Labels, r.SecurityLabels) {
		return false
	}
	if len(r.Classes) > 0 && !slices.Contains(r.Classes, in.RecordType) {
		return false
	}
	for _, g := range r.Actors {
		if !slices.ContainsFunc(g, func(a consent.Actor) bool { return f.actorMatches(s, a) }) {
			return false
		}
	}
	if len(r.Codes) > 0 && in.Codes != nil && !overlaps(r.Codes, in.Codes) {
		return false
	}
	if len(r.Data) > 0 && in.DataRefs != nil && !overlaps(r.Data, in.DataRefs) {
		return false
	}
	if timeBefore(in.Now, r.Start) || timeNotBefore(in.Now, r.End) {
		return false
	}
	if !in.DataTime.IsZero() && (timeBefore(in.DataTime, r.DataStart) || timeNotBefore(in.DataTime, r.DataEnd)) {
		return false
	}
	if r.Decision == consent.Permit {
		// A permit does not match when the input cannot answer a condition.
		if (len(r.Codes) > 0 && in.Codes == nil) || (len(r.Data) > 0 && in.DataRefs == nil) ||
			(in.DataTime.IsZero() && (!r.DataStart.IsZero() || !r.DataEnd.IsZero())) {
			return false
		}
	}
	return true
}

// actorMatches mirrors actor_matches in consent.rego.
func (f *consentFilter) actorMatches(s *Subject, a consent.Actor) bool {
	if a.Reference != "" {
		return slices.Contains(s.Refs, a.Reference) ||
			(s.Org != "" && (a.Reference == s.Org || a.Reference == "Organization/"+s.Org))
	}
	return a.Role != "" && (slices.Contains(s.Roles, a.Role) || slices.Contains(f.recipientRoles, a.Role))
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// timeBefore reports t < bound, for times the policy compares (both set
// and within the range it parses); false otherwise.
func timeBefore(t, bound time.Time) bool {
	return timesComparable(t, bound) && t.Before(bound)
}

// timeNotBefore reports t >= bound, likewise.
func timeNotBefore(t, bound time.Time) bool {
	return timesComparable(t, bound) && !t.Before(bound)
}

func timesComparable(t, bound time.Time) bool {
	return inParseRange(t) && inParseRange(bound)
}

// inParseRange: a non-zero time well inside what time.parse_rfc3339_ns
// accepts (nanoseconds since 1970 in an int64: 1678-2262).
func inParseRange(t time.Time) bool {
	y := t.Year()
	return !t.IsZero() && y >= 1700 && y <= 2200
}
