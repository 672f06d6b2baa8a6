package query

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/carecrest/hub/alert"
	"github.com/carecrest/hub/audit"
	"github.com/graphql-go/graphql"
)

var alertIDPattern = regexp.MustCompile(`^A[a-z2-7]{24}$`)

var alertType = obj("Alert", "An anomalous-access alert, explained, with what was done about it. It names actors by id and patients by enterprise id, never by PHI.", graphql.Fields{
	"id":             {Type: graphql.NewNonNull(graphql.ID)},
	"rule":           {Type: graphql.NewNonNull(graphql.String), Description: "Rule id: break-glass, vip-access, own-record, shared-demographics, no-relationship, off-hours, volume-spike, repeated-denials, bulk-export."},
	"severity":       str("high, medium or low."),
	"at":             str("Time of the access that raised it (RFC 3339)."),
	"raised":         str("When the engine raised it (RFC 3339)."),
	"actor":          str("The user or application whose access raised it."),
	"patient":        {Type: graphql.ID, Description: "Enterprise patient id, when the rule concerns one patient."},
	"text":           str("The explanation, with the rule's numbers."),
	"evidence":       strs("Audit event ids of the evidence."),
	"status":         str("open, acknowledged or resolved."),
	"acknowledgedBy": str(""), "acknowledgedAt": str(""), "note": str("Case or ticket reference given on acknowledgement."),
	"resolvedBy": str(""), "resolvedAt": str(""), "resolution": str("true-positive, false-positive, benign or duplicate."),
})

// AlertsExtension adds the alerts query and the acknowledgeAlert and
// resolveAlert mutations. Each is decided by policy (action alert.manage)
// and audited, fail closed; alert state lives in the audit log itself.
func AlertsExtension(r *Reader) Extension {
	return Extension{
		Query: graphql.Fields{
			"alerts": {
				Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(alertType))),
				Description: "Anomalous-access alerts, oldest first (security analysts and privacy officers). The query is audited.",
				Args: graphql.FieldConfigArgument{
					"status": {Type: graphql.String, Description: "open, acknowledged or resolved."},
					"rule":   {Type: graphql.String},
					"first":  {Type: graphql.Int, Description: "Page size (default 100, at most 1000)."},
					"after":  {Type: graphql.String, Description: "Cursor: the id of the last alert of the previous page."},
				},
				Resolve: func(p graphql.ResolveParams) (any, error) { return r.resolveAlerts(p) },
			},
		},
		Mutation: graphql.Fields{
			"acknowledgeAlert": {
				Type:        graphql.NewNonNull(alertType),
				Description: "Acknowledge an open alert; note is a case or ticket reference (letters, digits, . _ : / # -), not free text. Audited.",
				Args: graphql.FieldConfigArgument{
					"id": {Type: graphql.NewNonNull(graphql.ID)}, "note": {Type: graphql.String},
				},
				Resolve: func(p graphql.ResolveParams) (any, error) { return r.resolveAlertChange(p, false) },
			},
			"resolveAlert": {
				Type:        graphql.NewNonNull(alertType),
				Description: "Resolve an alert as true-positive, false-positive, benign or duplicate. Audited.",
				Args: graphql.FieldConfigArgument{
					"id": {Type: graphql.NewNonNull(graphql.ID)}, "resolution": {Type: graphql.NewNonNull(graphql.String)},
				},
				Resolve: func(p graphql.ResolveParams) (any, error) { return r.resolveAlertChange(p, true) },
			},
		},
	}
}

