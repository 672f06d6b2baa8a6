package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
)

// Extension adds fields to the GraphQL schema: domains beyond the patient
// view (reports, alerts, proofs, consent management, explain) contribute
// their own query and mutation fields, resolved with the helpers of this
// package (CallerFrom, APIErrorOf, BadRequest) so that authentication,
// purpose checks and error translation are the same everywhere.
type Extension struct {
	Query    graphql.Fields
	Mutation graphql.Fields
}

// Schema builds the GraphQL schema over r with the fields of exts. Two
// fields of the same name are an error, not a silent override.
func Schema(r *Reader, exts ...Extension) (graphql.Schema, error) {
	patientType := obj("Patient", "FHIR R4 Patient: the merged, policy-filtered view of one enterprise patient.", graphql.Fields{
		"resourceType":     str("Always Patient."),
		"id":               {Type: graphql.NewNonNull(graphql.ID), Description: "Enterprise patient id."},
		"meta":             {Type: metaType},
		"masked":           maskedField,
		"notices":          noticesField,
		"active":           {Type: graphql.Boolean},
		"identifier":       listOf(identifierType, ""),
		"name":             listOf(humanNameType, ""),
		"telecom":          listOf(contactPointType, ""),
		"gender":           str(""),
		"birthDate":        str(""),
		"deceasedBoolean":  {Type: graphql.Boolean},
		"deceasedDateTime": str(""),
		"address":          listOf(addressType, ""),
		"maritalStatus":    {Type: codeableConceptType},
		"withheld": {
			Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(withheldType))),
			Description: "Resource types withheld from the caller as a whole, with the policy's reasons.",
		},
	})

	for _, rel := range related {
		patientType.AddFieldConfig(rel.field, &graphql.Field{
			Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(rel.object))),
			Description: "The patient's " + rel.resourceType + " records the caller may see (FHIR reverse include).",
		})
	}

	queries := graphql.Fields{
		"patient": {
			Type:        patientType,
			Description: "One patient, filtered by policy and consent for the caller; the read is audited.",
			Args: graphql.FieldConfigArgument{
				"id":               {Type: graphql.ID, Description: "Enterprise patient id."},
				"identifier":       {Type: graphql.String, Description: "Business identifier as system|value (FHIR token syntax), e.g. an MRN with its assigning authority."},
				"purpose":          {Type: graphql.String, Description: "Purpose of use (TREAT, ETREAT, HPAYMT, HOPERAT, ...); must be one the token grants; default its first."},
				"breakGlassReason": {Type: graphql.String, Description: "Reason for break-the-glass access (with purpose ETREAT)."},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) { return r.resolvePatient(p) },
		},
		"auditEvents": {
			Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(auditEventType))),
			Description: "Audit events, oldest first (privacy officers and security analysts). The query is itself audited.",
			Args: graphql.FieldConfigArgument{
				"patient": {Type: graphql.ID}, "actor": {Type: graphql.String},
				"action": {Type: graphql.String}, "outcome": {Type: graphql.String},
				"from":  {Type: graphql.String, Description: "RFC 3339, inclusive."},
				"to":    {Type: graphql.String, Description: "RFC 3339, exclusive."},
				"after": {Type: graphql.String, Description: "Cursor: the id of the last event of the previous page."},
				"first": {Type: graphql.Int, Description: "Page size (default 100, at most 1000)."},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) { return r.resolveAuditEvents(p) },
		},
	}
	mutations := graphql.Fields{}
	for _, ext := range exts {
		for name, f := range ext.Query {
			if _, dup := queries[name]; dup {
				return graphql.Schema{}, fmt.Errorf("graphql: query field %q defined twice", name)
			}
			queries[name] = f
		}
		for name, f := range ext.Mutation {
			if _, dup := mutations[name]; dup {
				return graphql.Schema{}, fmt.Errorf("graphql: mutation field %q defined twice", name)
			}
			mutations[name] = f
		}
	}
	cfg := graphql.SchemaConfig{Query: obj("Query", "", queries)}
	if len(mutations) > 0 {
		cfg.Mutation = obj("Mutation", "", mutations)
	}
	return graphql.NewSchema(cfg)
}

