// Command hubctl is the operator's CLI for CareCrest Hub.
//
//	hubctl token  --role physician --sub dr.osei --purpose TREAT,ETREAT
//	hubctl audit query  --token-file F [--patient P] [--actor A] [--from T] [--to T] [--format table|json|ndjson]
//	hubctl audit verify [--config FILE]
//
// Exit codes: 0 success, 1 failure, 2 usage error, 3 audit verification
// found problems.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/server"
)

// command is one hubctl subcommand: its words ("audit verify"), a line of
// usage, and what runs it with the remaining arguments. Each command lives
// in its own file; this table is the only place that lists them.
type command struct {
	words []string
	help  string
	run   func(ctx context.Context, args []string) int
}

var commands = []command{
	{[]string{"token"}, "mint a development JWT (dev signing key of the config)", func(_ context.Context, a []string) int { return token(a) }},
	{[]string{"audit", "query"}, "query the audit log over GraphQL (privacy officer / security analyst token)", auditQuery},
	{[]string{"audit", "verify"}, "walk the stored audit chains and report every break", auditVerify},
	{[]string{"keys", "rotate"}, "rotate the key-encryption key and re-wrap every stored data key", keysRotate},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  hubctl %-24s %s\n", strings.Join(c.words, " ")+" [flags]", c.help)
	}
	b.WriteString("\nRun \"hubctl <command> -h\" for flags.")
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) >= 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Println(usage())
		return 0
	}
	for _, c := range commands {
		if len(args) >= len(c.words) && slices.Equal(args[:len(c.words)], c.words) {
			return c.run(ctx, args[len(c.words):])
		}
	}
	fmt.Fprintln(os.Stderr, usage())
	return 2
}

func loadConfig(path, dataDir string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		cfg.SetDataDir(dataDir)
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func token(args []string) int {
	fs := flag.NewFlagSet("hubctl token", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub configuration file (for issuer, audience and dev signing key)")
	dataDir := fs.String("data-dir", "", "hub data directory (default: the config's; the demo uses data/demo)")
	key := fs.String("key", "", "Ed25519/ECDSA/RSA private key PEM (default: the config's dev signing key)")
	sub := fs.String("sub", "", "subject (user or client id)")
	name := fs.String("name", "", "display name")
	roles := fs.String("role", "", "role(s), comma-separated: physician, nurse, billing_clerk, privacy_officer, ...")
	purposes := fs.String("purpose", "TREAT", "purpose(s) of use, comma-separated (TREAT, ETREAT, HPAYMT, HOPERAT, ...)")
	org := fs.String("org", "", "organisation")
	app := fs.String("app", "hubctl", "client application (azp)")
	kind := fs.String("kind", "user", "user or application")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sub == "" || *roles == "" {
		fmt.Fprintln(os.Stderr, "hubctl token: --sub and --role are required")
		return 2
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl token: %v\n", err)
		return 2
	}
	keyPath := *key
	if keyPath == "" {
		keyPath = cfg.Auth.DevSigningKey
	}
	if keyPath == "" {
		fmt.Fprintln(os.Stderr, "hubctl token: no signing key: pass --key or configure auth.dev_signing_key")
		return 2
	}
	signer, err := auth.LoadSigner(keyPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl token: %v (has the hub run once with this data directory?)\n", err)
		return 1
	}
	tok, err := signer.Mint(auth.Claims{
		Subject: *sub, Name: *name, Roles: splitList(*roles), Purposes: splitList(*purposes), Org: *org,
		Application: *app, Kind: *kind, Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience,
	}, *ttl)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl token: %v\n", err)
		return 1
	}
	fmt.Println(tok)
	return 0
}

const auditGQL = `query($patient: ID, $actor: String, $action: String, $outcome: String, $from: String, $to: String, $after: String, $first: Int) {
  auditEvents(patient: $patient, actor: $actor, action: $action, outcome: $outcome, from: $from, to: $to, after: $after, first: $first) {
    id time code action outcome actor roles organization application purpose patient recordType recordIds
    disclosed masked policyRevision rules consents reason requestId shard seq hash
  }
}`

func auditQuery(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit query", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
	tok := fs.String("token", "", "bearer token (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	patient := fs.String("patient", "", "enterprise patient id")
	actor := fs.String("actor", "", "actor (user, application or source system)")
	action := fs.String("action", "", "read, write, reject, consent, audit.query")
	outcome := fs.String("outcome", "", "allow or deny")
	from := fs.String("from", "", "RFC 3339 start (inclusive)")
	to := fs.String("to", "", "RFC 3339 end (exclusive)")
	limit := fs.Int("limit", 1000, "most events to fetch (pages of up to 1000)")
	format := fs.String("format", "table", "table, json or ndjson")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	t := *tok
	if t == "" && *tokFile != "" {
		b, err := os.ReadFile(*tokFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hubctl audit query: %v\n", err)
			return 2
		}
		t = strings.TrimSpace(string(b))
	}
	if t == "" {
		t = os.Getenv("CARECREST_TOKEN")
	}
	if t == "" {
		fmt.Fprintln(os.Stderr, "hubctl audit query: a token is required (--token, --token-file or $CARECREST_TOKEN)")
		return 2
	}
	vars := map[string]any{}
	for k, v := range map[string]string{"patient": *patient, "actor": *actor, "action": *action, "outcome": *outcome, "from": *from, "to": *to} {
		if v != "" {
			vars[k] = v
		}
	}
	var events []map[string]any
	for len(events) < *limit {
		vars["first"] = min(1000, *limit-len(events))
		res, err := query.Post(ctx, *url, t, auditGQL, vars)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hubctl audit query: %v\n", err)
			return 1
		}
		if errs, ok := res["errors"].([]any); ok && len(errs) > 0 {
			b, _ := json.Marshal(errs)
			fmt.Fprintf(os.Stderr, "hubctl audit query: %s\n", b)
			return 1
		}
		data, _ := res["data"].(map[string]any)
		page, _ := data["auditEvents"].([]any)
		for _, e := range page {
			m, _ := e.(map[string]any)
			events = append(events, m)
		}
		if len(page) < vars["first"].(int) {
			break
		}
		vars["after"] = events[len(events)-1]["id"]
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(events)
	case "ndjson":
		enc := json.NewEncoder(os.Stdout)
		for _, e := range events {
			_ = enc.Encode(e)
		}
	default:
		tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tCODE\tACTION\tOUTCOME\tACTOR\tPURPOSE\tPATIENT\tTYPE\tDISCLOSED\tMASKED\tREASON")
		for _, e := range events {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\n", e["time"], e["code"], e["action"], e["outcome"],
				e["actor"], e["purpose"], e["patient"], e["recordType"], e["disclosed"], e["masked"], e["reason"])
		}
		_ = tw.Flush()
	}
	return 0
}

