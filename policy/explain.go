package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Explanation says why a decision is what it is, for privacy officers
// (GraphQL explain, `hubctl policy explain`). It holds no PHI: rule ids,
// consent ids, codes and provision paths only.
type Explanation struct {
	Decision ExplainedDecision    `json:"decision"`
	Profile  string               `json:"profile"`
	Revision string               `json:"revision"`
	Consents []ConsentExplanation `json:"consents"`
	Rules    []RuleExplanation    `json:"rules"`
}

// ExplainedDecision is a Decision as JSON.
type ExplainedDecision struct {
	Allow       bool     `json:"allow"`
	Fields      []string `json:"fields"`
	Mask        []string `json:"mask"`
	Rules       []string `json:"rules"`
	Reasons     []string `json:"reasons"`
	Consents    []string `json:"consents"`
	Obligations []string `json:"obligations"`
}

// ConsentExplanation is one consent directive the decision considered.
type ConsentExplanation struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	InForce bool   `json:"in_force"`
	// Effect is "permit" or "deny" when a provision matched, else "none".
	Effect string `json:"effect"`
	// Provision is the path of the deciding provision (consent.Rule.Path)
	// and Depth its nesting.
	Provision string `json:"provision,omitempty"`
	Depth     int    `json:"depth"`
}

// RuleExplanation is one rule that matched.
type RuleExplanation struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // grant, block, note or miss
	Reason string `json:"reason"`
}

// ErrNoExplain reports a policy that does not define ExplainQuery.
var ErrNoExplain = errors.New("policy: the policy in force defines no explanation")

// Explain evaluates the policy for in as Decide does and returns the
// decision with what led to it. Errors wrap ErrEvaluation (or are
// ErrNoExplain); the Explanation then names only the revision.
func (e *Engine) Explain(ctx context.Context, in Input) (Explanation, error) {
	p := e.current.Load()
	x := Explanation{Revision: p.revision}
	if !p.explains {
		return x, ErrNoExplain
	}
	if in.Profile == "" {
		in.Profile = e.profile
	}
	rs, err := p.explain.Eval(ctx, p.evalOptions(inputValue(&in))...)
	if err != nil {
		return x, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) == 0 {
		return x, fmt.Errorf("%w: no explanation", ErrEvaluation)
	}
	term, _ := rs[0].Expressions[0].Value.(*ast.Term)
	obj, ok := term.Value.(ast.Object)
	if !ok {
		return x, fmt.Errorf("%w: %w: explanation is not an object", ErrEvaluation, errMalformed)
	}
	d, err := decisionFromTerm(obj.Get(ast.StringTerm("decision")))
	if err != nil {
		return x, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	var raw struct {
		Profile  string               `json:"profile"`
		Consents []ConsentExplanation `json:"consents"`
		Grants   []string             `json:"grants"`
		Blocks   []string             `json:"blocks"`
		Notes    []string             `json:"notes"`
		Misses   []string             `json:"misses"`
		Reason   map[string]string    `json:"reason"`
	}
	v, err := ast.JSON(obj)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(v); err == nil {
			err = json.Unmarshal(b, &raw)
		}
	}
	if err != nil {
		return x, fmt.Errorf("%w: %w: %w", ErrEvaluation, errMalformed, err)
	}
	x.Decision = ExplainedDecision{
		Allow: d.Allow, Fields: nonNil(d.Fields), Mask: nonNil(d.Mask), Rules: nonNil(d.Rules),
		Reasons: nonNil(d.Reasons), Consents: nonNil(d.Consents), Obligations: nonNil(d.Obligations),
	}
	x.Profile = raw.Profile
	x.Consents = raw.Consents
	if x.Consents == nil {
		x.Consents = []ConsentExplanation{}
	}
	x.Rules = []RuleExplanation{}
	for _, k := range []struct {
		kind string
		ids  []string
	}{{"grant", raw.Grants}, {"block", raw.Blocks}, {"note", raw.Notes}, {"miss", raw.Misses}} {
		for _, id := range k.ids {
			reason := raw.Reason[id]
			if reason == "" {
				reason = id
			}
			x.Rules = append(x.Rules, RuleExplanation{ID: id, Kind: k.kind, Reason: reason})
		}
	}
	return x, nil
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
