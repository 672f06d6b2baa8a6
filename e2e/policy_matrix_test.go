package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/policy/policytest"
	"github.com/carecrest/hub/record"
	"github.com/carecrest/hub/route"
	"github.com/carecrest/hub/server"
	"github.com/carecrest/hub/store"
)

// relatedField is the GraphQL field of the patient view for each record
// type of the policy cases ("" for Patient, the view itself).
var relatedField = map[string]string{
	"Patient": "", "Observation": "observations", "Condition": "conditions", "Claim": "claims",
	"Coverage": "coverages", "DiagnosticReport": "diagnosticReports", "DocumentReference": "documentReferences",
	"Encounter": "encounters", "ImagingStudy": "imagingStudies", "Immunization": "immunizations",
	"MedicationRequest": "medicationRequests", "Appointment": "appointments",
}

// pathDecision is a decision as one path shows it.
type pathDecision struct {
	allow       bool
	rules       []string
	obligations []string
}

func (d pathDecision) policy() policy.Decision {
	return policy.Decision{Allow: d.allow, Rules: d.rules, Obligations: d.obligations}
}

// TestPolicyCasesOnEveryPath runs the policy's decision table
// (policy/policytest: role x purpose x consent x label x relationship x
// break-the-glass) through the running hub, each case with its own patient,
// records, consents, care relationship and break-the-glass session stored
// as the hub stores them, and asks every path that can express the case:
//
//   - the GraphQL read (users and applications: tokens carry no system
//     kind), decision read back from its audit event, obligations from the
//     notices the view carries;
//   - the outbound route (applications and systems, the subscribers the
//     hub routes to; routing never breaks the glass and a subscriber has no
//     care relationship), through route.Plan
//     with the hub's policy, consent store and sealer;
//   - the explain query (every case), asked by a privacy officer.
//
// Each path must give the case's expected decision, and every path that
// can express the case must give the same allow and the same rules.
func TestPolicyCasesOnEveryPath(t *testing.T) {
	if len(policytest.Cases) < 60 {
		t.Fatalf("%d policy cases, want at least 60", len(policytest.Cases))
	}
	hubs := map[string]*server.Hub{}
	for _, profile := range []string{"hipaa", "gdpr"} {
		cfg := testConfig(t)
		cfg.Policy.Profile = profile
		h := startWith(t, cfg)
		h.Reader.Now = func() time.Time { return policytest.Now }
		hubs[profile] = h
	}
	ctx := context.Background()
	paths := map[string]int{}
	for i, c := range policytest.Cases {
		profile := c.Profile
		if profile == "" {
			profile = "hipaa"
		}
		h := hubs[profile]
		patient := fmt.Sprintf("Pmatrix%03d", i)
		subject := fmt.Sprintf("subject-%03d", i)
		t.Run(c.Name, func(t *testing.T) {
			sealed := seedCase(t, h, c, patient, subject)
			kind := c.Kind
			if kind == "" {
				kind = "user"
			}
			got := map[string]pathDecision{}

			// Explain: every case.
			officer := mint(t, h, "po.matrix", []string{"privacy_officer"}, []string{"HOPERAT"})
			vars := map[string]any{
				"patient": patient, "recordType": c.RecordType, "subject": subject, "kind": kind,
				"roles": c.Roles, "subjectPurpose": c.Purpose, "organization": c.Org, "fhirUser": "Practitioner/" + subject,
			}
			if c.BreakGlassReason != "" && c.BreakGlassAge == 0 {
				vars["breakGlassReason"] = c.BreakGlassReason
			}
			r := gql(t, h, officer, `query($patient: ID!, $recordType: String!, $subject: String!, $kind: String, $roles: [String!]!,
			  $subjectPurpose: String!, $organization: String, $fhirUser: String, $breakGlassReason: String) {
			  explain(patient: $patient, recordType: $recordType, subject: $subject, kind: $kind, roles: $roles,
			    subjectPurpose: $subjectPurpose, organization: $organization, fhirUser: $fhirUser, breakGlassReason: $breakGlassReason) {
			    allow rules obligations records } }`, vars)
			if len(r.Errors) > 0 {
				t.Fatalf("explain: %+v", r.Errors)
			}
			ex, _ := r.Data["explain"].([]any)
			if len(ex) != 1 {
				t.Fatalf("explain gave %d explanations, want 1: %v", len(ex), ex)
			}
			e := ex[0].(map[string]any)
			got["explain"] = pathDecision{allow: e["allow"] == true, rules: strList(e["rules"]), obligations: strList(e["obligations"])}

			// GraphQL read: users and applications.
			if kind == "user" || kind == "application" {
				got["graphql"] = readCase(t, h, c, kind, patient, subject)
			}
			// Outbound route: applications and systems, without break-the-glass
			// and without a care relationship (a subscriber has neither).
			if (kind == "application" || kind == "system") && c.BreakGlassReason == "" && !c.Relationship {
				got["route"] = routeCase(t, h, c, kind, subject, sealed)
			}

			for path, d := range got {
				paths[path]++
				if msg := c.Check(d.policy()); msg != "" {
					t.Errorf("%s: %s", path, msg)
				}
				if d.allow != got["explain"].allow || !slices.Equal(sorted(d.rules), sorted(got["explain"].rules)) {
					t.Errorf("%s decided allow=%v rules %v; explain allow=%v rules %v", path, d.allow, d.rules,
						got["explain"].allow, got["explain"].rules)
				}
			}
		})
	}
	t.Logf("decisions compared: %v over %d cases", paths, len(policytest.Cases))
	if paths["graphql"] < 60 || paths["route"] < 20 {
		t.Errorf("too few cases reached a path: %v", paths)
	}
	_ = ctx
}