func (r *Reader) resolvePatient(p graphql.ResolveParams) (any, error) {
	c, err := callerFor(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	id, _ := p.Args["id"].(string)
	ident, _ := p.Args["identifier"].(string)
	switch {
	case (id == "") == (ident == ""):
		return nil, badRequest("give exactly one of id or identifier")
	case ident != "":
		if id, err = r.LookupIdentifier(p.Context, c, ident); err != nil {
			return nil, apiError(err)
		}
	}
	want := map[string][]string{}
	patientEls, nested := selected(p.Info, p.Info.FieldASTs[0].SelectionSet)
	want["Patient"] = elements(patientEls)
	for _, rel := range related {
		if sel, ok := nested[rel.field]; ok {
			els, _ := selected(p.Info, sel)
			want[rel.resourceType] = elements(els)
		}
	}
	view, err := r.ReadPatient(p.Context, c, id, want)
	if err != nil {
		return nil, apiError(err)
	}
	out := map[string]any{}
	if view.Patient != nil {
		out = shape(*view.Patient)
	} else {
		out["resourceType"], out["masked"], out["notices"] = "Patient", []string{}, []string{}
	}
	out["id"] = view.PatientID
	for _, rel := range related {
		list := []map[string]any{}
		for _, r := range view.Related[rel.resourceType] {
			list = append(list, shape(r))
		}
		out[rel.field] = list
	}
	withheld := []map[string]any{}
	for _, w := range view.Withheld {
		withheld = append(withheld, map[string]any{"resourceType": w.ResourceType, "reason": w.Reason})
	}
	out["withheld"] = withheld
	return out, nil
}

// shape turns a disclosed resource into the GraphQL source map, adding the
// redaction marker.
func shape(res Resource) map[string]any {
	m := make(map[string]any, len(res.Data)+2)
	for k, v := range res.Data {
		m[k] = numbers(v)
	}
	m["masked"] = append([]string{}, res.Masked...)
	m["notices"] = append([]string{}, res.Notices...)
	if len(res.Masked) > 0 {
		meta, _ := m["meta"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
		}
		sec, _ := meta["security"].([]any)
		meta["security"] = append(sec, map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED", "display": "redacted",
		})
		m["meta"] = meta
	}
	return m
}

// numbers converts the json.Number values of decoded FHIR JSON (kept exact
// in storage) into float64 for GraphQL's Float and Int scalars.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
		return x
	}
	return v
}

// notElements are GraphQL fields that are not FHIR elements of the record.
var notElements = map[string]bool{
	"id": true, "resourceType": true, "meta": true, "masked": true,
	"withheld": true, "__typename": true,
}

func elements(fields []string) []string {
	var out []string
	for _, f := range fields {
		if !notElements[f] && !isRelatedField(f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func isRelatedField(f string) bool {
	for _, rel := range related {
		if rel.field == f {
			return true
		}
	}
	return false
}

// selected lists the field names of a selection set (following fragments)
// and the sub-selections of fields that have one.
func selected(info graphql.ResolveInfo, set *ast.SelectionSet) ([]string, map[string]*ast.SelectionSet) {
	var names []string
	nested := map[string]*ast.SelectionSet{}
	var walk func(*ast.SelectionSet, int)
	walk = func(s *ast.SelectionSet, depth int) {
		if s == nil || depth > 16 {
			return
		}
		for _, sel := range s.Selections {
			switch n := sel.(type) {
			case *ast.Field:
				names = append(names, n.Name.Value)
				if n.SelectionSet != nil {
					if prev, ok := nested[n.Name.Value]; ok {
						merged := &ast.SelectionSet{Selections: append(append([]ast.Selection{}, prev.Selections...), n.SelectionSet.Selections...)}
						nested[n.Name.Value] = merged
					} else {
						nested[n.Name.Value] = n.SelectionSet
					}
				}
			case *ast.InlineFragment:
				walk(n.SelectionSet, depth+1)
			case *ast.FragmentSpread:
				if def, ok := info.Fragments[n.Name.Value].(*ast.FragmentDefinition); ok {
					walk(def.SelectionSet, depth+1)
				}
			}
		}
	}
	walk(set, 0)
	return names, nested
}

func (r *Reader) resolveAuditEvents(p graphql.ResolveParams) (any, error) {
	c, err := callerFor(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	var f audit.Filter
	f.PatientID, _ = p.Args["patient"].(string)
	f.ActorID, _ = p.Args["actor"].(string)
	f.Action, _ = p.Args["action"].(string)
	f.Outcome, _ = p.Args["outcome"].(string)
	f.After, _ = p.Args["after"].(string)
	f.Limit = 100
	if n, ok := p.Args["first"].(int); ok {
		if n < 1 || n > 1000 {
			return nil, badRequest("first must be between 1 and 1000")
		}
		f.Limit = n
	}
	for _, tv := range []struct {
		arg string
		dst *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s, ok := p.Args[tv.arg].(string); ok && s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, badRequest(tv.arg + " must be an RFC 3339 time")
			}
			*tv.dst = t
		}
	}
	events, err := r.AuditEvents(p.Context, c, f)
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]map[string]any, len(events))
	for i, e := range events {
		out[i] = map[string]any{
			"id": e.ID, "time": e.Time.Format(time.RFC3339Nano), "code": e.Code, "action": e.Action,
			"outcome": e.Outcome, "actor": e.ActorID, "roles": e.ActorRoles, "organization": e.ActorOrg,
			"application": e.Application, "purpose": e.Purpose, "patient": e.PatientID,
			"recordType": e.RecordType, "recordIds": e.RecordIDs, "disclosed": e.Disclosed, "masked": e.Masked,
			"policyRevision": e.PolicyRevision, "rules": e.Rules, "consents": e.Consents, "reason": e.Reason,
			"requestId": e.RequestID, "shard": e.Shard, "seq": float64(e.Seq), "hash": e.Hash,
		}
	}
	return out, nil
}

