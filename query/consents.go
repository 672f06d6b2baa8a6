package query

import (
	"context"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/graphql-go/graphql"
)

// ActionConsentWrite is the governance action of the consent registry:
// recording, withdrawing and reviewing a patient's consents.
const ActionConsentWrite = "consent.write"

// ConsentVersion is one stored version of a consent directive; Version
// counts the directive's versions from 1, oldest first.
type ConsentVersion struct {
	consent.Directive
	Version int
}

// ConsentRegistry records, withdraws and lists consents
// (consent/registry.Registry). Every method is decided by policy and
// audited.
type ConsentRegistry interface {
	// Record takes a FHIR R4 Consent (JSON) through the ingest path.
	Record(ctx context.Context, c Caller, resource []byte) (ConsentVersion, error)
	// Withdraw stores a new version of the directive with status inactive.
	Withdraw(ctx context.Context, c Caller, patientID, consentID string) (ConsentVersion, error)
	// Versions lists the latest version of each directive, or every
	// version (oldest first) with history.
	Versions(ctx context.Context, c Caller, patientID string, history bool) ([]ConsentVersion, error)
}

var consentVersionType = obj("ConsentDirective", "One version of a patient's consent directive (the policy-relevant summary of a FHIR R4 Consent; no PHI).", graphql.Fields{
	"id":       {Type: graphql.NewNonNull(graphql.ID), Description: "Directive id, stable across versions."},
	"version":  {Type: graphql.NewNonNull(graphql.Int), Description: "1 for the first stored version."},
	"patient":  {Type: graphql.NewNonNull(graphql.ID)},
	"status":   str("active, inactive, rejected, entered-in-error, draft or proposed."),
	"decision": str("permit (opt-in) or deny (opt-out)."),
	"purposes": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String))), Description: "Purposes of use the root provision names (empty: all)."},
	"start":    str("Period start (RFC 3339), if any."),
	"end":      str("Period end, exclusive (RFC 3339), if any."),
	"recorded": str("When the version was recorded (RFC 3339)."),
	"source":   str("The system that recorded it (consent-registry for this API)."),
	"inForce":  {Type: graphql.NewNonNull(graphql.Boolean), Description: "Whether it applies now (active and inside its period)."},
})

// ConsentExtension adds the consent registry to the schema: mutations
// recordConsent and withdrawConsent, and the query consents.
func ConsentExtension(r *Reader, reg ConsentRegistry) Extension {
	one := func(fn func(ctx context.Context, c Caller, args map[string]any) (ConsentVersion, error)) graphql.FieldResolveFn {
		return func(p graphql.ResolveParams) (any, error) {
			c, err := callerFor(p.Context, p.Args)
			if err != nil {
				return nil, err
			}
			v, err := fn(p.Context, c, p.Args)
			if err != nil {
				return nil, governanceAPIError(err)
			}
			return consentMap(v, r.now()), nil
		}
	}
	return Extension{
		Query: graphql.Fields{
			"consents": {
				Type:        graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(consentVersionType))),
				Description: "A patient's consent directives: the latest version of each, or with history every version, oldest first. Governed by consent.write and audited.",
				Args: graphql.FieldConfigArgument{
					"patient": {Type: graphql.NewNonNull(graphql.ID)},
					"history": {Type: graphql.Boolean, Description: "Every version, not only the latest."},
					"purpose": {Type: graphql.String},
				},
				Resolve: func(p graphql.ResolveParams) (any, error) {
					c, err := callerFor(p.Context, p.Args)
					if err != nil {
						return nil, err
					}
					patient, _ := p.Args["patient"].(string)
					history, _ := p.Args["history"].(bool)
					vs, err := reg.Versions(p.Context, c, patient, history)
					if err != nil {
						return nil, governanceAPIError(err)
					}
					now := r.now()
					out := make([]map[string]any, len(vs))
					for i, v := range vs {
						out[i] = consentMap(v, now)
					}
					return out, nil
				},
			},
		},
		Mutation: graphql.Fields{
			"recordConsent": {
				Type:        graphql.NewNonNull(consentVersionType),
				Description: "Record a FHIR R4 Consent (JSON; its patient referenced by a business identifier) through the ingest path. A resource without id gets one; without meta.versionId, a digest of its content, so sending the same resource twice stores it once. Audited.",
				Args: graphql.FieldConfigArgument{
					"resource": {Type: graphql.NewNonNull(graphql.String), Description: "FHIR R4 Consent JSON."},
					"purpose":  {Type: graphql.String},
				},
				Resolve: one(func(ctx context.Context, c Caller, a map[string]any) (ConsentVersion, error) {
					res, _ := a["resource"].(string)
					return reg.Record(ctx, c, []byte(res))
				}),
			},
			"withdrawConsent": {
				Type:        graphql.NewNonNull(consentVersionType),
				Description: "Withdraw a consent: a new version with status inactive, in force on every hub instance from the next decision. Audited.",
				Args: graphql.FieldConfigArgument{
					"patient":   {Type: graphql.NewNonNull(graphql.ID)},
					"consentId": {Type: graphql.NewNonNull(graphql.ID)},
					"purpose":   {Type: graphql.String},
				},
				Resolve: one(func(ctx context.Context, c Caller, a map[string]any) (ConsentVersion, error) {
					patient, _ := a["patient"].(string)
					id, _ := a["consentId"].(string)
					return reg.Withdraw(ctx, c, patient, id)
				}),
			},
		},
	}
}

func consentMap(v ConsentVersion, now time.Time) map[string]any {
	purposes := append([]string{}, v.Purposes...)
	m := map[string]any{
		"id": v.ID, "version": v.Version, "patient": v.PatientID, "status": v.Status, "decision": v.Decision,
		"purposes": purposes, "source": v.Source, "inForce": v.InForce(now),
	}
	for k, t := range map[string]time.Time{"start": v.Start, "end": v.End, "recorded": v.Recorded} {
		if !t.IsZero() {
			m[k] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	return m
}
