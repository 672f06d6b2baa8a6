package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/carecrest/hub/query"
)

const alertFields = `id rule severity at actor patient text evidence status acknowledgedBy note resolvedBy resolution`

// alertsCmd is "hubctl alerts list|ack|resolve": anomalous-access alerts
// over GraphQL (security analyst or privacy officer token).
func alertsCmd(ctx context.Context, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "ack" && args[0] != "resolve") {
		fmt.Fprintln(os.Stderr, "usage: hubctl alerts list [--status open] [--rule R] [--first N] [--after ID] | ack --id A... [--note TICKET-1] | resolve --id A... --resolution true-positive|false-positive|benign|duplicate")
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("hubctl alerts "+sub, flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
	tok := fs.String("token", "", "bearer token (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	status := fs.String("status", "", "list: open, acknowledged or resolved")
	rule := fs.String("rule", "", "list: one rule id")
	first := fs.Int("first", 100, "list: page size (at most 1000)")
	after := fs.String("after", "", "list: cursor (last alert id of the previous page)")
	id := fs.String("id", "", "ack, resolve: the alert id")
	note := fs.String("note", "", "ack: case or ticket reference")
	resolution := fs.String("resolution", "", "resolve: true-positive, false-positive, benign or duplicate")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	t, err := tokenFrom(*tok, *tokFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl alerts: %v\n", err)
		return 2
	}
	var gql, field string
	vars := map[string]any{}
	switch sub {
	case "list":
		field = "alerts"
		gql = `query($status: String, $rule: String, $first: Int, $after: String) { alerts(status: $status, rule: $rule, first: $first, after: $after) { ` + alertFields + ` } }`
		vars["first"] = *first
		for k, v := range map[string]string{"status": *status, "rule": *rule, "after": *after} {
			if v != "" {
				vars[k] = v
			}
		}
	case "ack":
		field = "acknowledgeAlert"
		gql = `mutation($id: ID!, $note: String) { acknowledgeAlert(id: $id, note: $note) { ` + alertFields + ` } }`
		vars["id"], vars["note"] = *id, *note
	case "resolve":
		field = "resolveAlert"
		gql = `mutation($id: ID!, $resolution: String!) { resolveAlert(id: $id, resolution: $resolution) { ` + alertFields + ` } }`
		vars["id"], vars["resolution"] = *id, *resolution
	}
	res, err := query.Post(ctx, *url, t, gql, vars)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl alerts %s: %v\n", sub, err)
		return 1
	}
	if errs, ok := res["errors"].([]any); ok && len(errs) > 0 {
		b, _ := json.Marshal(errs)
		fmt.Fprintf(os.Stderr, "hubctl alerts %s: %s\n", sub, b)
		return 1
	}
	data, _ := res["data"].(map[string]any)
	var list []any
	if l, ok := data[field].([]any); ok {
		list = l
	} else if one, ok := data[field].(map[string]any); ok {
		list = []any{one}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
		return 0
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tRULE\tSTATUS\tAT\tACTOR\tPATIENT\tTEXT")
	for _, x := range list {
		a, _ := x.(map[string]any)
		fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\t%v\t%v\n", a["id"], a["rule"], a["status"], a["at"], a["actor"], orDash(a["patient"]), a["text"])
	}
	w.Flush()
	return 0
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
}
