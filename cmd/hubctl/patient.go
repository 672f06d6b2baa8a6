package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/carecrest/hub/query"
)

// govClient holds the flags every governance command shares: where the hub
// is and whose token to use.
type govClient struct {
	url, token, tokenFile, purpose *string
}

func govFlags(fs *flag.FlagSet) govClient {
	return govClient{
		url:       fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint"),
		token:     fs.String("token", "", "bearer token (or --token-file, or $CARECREST_TOKEN)"),
		tokenFile: fs.String("token-file", "", "file holding the bearer token"),
		purpose:   fs.String("purpose", "", "purpose of use (default: the token's first)"),
	}
}

// call runs one GraphQL operation and prints its field as JSON. Exit codes:
// 0 done, 1 refused or failed (the hub's error is printed), 2 usage.
func (g govClient) call(ctx context.Context, name, q string, vars map[string]any, field string) int {
	t := *g.token
	if t == "" && *g.tokenFile != "" {
		b, err := os.ReadFile(*g.tokenFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", name, err)
			return 2
		}
		t = strings.TrimSpace(string(b))
	}
	if t == "" {
		t = os.Getenv("CARECREST_TOKEN")
	}
	if t == "" {
		fmt.Fprintf(os.Stderr, "hubctl %s: a token is required (--token, --token-file or $CARECREST_TOKEN)\n", name)
		return 2
	}
	if *g.purpose != "" {
		vars["purpose"] = *g.purpose
	}
	res, err := query.Post(ctx, *g.url, t, q, vars)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", name, err)
		return 1
	}
	if errs, ok := res["errors"].([]any); ok && len(errs) > 0 {
		for _, e := range errs {
			m, _ := e.(map[string]any)
			ext, _ := m["extensions"].(map[string]any)
			fmt.Fprintf(os.Stderr, "hubctl %s: %v: %v\n", name, ext["code"], m["message"])
		}
		return 1
	}
	data, _ := res["data"].(map[string]any)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(data[field])
	return 0
}

const patientStatusFields = `patient erased erasedAt erasureIncomplete legalHolds { category caseReference placedAt placedBy }`

// patientTarget adds --patient and --identifier and returns the GraphQL
// variables they give (exactly one is required).
func patientTarget(fs *flag.FlagSet) func() (map[string]any, error) {
	patient := fs.String("patient", "", "enterprise patient id (P...)")
	ident := fs.String("identifier", "", "or a business identifier as system|value (e.g. an MRN)")
	return func() (map[string]any, error) {
		switch {
		case (*patient == "") == (*ident == ""):
			return nil, fmt.Errorf("give exactly one of --patient or --identifier")
		case *patient != "":
			return map[string]any{"patient": *patient}, nil
		}
		return map[string]any{"identifier": *ident}, nil
	}
}

// patientErase: hubctl patient erase --patient P | --identifier sys|val
func patientErase(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl patient erase", flag.ContinueOnError)
	g := govFlags(fs)
	target := patientTarget(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	vars, err := target()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl patient erase: %v\n", err)
		return 2
	}
	return g.call(ctx, "patient erase", `mutation($patient: ID, $identifier: String, $purpose: String) {
  erasePatient(patient: $patient, identifier: $identifier, purpose: $purpose) { `+patientStatusFields+` } }`, vars, "erasePatient")
}

// patientStatus: hubctl patient status --patient P | --identifier sys|val
func patientStatus(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl patient status", flag.ContinueOnError)
	g := govFlags(fs)
	target := patientTarget(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	vars, err := target()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl patient status: %v\n", err)
		return 2
	}
	return g.call(ctx, "patient status", `query($patient: ID, $identifier: String, $purpose: String) {
  patientStatus(patient: $patient, identifier: $identifier, purpose: $purpose) { `+patientStatusFields+` } }`, vars, "patientStatus")
}

// patientHold: hubctl patient hold place --patient P --category C --case REF
// and hubctl patient hold lift --patient P --case REF.
func patientHold(place bool) func(ctx context.Context, args []string) int {
	return func(ctx context.Context, args []string) int {
		name := "patient hold lift"
		if place {
			name = "patient hold place"
		}
		fs := flag.NewFlagSet("hubctl "+name, flag.ContinueOnError)
		g := govFlags(fs)
		patient := fs.String("patient", "", "enterprise patient id (P...)")
		caseRef := fs.String("case", "", "case (matter) reference: letters, digits and . _ : / -")
		category := fs.String("category", "litigation", "litigation, investigation, regulatory, audit or other (place only)")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if *patient == "" || *caseRef == "" {
			fmt.Fprintf(os.Stderr, "hubctl %s: --patient and --case are required\n", name)
			return 2
		}
		vars := map[string]any{"patient": *patient, "case": *caseRef}
		if place {
			vars["category"] = *category
			return g.call(ctx, name, `mutation($patient: ID!, $category: String!, $case: String!, $purpose: String) {
  placeLegalHold(patient: $patient, category: $category, caseReference: $case, purpose: $purpose) { `+patientStatusFields+` } }`, vars, "placeLegalHold")
		}
		return g.call(ctx, name, `mutation($patient: ID!, $case: String!, $purpose: String) {
  liftLegalHold(patient: $patient, caseReference: $case, purpose: $purpose) { `+patientStatusFields+` } }`, vars, "liftLegalHold")
	}
}