func (r *Reader) resolveAlerts(p graphql.ResolveParams) (any, error) {
	c, err := CallerFrom(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	status, _ := p.Args["status"].(string)
	rule, _ := p.Args["rule"].(string)
	after, _ := p.Args["after"].(string)
	if status != "" && !slices.Contains([]string{alert.StatusOpen, alert.StatusAcknowledged, alert.StatusResolved}, status) {
		return nil, BadRequest("status must be open, acknowledged or resolved")
	}
	if rule != "" && !slices.Contains(alert.Rules, rule) {
		return nil, BadRequest("unknown rule; valid: " + strings.Join(alert.Rules, ", "))
	}
	if after != "" && !alertIDPattern.MatchString(after) {
		return nil, BadRequest("after must be an alert id")
	}
	first := 100
	if n, ok := p.Args["first"].(int); ok {
		if n < 1 || n > 1000 {
			return nil, BadRequest("first must be between 1 and 1000")
		}
		first = n
	}
	var page []alert.State
	err = r.Govern(p.Context, c, Governed{
		Action: alert.ActionManage, Code: audit.CodeAuditQuery, DenyCode: audit.CodeAuditQueryDeny, RecordType: alert.RecordTypeAlert,
		Describe: strings.TrimSpace("alerts status=" + status + " rule=" + rule + " after=" + after),
	}, func(ctx context.Context) error {
		states, err := alert.Load(ctx, r.Querier)
		if err != nil {
			return err
		}
		started := after == ""
		for _, s := range states {
			if !started {
				started = s.ID == after
				continue
			}
			if (status == "" || s.Status == status) && (rule == "" || s.Rule == rule) {
				page = append(page, s)
				if len(page) == first {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, APIErrorOf(err)
	}
	out := make([]map[string]any, len(page))
	for i, s := range page {
		out[i] = alertMap(s)
	}
	return out, nil
}

func (r *Reader) resolveAlertChange(p graphql.ResolveParams, resolve bool) (any, error) {
	c, err := CallerFrom(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	id, _ := p.Args["id"].(string)
	if !alertIDPattern.MatchString(id) {
		return nil, BadRequest("id must be an alert id")
	}
	g := Governed{Action: alert.ActionManage, DenyCode: audit.CodeAlertChangeDeny, RecordType: alert.RecordTypeAlert, RecordIDs: []string{id}}
	var value string
	if resolve {
		value, _ = p.Args["resolution"].(string)
		if !slices.Contains(alert.Resolutions, value) {
			return nil, BadRequest("resolution must be one of " + strings.Join(alert.Resolutions, ", "))
		}
		g.Code, g.Describe = audit.CodeAlertResolve, alert.ResolveReason(id, value)
	} else {
		value, _ = p.Args["note"].(string)
		if value == "" {
			value = "-"
		} else if !alert.NotePattern.MatchString(value) {
			return nil, BadRequest("note must be a case or ticket reference (letters, digits, . _ : / # -, at most 64), not free text")
		}
		g.Code, g.Describe = audit.CodeAlertAck, alert.AckReason(id, value)
	}
	var st alert.State
	err = r.Govern(p.Context, c, g, func(ctx context.Context) error {
		states, err := alert.Load(ctx, r.Querier)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(states, func(s alert.State) bool { return s.ID == id })
		if i < 0 {
			return &APIError{Code: "NOT_FOUND", Message: "alert not found"}
		}
		st = states[i]
		switch {
		case st.Status == alert.StatusResolved:
			return BadRequest("alert is already resolved")
		case !resolve && st.Status == alert.StatusAcknowledged:
			return BadRequest("alert is already acknowledged")
		}
		return nil
	})
	if err != nil {
		return nil, APIErrorOf(err)
	}
	now := r.now()
	if resolve {
		st.Status, st.ResolvedBy, st.ResolvedAt, st.Resolution = alert.StatusResolved, c.Subject.ID, now, value
	} else {
		st.Status, st.AcknowledgedBy, st.AcknowledgedAt, st.Note = alert.StatusAcknowledged, c.Subject.ID, now, value
	}
	return alertMap(st), nil
}

func alertMap(s alert.State) map[string]any {
	t := func(v time.Time) any {
		if v.IsZero() {
			return nil
		}
		return v.UTC().Format(time.RFC3339Nano)
	}
	opt := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	return map[string]any{
		"id": s.ID, "rule": s.Rule, "severity": s.Severity, "at": t(s.At), "raised": t(s.Raised),
		"actor": s.ActorID, "patient": opt(s.PatientID), "text": s.Text, "evidence": s.EventIDs, "status": s.Status,
		"acknowledgedBy": opt(s.AcknowledgedBy), "acknowledgedAt": t(s.AcknowledgedAt), "note": opt(s.Note),
		"resolvedBy": opt(s.ResolvedBy), "resolvedAt": t(s.ResolvedAt), "resolution": opt(s.Resolution),
	}
}
