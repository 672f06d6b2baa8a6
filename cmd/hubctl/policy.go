package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

const explainGQL = `query($patient: ID!, $recordType: String!, $subject: String!, $kind: String, $roles: [String!]!,
  $subjectPurpose: String!, $organization: String, $fhirUser: String, $breakGlassReason: String, $labels: [String!]) {
  explain(patient: $patient, recordType: $recordType, subject: $subject, kind: $kind, roles: $roles,
    subjectPurpose: $subjectPurpose, organization: $organization, fhirUser: $fhirUser,
    breakGlassReason: $breakGlassReason, labels: $labels) {
    recordType labels records allow fields mask rules reasons consents obligations profile revision
    consentDetails { id status inForce effect provision depth }
    ruleDetails { id kind reason }
  }
}`

// policyExplain is "hubctl policy explain": what policy decides when a
// subject reads a record type of a patient, and why (privacy officer,
// security analyst or administrator token). The question is itself
// audited.
func policyExplain(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl policy explain", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
	tok := fs.String("token", "", "bearer token (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	patient := fs.String("patient", "", "enterprise patient id (P...)")
	recordType := fs.String("type", "Observation", "FHIR record type")
	subject := fs.String("subject", "", "the subject's id (user, application or system)")
	kind := fs.String("kind", "user", "user, application or system")
	roles := fs.String("roles", "", "the subject's roles, comma-separated")
	purpose := fs.String("purpose", "TREAT", "the subject's purpose of use")
	org := fs.String("org", "", "the subject's organisation")
	fhirUser := fs.String("fhir-user", "", "the subject's practitioner (Practitioner/<id>), for care relationships")
	reason := fs.String("break-glass-reason", "", "break-the-glass reason, as the subject would give it")
	labels := fs.String("labels", "", "explain a record with these labels (comma-separated) instead of the stored ones")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *patient == "" || *subject == "" || *roles == "" {
		fmt.Fprintln(os.Stderr, "hubctl policy explain: --patient, --subject and --roles are required")
		return 2
	}
	t, err := tokenFrom(*tok, *tokFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl policy explain: %v\n", err)
		return 2
	}
	vars := map[string]any{
		"patient": *patient, "recordType": *recordType, "subject": *subject, "kind": *kind,
		"roles": splitList(*roles), "subjectPurpose": *purpose, "organization": *org, "fhirUser": *fhirUser,
		"breakGlassReason": *reason,
	}
	if *labels != "" {
		vars["labels"] = splitList(*labels)
	}
	_, field, rc := gqlRun(ctx, "policy explain", *url, t, explainGQL, vars, "explain")
	if rc != 0 {
		return rc
	}
	list, _ := field.([]any)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
		return 0
	}
	for _, x := range list {
		e, _ := x.(map[string]any)
		verdict := "DENY"
		if e["allow"] == true {
			verdict = "ALLOW"
		}
		fmt.Printf("%s %s of %s by %s (%s, %s) labels [%s], %v stored record(s)\n", verdict, e["recordType"], *patient,
			*subject, *roles, *purpose, join(e["labels"]), e["records"])
		fmt.Printf("  policy revision %v, profile %v\n", e["revision"], e["profile"])
		if e["allow"] == true {
			fmt.Printf("  fields disclosed: %s\n  fields masked:    %s\n", join(e["fields"]), join(e["mask"]))
		}
		if o := join(e["obligations"]); o != "" {
			fmt.Printf("  obligations: %s\n", o)
		}
		fmt.Println("  rules:")
		for _, r := range asList(e["ruleDetails"]) {
			fmt.Printf("    %-6v %-32v %v\n", r["kind"], r["id"], r["reason"])
		}
		if cs := asList(e["consentDetails"]); len(cs) > 0 {
			fmt.Println("  consents:")
			for _, c := range cs {
				fmt.Printf("    %v status %v in force %v: effect %v (provision %v)\n", c["id"], c["status"], c["inForce"], c["effect"], c["provision"])
			}
		}
	}
	return 0
}

func join(v any) string {
	l, _ := v.([]any)
	s := make([]string, 0, len(l))
	for _, x := range l {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

func asList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
