package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
)

const consentFields = `id version patient status decision purposes start end recorded source inForce`

// consentRecord: hubctl consent record --file consent.json (or - for stdin)
func consentRecord(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl consent record", flag.ContinueOnError)
	g := govFlags(fs)
	file := fs.String("file", "", "FHIR R4 Consent JSON (- for standard input)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(os.Stderr, "hubctl consent record: --file is required")
		return 2
	}
	var b []byte
	var err error
	if *file == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		b, err = os.ReadFile(*file)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl consent record: %v\n", err)
		return 2
	}
	return g.call(ctx, "consent record", `mutation($resource: String!, $purpose: String) {
  recordConsent(resource: $resource, purpose: $purpose) { `+consentFields+` } }`, map[string]any{"resource": string(b)}, "recordConsent")
}

// consentWithdraw: hubctl consent withdraw --patient P --consent ID
func consentWithdraw(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl consent withdraw", flag.ContinueOnError)
	g := govFlags(fs)
	patient := fs.String("patient", "", "enterprise patient id (P...)")
	id := fs.String("consent", "", "consent directive id (from consent list)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *patient == "" || *id == "" {
		fmt.Fprintln(os.Stderr, "hubctl consent withdraw: --patient and --consent are required")
		return 2
	}
	return g.call(ctx, "consent withdraw", `mutation($patient: ID!, $consent: ID!, $purpose: String) {
  withdrawConsent(patient: $patient, consentId: $consent, purpose: $purpose) { `+consentFields+` } }`,
		map[string]any{"patient": *patient, "consent": *id}, "withdrawConsent")
}

// consentList: hubctl consent list --patient P [--history]
func consentList(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl consent list", flag.ContinueOnError)
	g := govFlags(fs)
	patient := fs.String("patient", "", "enterprise patient id (P...)")
	history := fs.Bool("history", false, "every version, oldest first (default: the latest of each)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *patient == "" {
		fmt.Fprintln(os.Stderr, "hubctl consent list: --patient is required")
		return 2
	}
	return g.call(ctx, "consent list", `query($patient: ID!, $history: Boolean, $purpose: String) {
  consents(patient: $patient, history: $history, purpose: $purpose) { `+consentFields+` } }`,
		map[string]any{"patient": *patient, "history": *history}, "consents")
}