// seedCase stores what the case needs, as the hub stores it: one sealed
// record of the case's type with its labels, the case's consents for the
// patient, the care relationship, and an open break-the-glass session.
func seedCase(t *testing.T, h *server.Hub, c policytest.Case, patient, subject string) record.Sealed {
	t.Helper()
	ctx := context.Background()
	key := record.NewKey("matrix", patient+"/"+c.RecordType, 0)
	rec := record.Record{
		ID: record.IDFromKey(key), Type: c.RecordType, Source: "ehr", MessageID: "matrix-" + patient, Key: key,
		PatientID: patient, Labels: c.Labels, Received: policytest.Now.Add(-time.Hour),
		Resource: map[string]any{"resourceType": c.RecordType, "id": record.IDFromKey(key), "status": "final", "note": []any{map[string]any{"text": "synthetic " + c.Name}}},
	}
	sealed, err := h.Sealer.Seal(ctx, &rec)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.AllDirectives()
	if err != nil {
		t.Fatal(err)
	}
	b := store.Batch{Records: []record.Sealed{sealed}}
	for i, d := range ds {
		d.PatientID = patient
		b.Consents = append(b.Consents, store.ConsentVersion{Key: fmt.Sprintf("%s-consent-%d", patient, i), Directive: d})
	}
	if _, err := h.Store.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if c.Relationship {
		if err := h.Index.PutFacts(ctx, mpi.Facts{Care: []mpi.Relationship{{Practitioner: "Practitioner/" + subject, PatientID: patient}}}); err != nil {
			t.Fatal(err)
		}
	}
	if c.BreakGlassReason != "" && c.BreakGlassAge > 0 {
		// The session was opened by an earlier read, BreakGlassAge ago.
		if err := h.Store.Append(ctx, []audit.Event{{
			Time: policytest.Now.Add(-c.BreakGlassAge), Code: audit.CodeBreakGlass, Action: audit.ActionRead,
			Outcome: audit.OutcomeAllow, ActorID: subject, ActorRoles: c.Roles, Purpose: "ETREAT",
			PatientID: patient, RecordType: c.RecordType, Reason: c.BreakGlassReason,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return sealed
}

// readCase reads the case's record type over GraphQL as the case's subject
// and returns the decision its audit event records.
func readCase(t *testing.T, h *server.Hub, c policytest.Case, kind, patient, subject string) pathDecision {
	t.Helper()
	s, err := auth.LoadSigner(h.Config.Auth.DevSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Mint(auth.Claims{
		Subject: subject, Roles: c.Roles, Purposes: []string{c.Purpose}, Application: "matrix", Kind: kind, Org: c.Org,
		FHIRUser: "Practitioner/" + subject, Issuer: h.Config.Auth.Issuer, Audience: h.Config.Auth.Audience,
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	field, ok := relatedField[c.RecordType]
	if !ok {
		t.Fatalf("no GraphQL field for %s", c.RecordType)
	}
	sel := "id notices"
	if field != "" {
		sel = field + " { id notices }"
	}
	vars := map[string]any{"id": patient, "purpose": c.Purpose}
	if c.BreakGlassReason != "" && c.BreakGlassAge == 0 {
		vars["reason"] = c.BreakGlassReason
	}
	r := gql(t, h, tok, `query($id: ID, $purpose: String, $reason: String) { patient(id: $id, purpose: $purpose, breakGlassReason: $reason) { `+sel+` } }`, vars)
	evs, err := h.Store.Query(context.Background(), audit.Filter{ActorID: subject, PatientID: patient, RecordType: c.RecordType,
		From: policytest.Now, Codes: []string{audit.CodeRecordRead, audit.CodeRecordReadDeny, audit.CodeBreakGlass}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("GraphQL read audited %d events for %s, want 1 (response errors %+v)", len(evs), c.RecordType, r.Errors)
	}
	d := pathDecision{allow: evs[0].Outcome == audit.OutcomeAllow, rules: evs[0].Rules}
	if d.allow { // the notices the view carries are the obligations met
		var res []any
		if p, ok := r.Data["patient"].(map[string]any); ok {
			if field == "" {
				res = []any{p}
			} else {
				res, _ = p[field].([]any)
			}
		}
		if len(res) != 1 {
			t.Fatalf("allowed read returned %d %s records (errors %+v)", len(res), c.RecordType, r.Errors)
		}
		if n := strList(res[0].(map[string]any)["notices"]); slices.Contains(n, route.Part2Notice) {
			d.obligations = append(d.obligations, policy.ObligationPart2Notice)
		}
		if evs[0].Code == audit.CodeBreakGlass {
			// The review obligation is met by auditing the read under the
			// break-the-glass code (the review queue and the alert key on it).
			d.obligations = append(d.obligations, policy.ObligationBreakGlassReview)
		}
	}
	return d
}

// routeCase plans the routing of the case's record to a subscriber that is
// the case's subject and returns the decision the plan audits.
func routeCase(t *testing.T, h *server.Hub, c policytest.Case, kind, subject string, sealed record.Sealed) pathDecision {
	t.Helper()
	r, err := route.New(route.Config{Subscribers: []route.Subscriber{{
		Name: subject, Roles: c.Roles, Kind: kind, Org: c.Org, Purpose: c.Purpose, Types: []string{c.RecordType},
	}}}, route.Deps{Decider: h.Policy, Consents: h.Store, Opener: h.Sealer, Now: func() time.Time { return policytest.Now }})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := r.Plan(context.Background(), []record.Sealed{sealed})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Events) != 1 {
		t.Fatalf("route planned %d events, want 1", len(plan.Events))
	}
	e := plan.Events[0]
	d := pathDecision{allow: e.Outcome == audit.OutcomeAllow, rules: e.Rules}
	if d.allow {
		if len(plan.Messages) != 1 {
			t.Fatalf("allowed route planned %d messages", len(plan.Messages))
		}
		if strings.Contains(string(plan.Messages[0].Value), route.Part2Notice) {
			d.obligations = []string{policy.ObligationPart2Notice}
		}
	}
	return d
}

func sorted(l []string) []string {
	out := slices.Clone(l)
	slices.Sort(out)
	return out
}
