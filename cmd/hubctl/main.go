// Command hubctl is the operator's CLI for CareCrest Hub.
//
//	hubctl token  --role physician --sub dr.osei --purpose TREAT,ETREAT
//	hubctl audit query  --token-file F [--patient P|--identifier S|V] [--actor A] [--denied] [--break-glass] [--all] [--format table|json|ndjson]
//	hubctl audit export --token-file F --format csv|ndjson|fhir|fhir-ndjson [filters] [--out FILE]
//	hubctl report accounting|access|gdpr --token-file F --patient P [--format text|json]
//	hubctl audit verify [--config FILE]
//	hubctl audit checkpoint [--publish] [--verifier-key]
//	hubctl audit prove --event ID [--size N] [-o proof.json]
//	hubctl audit verify-proof --proof proof.json [--checkpoint cp.txt] --key KEY
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
	{[]string{"audit", "export"}, "export audit events as CSV, NDJSON or FHIR AuditEvent (streamed)", auditExport},
	{[]string{"audit", "breakglass"}, "list break-the-glass sessions awaiting review", auditBreakGlass},
	{[]string{"audit", "review"}, "record a review finding on a break-the-glass session", auditReview},
	{[]string{"report", "accounting"}, "HIPAA accounting of disclosures for a patient", reportCmd("accounting")},
	{[]string{"report", "access"}, "every use and disclosure of a patient's record", reportCmd("access")},
	{[]string{"report", "gdpr"}, "GDPR Article 15 report for a data subject", reportCmd("gdpr")},
	{[]string{"report", "processing"}, "GDPR Article 30 record of processing activities", reportCmd("processing")},
	{[]string{"audit", "verify"}, "walk the stored audit chains and report every break", auditVerify},
	{[]string{"audit", "checkpoint"}, "sign (--publish: and record) a Merkle checkpoint of an audit shard", auditCheckpoint},
	{[]string{"audit", "prove"}, "inclusion proof of an audit event against a checkpoint", auditProve},
	{[]string{"audit", "consistency"}, "consistency proof between two checkpoints of a shard", auditConsistency},
	{[]string{"audit", "verify-proof"}, "check a proof offline with a trusted checkpoint and the verifier key", auditVerifyProof},
	{[]string{"alerts"}, "anomalous-access alerts: list, ack, resolve (security analyst / privacy officer token)", alertsCmd},
	{[]string{"policy", "explain"}, "why policy allows or denies a subject a patient's record type (privacy officer token)", policyExplain},
	{[]string{"keys", "rotate"}, "rotate the key-encryption key and re-wrap every stored data key", keysRotate},
	{[]string{"patient", "erase"}, "erase a patient by destroying their data keys (privacy officer token)", patientErase},
	{[]string{"patient", "hold", "place"}, "place a legal hold on a patient (blocks erasure)", patientHold(true)},
	{[]string{"patient", "hold", "lift"}, "lift a legal hold", patientHold(false)},
	{[]string{"patient", "status"}, "is a patient erased or under legal hold?", patientStatus},
	{[]string{"consent", "record"}, "record a FHIR R4 Consent (JSON file) through the consent registry", consentRecord},
	{[]string{"consent", "withdraw"}, "withdraw a consent (new version, status inactive)", consentWithdraw},
	{[]string{"consent", "list"}, "a patient's consents (--history: every version)", consentList},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  hubctl %-30s %s\n", strings.Join(c.words, " ")+" [flags]", c.help)
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
	fhirUser := fs.String("fhir-user", "", "SMART fhirUser claim, the reader's practitioner (Practitioner/<id>): treatment relationships")
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
		Application: *app, Kind: *kind, FHIRUser: *fhirUser, Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience,
	}, *ttl)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl token: %v\n", err)
		return 1
	}
	fmt.Println(tok)
	return 0
}

const auditGQL = `query($filter: AuditFilter, $after: String, $first: Int) {
  auditLog(filter: $filter, after: $after, first: $first) {
    events {
      id time code action outcome actor roles organization application purpose patient recordType recordIds
      disclosed masked policyRevision rules consents reason requestId shard seq hash
    }
    pageInfo { endCursor hasNextPage }
  }
}`

func auditQuery(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit query", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "hub GraphQL endpoint")
	tok := fs.String("token", "", "bearer token (or --token-file, or $CARECREST_TOKEN)")
	tokFile := fs.String("token-file", "", "file holding the bearer token")
	filter := filterFlags(fs)
	after := fs.String("after", "", "cursor to resume after (printed when more events remain)")
	limit := fs.Int("limit", 1000, "most events to fetch (pages of up to 1000)")
	all := fs.Bool("all", false, "follow the cursors to the last event (ignores --limit)")
	format := fs.String("format", "table", "table, json or ndjson")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	t, err := tokenFrom(*tok, *tokFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl audit query: %v\n", err)
		return 2
	}
	vars := map[string]any{"filter": filter.vars()}
	if *after != "" {
		vars["after"] = *after
	}
	var events []map[string]any
	more := false
	for *all || len(events) < *limit {
		first := 1000
		if !*all {
			first = min(1000, *limit-len(events))
		}
		vars["first"] = first
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
		page, _ := data["auditLog"].(map[string]any)
		list, _ := page["events"].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			events = append(events, m)
		}
		info, _ := page["pageInfo"].(map[string]any)
		more, _ = info["hasNextPage"].(bool)
		vars["after"] = info["endCursor"]
		if !more {
			break
		}
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
		fmt.Fprintln(tw, "TIME\tCODE\tACTION\tOUTCOME\tACTOR\tPURPOSE\tPATIENT\tTYPE\tAPPLICATION\tDISCLOSED\tMASKED\tREASON")
		for _, e := range events {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\n", e["time"], e["code"], e["action"], e["outcome"],
				e["actor"], e["purpose"], e["patient"], e["recordType"], e["application"], e["disclosed"], e["masked"], e["reason"])
		}
		_ = tw.Flush()
	}
	if more {
		fmt.Fprintf(os.Stderr, "more events follow: --after %v (or --all)\n", vars["after"])
	}
	return 0
}

func auditVerify(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hubctl audit verify", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub configuration file")
	dataDir := fs.String("data-dir", "", "hub data directory (the demo uses data/demo)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
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
	var opts []audit.VerifyOption
	if !*quiet {
		opts = append(opts, audit.WithProgress(0, newProgressBar(os.Stderr).update))
	}
	rep, err := audit.Verify(ctx, countingStore{st}, opts...)
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