// APIError is an error as the API shows it: a message free of internals and
// PHI, and a machine-readable code in the GraphQL error's extensions.
type APIError struct {
	Code    string // FORBIDDEN, NOT_FOUND, UNAVAILABLE, BAD_REQUEST, UNAUTHENTICATED
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Extensions implements graphql-go's gqlerrors.ExtendedError.
func (e *APIError) Extensions() map[string]any { return map[string]any{"code": e.Code} }

func badRequest(msg string) error { return &APIError{Code: "BAD_REQUEST", Message: msg} }

// BadRequest is the API error for invalid arguments; msg must carry no PHI.
func BadRequest(msg string) error { return badRequest(msg) }

// APIErrorOf translates an internal error into the error the API shows
// (DenyError → FORBIDDEN, ErrNotFound → NOT_FOUND, ErrAudit/ErrKeys →
// UNAVAILABLE, anything else → UNAVAILABLE with no detail).
func APIErrorOf(err error) error {
	var api *APIError
	if errors.As(err, &api) {
		return api
	}
	return apiError(err)
}

// CallerFrom builds the caller of a GraphQL request from its verified
// identity and the arguments purpose and breakGlassReason (a purpose the
// token does not grant is refused).
func CallerFrom(ctx context.Context, args map[string]any) (Caller, error) {
	return callerFor(ctx, args)
}

// apiError translates internal errors at the edge.
func apiError(err error) error {
	var deny *DenyError
	var api *APIError
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &deny):
		return &APIError{Code: "FORBIDDEN", Message: deny.Error()}
	case errors.Is(err, ErrErased):
		return governanceAPIError(err)
	case errors.Is(err, ErrNotFound):
		return &APIError{Code: "NOT_FOUND", Message: "patient not found"}
	case errors.Is(err, ErrAudit):
		return &APIError{Code: "UNAVAILABLE", Message: ErrAudit.Error()}
	case errors.Is(err, ErrKeys):
		return &APIError{Code: "UNAVAILABLE", Message: ErrKeys.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &APIError{Code: "UNAVAILABLE", Message: "request cancelled"}
	default:
		return &APIError{Code: "UNAVAILABLE", Message: "temporarily unavailable; nothing disclosed"}
	}
}

// callerFor builds the caller of a request from its identity and the
// purpose arguments.
func callerFor(ctx context.Context, args map[string]any) (Caller, error) {
	id, ok := IdentityFrom(ctx)
	if !ok {
		return Caller{}, &APIError{Code: "UNAUTHENTICATED", Message: "authentication required"}
	}
	purpose, _ := args["purpose"].(string)
	if purpose == "" && len(id.Purposes) > 0 {
		purpose = id.Purposes[0]
	}
	if purpose == "" {
		return Caller{}, badRequest("a purpose of use is required (token claim purpose_of_use or argument purpose)")
	}
	if !contains(id.Purposes, purpose) {
		return Caller{}, &APIError{Code: "FORBIDDEN", Message: fmt.Sprintf("purpose %s is not granted by the token", purpose)}
	}
	reason, _ := args["breakGlassReason"].(string)
	return Caller{
		Subject: subjectOf(id, purpose, reason), Application: id.Application, RequestID: RequestIDFrom(ctx),
		Practitioner: id.FHIRUser,
	}, nil
}

// ValidPatientID checks that id has the shape of an enterprise patient id
// ("P" and letters, digits, '-' or '_'; at most 64), so that an MRN, a
// name or any other text typed where an enterprise id belongs is refused
// before it reaches policy, the store or an audit row.
func ValidPatientID(id string) error {
	bad := BadRequest("patient must be an enterprise patient id (P...)")
	if len(id) < 2 || len(id) > 64 || id[0] != 'P' {
		return bad
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return bad
		}
	}
	return nil
}
