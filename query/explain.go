package query

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/policy"
	"github.com/graphql-go/graphql"
)

// Explainer explains policy decisions (policy.Engine).
type Explainer interface {
	Explain(ctx context.Context, in policy.Input) (policy.Explanation, error)
}

// ActionPolicyExplain is the governance action of explain.
const ActionPolicyExplain = "policy.explain"

// Explained is the explanation of the decision a read of one record type
// would get, for one set of sensitivity labels among the stored records of
// that type (a type with no stored records is explained without labels).
type Explained struct {
	RecordType  string
	Labels      []string
	Records     int // stored records of the type with these labels
	Explanation policy.Explanation
}

// Explain tells a privacy officer what policy decides when subject reads recordType of the patient, and
// why: the same inputs a read gathers (merged patient, consents in force,
// care relationship of subject.Refs, break-the-glass session, the labels
// of the stored records), evaluated by the policy in force. It discloses
// no PHI and is itself governed (policy.explain) and audited. labels, when
// given, explains a hypothetical record with those labels instead of the
// stored ones.
func (r *Reader) Explain(ctx context.Context, c Caller, subject Caller, patientID, recordType string, labels []string) ([]Explained, error) {
	if r.Explainer == nil {
		return nil, fmt.Errorf("query: explain: %w", policy.ErrNoExplain)
	}
	if err := ValidPatientID(patientID); err != nil {
		return nil, err
	}
	var out []Explained
	describe := fmt.Sprintf("explain %s read of %s by %s (%s, purpose %s)", recordType, patientID, subject.Subject.ID,
		strings.Join(subject.Subject.Roles, ","), subject.Subject.Purpose)
	err := r.Govern(ctx, c, Governed{
		Action: ActionPolicyExplain, Code: audit.CodePolicyExplain, DenyCode: audit.CodePolicyExplainDeny,
		PatientID: patientID, RecordType: recordType, Describe: describe,
	}, func(ctx context.Context) error {
		now := r.now()
		dc, err := r.decisionContext(ctx, subject, patientID, []string{recordType}, now, false)
		if err != nil {
			return err
		}
		type group struct {
			labels []string
			codes  []string
			n      int
		}
		groups := map[string]*group{}
		if labels != nil {
			groups[""] = &group{labels: labels}
		} else {
			for i := range dc.records {
				s := &dc.records[i]
				k := decisionKey(s, dc.codesMatter)
				if groups[k] == nil {
					groups[k] = &group{labels: s.Labels}
					if dc.codesMatter {
						groups[k].codes = codeTokens(s.Codes)
					}
				}
				groups[k].n++
			}
			if len(groups) == 0 {
				groups[""] = &group{}
			}
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			g := groups[k]
			in := dc.input(recordType, now)
			in.Labels, in.Codes = g.labels, g.codes
			ex, err := r.Explainer.Explain(ctx, in)
			if err != nil {
				return fmt.Errorf("query: explain: %w", err)
			}
			out = append(out, Explained{RecordType: recordType, Labels: g.labels, Records: g.n, Explanation: ex})
		}
		return nil
	})
	return out, err
}

var explainedType = obj("PolicyExplanation", "Why policy decides what it does for one record type and label set.", graphql.Fields{
	"recordType":  {Type: nnString},
	"labels":      {Type: nnStrings, Description: "Sensitivity labels of the records explained."},
	"records":     {Type: graphql.NewNonNull(graphql.Int), Description: "Stored records of the type with these labels."},
	"allow":       {Type: nnBool},
	"fields":      {Type: nnStrings, Description: "PHI elements that would be disclosed (* = all)."},
	"mask":        {Type: nnStrings, Description: "Catalogued PHI elements that would be masked."},
	"rules":       {Type: nnStrings},
	"reasons":     {Type: nnStrings},
	"consents":    {Type: nnStrings, Description: "Consent ids that applied."},
	"obligations": {Type: nnStrings},
	"profile":     {Type: nnString},
	"revision":    {Type: nnString, Description: "The policy revision in force."},
	"consentDetails": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(obj("ConsentExplanation", "", graphql.Fields{
		"id": {Type: nnString}, "status": {Type: nnString}, "inForce": {Type: nnBool},
		"effect": {Type: nnString, Description: "permit, deny or none"}, "provision": {Type: graphql.String},
		"depth": {Type: graphql.NewNonNull(graphql.Int)},
	}))))},
	"ruleDetails": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(obj("RuleExplanation", "", graphql.Fields{
		"id": {Type: nnString}, "kind": {Type: nnString, Description: "grant, block, note or miss"}, "reason": {Type: nnString},
	}))))},
})