func auditVerify(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit verify", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub configuration file")
	dataDir := fs.String("data-dir", "", "hub data directory (the demo uses data/demo)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl audit verify: %v\n", err)
		return 2
	}
	if cfg.Store.Backend == "sqlite" {
		if _, err := os.Stat(cfg.Store.SQLite.Path); err != nil {
			fmt.Fprintf(os.Stderr, "hubctl audit verify: %v\n", err)
			return 1
		}
	}
	st, err := server.OpenStore(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl audit verify: %v\n", err)
		return 1
	}
	defer st.Close()
	start := time.Now()
	rep, err := audit.Verify(ctx, st)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "hubctl audit verify: %v\n", err)
		return 1
	}
	el := time.Since(start)
	fmt.Printf("verified %d events in %d shard(s) in %s (%.0f events/s)\n", rep.Events, rep.Shards, el.Round(time.Millisecond),
		float64(rep.Events)/max(el.Seconds(), 1e-9))
	if rep.OK() {
		fmt.Println("OK: every chain is intact")
		return 0
	}
	for _, p := range rep.Problems {
		fmt.Println("TAMPERED:", p)
	}
	fmt.Printf("%d problem(s): the audit log was altered\n", len(rep.Problems))
	return 3
}

func keysRotate(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl keys rotate", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub configuration file")
	dataDir := fs.String("data-dir", "", "hub data directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath, *dataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl keys rotate: %v\n", err)
		return 2
	}
	mgr, closeMgr, err := server.KeyManager(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl keys rotate: %v\n", err)
		return 1
	}
	defer closeMgr()
	rot, ok := mgr.(keys.Rotator)
	if !ok {
		fmt.Fprintf(os.Stderr, "hubctl keys rotate: keys.backend %q cannot rotate its key-encryption key (use vault)\n", cfg.Keys.Backend)
		return 2
	}
	st, err := server.OpenStore(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl keys rotate: %v\n", err)
		return 1
	}
	defer st.Close()
	if err := rot.Rotate(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "hubctl keys rotate: rotate: %v\n", err)
		return 1
	}
	n, err := keys.RewrapAll(ctx, rot, st)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl keys rotate: re-wrapped %d keys, then: %v (run again to finish; old versions still decrypt)\n", n, err)
		return 1
	}
	fmt.Printf("rotated the key-encryption key and re-wrapped %d data keys\n", n)
	return 0
}