// ExplainExtension is the GraphQL explain query.
func ExplainExtension(r *Reader) Extension {
	return Extension{Query: graphql.Fields{
		"explain": {
			Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(explainedType))),
			Description: "What policy decides when the given subject reads a record type of a patient, and why " +
				"(privacy officers: the answer names the sensitivity labels of the patient's records). Governed and audited.",
			Args: graphql.FieldConfigArgument{
				"patient":          {Type: graphql.NewNonNull(graphql.ID), Description: "Enterprise patient id."},
				"recordType":       {Type: graphql.NewNonNull(graphql.String)},
				"subject":          {Type: graphql.NewNonNull(graphql.String), Description: "The subject's id."},
				"kind":             {Type: graphql.String, Description: "user (default), application or system"},
				"roles":            {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String)))},
				"subjectPurpose":   {Type: graphql.NewNonNull(graphql.String), Description: "The subject's purpose of use."},
				"organization":     {Type: graphql.String},
				"fhirUser":         {Type: graphql.String, Description: "The subject's practitioner (care relationships)."},
				"breakGlassReason": {Type: graphql.String, Description: "As the subject would give it."},
				"labels":           {Type: graphql.NewList(graphql.NewNonNull(graphql.String)), Description: "Explain a record with these labels instead of the stored ones."},
				"purpose":          {Type: graphql.String, Description: "The caller's own purpose of use."},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				c, err := callerFor(p.Context, p.Args)
				if err != nil {
					return nil, err
				}
				a := p.Args
				str := func(k string) string { s, _ := a[k].(string); return s }
				var roles []string
				for _, x := range a["roles"].([]any) {
					roles = append(roles, x.(string))
				}
				var labels []string
				if l, ok := a["labels"].([]any); ok {
					labels = []string{}
					for _, x := range l {
						labels = append(labels, x.(string))
					}
				}
				kind := str("kind")
				if kind == "" {
					kind = "user"
				}
				subj := Caller{
					Subject: subjectOf(Identity{Subject: str("subject"), Kind: kind, Roles: roles, Org: str("organization"), FHIRUser: str("fhirUser")},
						str("subjectPurpose"), str("breakGlassReason")),
					Practitioner: str("fhirUser"),
				}
				res, err := r.Explain(p.Context, c, subj, str("patient"), str("recordType"), labels)
				if err != nil {
					return nil, governanceAPIError(err)
				}
				out := make([]map[string]any, len(res))
				for i, e := range res {
					out[i] = explainedMap(e)
				}
				return out, nil
			},
		},
	}}
}

func explainedMap(e Explained) map[string]any {
	x := e.Explanation
	nn := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	cs := make([]map[string]any, len(x.Consents))
	for i, c := range x.Consents {
		cs[i] = map[string]any{"id": c.ID, "status": c.Status, "inForce": c.InForce, "effect": c.Effect, "provision": c.Provision, "depth": c.Depth}
	}
	rs := make([]map[string]any, len(x.Rules))
	for i, r := range x.Rules {
		rs[i] = map[string]any{"id": r.ID, "kind": r.Kind, "reason": r.Reason}
	}
	return map[string]any{
		"recordType": e.RecordType, "labels": nn(e.Labels), "records": e.Records,
		"allow": x.Decision.Allow, "fields": nn(x.Decision.Fields), "mask": nn(x.Decision.Mask),
		"rules": nn(x.Decision.Rules), "reasons": nn(x.Decision.Reasons), "consents": nn(x.Decision.Consents),
		"obligations": nn(x.Decision.Obligations), "profile": x.Profile, "revision": x.Revision,
		"consentDetails": cs, "ruleDetails": rs,
	}
}
