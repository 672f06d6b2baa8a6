package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/auth"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/server"
	"github.com/segmentio/kafka-go"
)

// Options configure the tour.
type Options struct {
	Patients int
	Out      io.Writer
}

// Role is a ready-made demo identity.
type Role struct {
	File     string // token file name under <data>/tokens
	Subject  string
	Name     string
	Roles    []string
	Purposes []string
	App      string
	FHIRUser string // SMART fhirUser: the clinician's Practitioner, for care relationships
}

// Organization is the demo hospital, the organisation of every demo token.
const Organization = "Organization/riverton-general"

// Roles are the identities the tour mints tokens for.
var Roles = []Role{
	{"physician.jwt", Attending, "Dr. Kwame Osei", []string{"physician"}, []string{"TREAT", "ETREAT"}, "carecrest", "Practitioner/" + Attending},
	{"nurse.jwt", WardNurse, "RN Dana Hale", []string{"nurse"}, []string{"TREAT"}, "carecrest", "Practitioner/" + WardNurse},
	{"billing.jwt", "bc.ruiz", "Marisol Ruiz", []string{"billing_clerk"}, []string{"HPAYMT"}, "carecrest-billing", ""},
	{"privacy-officer.jwt", "po.nakamura", "Emi Nakamura", []string{"privacy_officer"}, []string{"HOPERAT"}, "hubctl", ""},
	{"security-analyst.jwt", "sa.okafor", "Chidi Okafor", []string{"security_analyst"}, []string{"HOPERAT"}, "hubctl", ""},
}

// PatientQuery is the README's example query.
const PatientQuery = `query($mrn: String!, $purpose: String, $reason: String) {
  patient(identifier: $mrn, purpose: $purpose, breakGlassReason: $reason) {
    id
    name { family given }
    birthDate
    gender
    telecom { value }
    masked
    observations {
      code { coding { code display } }
      valueQuantity { value unit }
      masked
    }
    withheld { resourceType reason }
  }
}`

// Run publishes the synthetic traffic to the running hub, waits until it is
// stored, then shows reads by several roles and their audit trail.
func Run(ctx context.Context, h *server.Hub, o Options) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	n := o.Patients
	if n < 3 {
		n = 3
	}
	start := time.Now().UTC()
	t := Generate(n, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))

	section(out, "1. Synthetic hospital traffic over the Kafka protocol")
	fmt.Fprintf(out, "Broker (embedded, Kafka protocol): %s\n", strings.Join(h.Brokers(), ","))
	if err := publish(ctx, h.Brokers(), t.Messages); err != nil {
		return err
	}
	counts := map[string]int{}
	for _, m := range t.Messages {
		counts[m.Topic]++
	}
	for _, topic := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(out, "  published %3d messages to %s\n", counts[topic], topic)
	}
	sent := len(t.Messages)
	if addrs := h.MLLPAddrs(); len(addrs) > 0 {
		ack, err := sendMLLP(ctx, addrs[0], mllpRegistration(t.Patients[len(t.Patients)-1], start))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  sent 1 ADT^A04 over MLLP to %s (registration); ACK: %s\n", addrs[0], strings.TrimSpace(strings.ReplaceAll(ack, "\r", " | ")))
		sent++
	}
	stored, rejected, err := waitIngested(ctx, h, start, sent)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Ingested: %d records stored (PHI encrypted per patient), %d messages dead-lettered to %s with a reason:\n",
		stored, rejected, h.Config.Ingest.DeadLetterTopic)
	rej, _ := h.Store.Query(ctx, audit.Filter{Action: audit.ActionReject, From: start})
	for _, e := range rej {
		fmt.Fprintf(out, "  - %s: %s\n", e.RequestID, e.Reason)
	}

	section(out, "2. Tokens for a few roles (dev-signed JWTs, valid 12 h)")
	tokens, dir, err := mintTokens(h)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GraphQL: %s\nTokens in %s:\n", h.GraphQLURL(), dir)
	for _, r := range Roles {
		fmt.Fprintf(out, "  %-20s %s, roles %v, purposes %v\n", r.File, r.Name, r.Roles, r.Purposes)
	}

	p := t.Patients[0]
	section(out, fmt.Sprintf("3. A clinician reads patient %s (purpose TREAT): everything", p.Identifier()))
	if err := show(ctx, out, h.GraphQLURL(), tokens["physician.jwt"], map[string]any{"mrn": p.Identifier()}); err != nil {
		return err
	}
	section(out, "4. A billing clerk reads the same patient (purpose HPAYMT): minimum necessary")
	fmt.Fprintln(out, "Phone and gender are masked (null, listed in masked); lab results are withheld as a whole.")
	if err := show(ctx, out, h.GraphQLURL(), tokens["billing.jwt"], map[string]any{"mrn": p.Identifier()}); err != nil {
		return err
	}
	q := t.OptedOut
	section(out, fmt.Sprintf("5. Patient %s opted out at the HIE: reads are denied...", q.Identifier()))
	if err := show(ctx, out, h.GraphQLURL(), tokens["physician.jwt"], map[string]any{"mrn": q.Identifier()}); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n...except break-the-glass (purpose ETREAT with a reason), which is audited with its own code:")
	if err := show(ctx, out, h.GraphQLURL(), tokens["physician.jwt"], map[string]any{
		"mrn": q.Identifier(), "purpose": "ETREAT", "reason": "unconscious in ED, suspected overdose"}); err != nil {
		return err
	}

	section(out, "6. The audit trail of those reads (privacy officer's auditEvents query)")
	if err := showAudit(ctx, out, h.GraphQLURL(), tokens["privacy-officer.jwt"], start); err != nil {
		return err
	}
	rep, err := h.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	verdict := "intact"
	if !rep.OK() {
		verdict = fmt.Sprintf("%d problems: %v", len(rep.Problems), rep.Problems)
	}
	fmt.Fprintf(out, "\nAudit hash chain: %d events in %d shard(s), %s.\n", rep.Events, rep.Shards, verdict)

	if err := governanceTour(ctx, out, h, tokens, q); err != nil {
		return err
	}

	section(out, "Try it yourself")
	fmt.Fprintf(out, `curl -s %s \
  -H "Authorization: Bearer $(cat %s)" \
  -H 'Content-Type: application/json' \
  -d '{"query":"{ patient(identifier: \"%s\") { name { family given } birthDate masked observations { code { coding { display } } valueQuantity { value unit } } } }"}'
`, h.GraphQLURL(), filepath.Join(dir, "billing.jwt"), p.Identifier())
	return nil
}

// mllpRegistration is an ADT^A04 for p, as a registration system sends it
// (control ids are counters: they travel in clear in every ACK).
func mllpRegistration(p Patient, at time.Time) string {
	return fmt.Sprintf("MSH|^~\\&|REGSYS|CCH|CARECREST|CCH|%s||ADT^A04^ADT_A01|REG%06d|P|2.5.1\r%s\r",
		hl7Time(at), 1, pid(p))
}

// sendMLLP sends one message over MLLP and returns the acknowledgement.
func sendMLLP(ctx context.Context, addr, msg string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("mllp: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if err := mllp.WriteFrame(conn, []byte(msg)); err != nil {
		return "", fmt.Errorf("mllp: %w", err)
	}
	ack, err := mllp.NewReader(conn, 1<<20).ReadFrame()
	if err != nil {
		return "", fmt.Errorf("mllp ack: %w", err)
	}
	return string(ack), nil
}

func section(out io.Writer, title string) {
	fmt.Fprintf(out, "\n\033[1m== %s\033[0m\n", title)
}

func publish(ctx context.Context, brokers []string, msgs []kafka.Message) error {
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish demo traffic: %w", err)
	}
	return nil
}

// waitIngested waits until every message published since start is either
// stored (its write audited) or dead-lettered (its rejection audited).
func waitIngested(ctx context.Context, h *server.Hub, start time.Time, messages int) (stored, rejected int, err error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs, err := h.Store.Query(ctx, audit.Filter{From: start, Limit: 10000})
		if err != nil {
			return 0, 0, err
		}
		seen := map[string]bool{}
		stored, rejected = 0, 0
		for _, e := range evs {
			switch e.Action {
			case audit.ActionWrite:
				stored += len(e.RecordIDs)
			case audit.ActionReject:
				rejected++
			default:
				continue
			}
			seen[e.RequestID] = true
		}
		total, _ := h.Store.CountRecords(ctx)
		if len(seen) >= messages || (total > 0 && time.Now().After(deadline)) {
			return total, rejected, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("demo traffic not ingested after 60s (%d of %d messages)", len(seen), messages)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func mintTokens(h *server.Hub) (map[string]string, string, error) {
	signer, err := auth.LoadSigner(h.Config.Auth.DevSigningKey)
	if err != nil {
		return nil, "", fmt.Errorf("demo signing key: %w", err)
	}
	dir := filepath.Join(h.Config.DataDir, "tokens")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	out := map[string]string{}
	for _, r := range Roles {
		tok, err := signer.Mint(auth.Claims{
			Subject: r.Subject, Name: r.Name, Roles: r.Roles, Purposes: r.Purposes, Application: r.App,
			Org: Organization, Issuer: h.Config.Auth.Issuer, Audience: h.Config.Auth.Audience,
			FHIRUser: r.FHIRUser,
		}, 12*time.Hour)
		if err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(filepath.Join(dir, r.File), []byte(tok+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		out[r.File] = tok
	}
	return out, dir, nil
}

func show(ctx context.Context, out io.Writer, url, token string, vars map[string]any) error {
	res, err := query.Post(ctx, url, token, PatientQuery, vars)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(out, string(b))
	return nil
}

const auditQuery = `query($from: String) {
  auditEvents(from: $from, first: 200) {
    time code action outcome actor roles purpose patient recordType disclosed masked reason
  }
}`

func showAudit(ctx context.Context, out io.Writer, url, token string, from time.Time) error {
	res, err := query.Post(ctx, url, token, auditQuery, map[string]any{"from": from.Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	data, _ := res["data"].(map[string]any)
	evs, _ := data["auditEvents"].([]any)
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tACTION\tOUTCOME\tACTOR\tPURPOSE\tPATIENT\tTYPE\tDISCLOSED / MASKED / REASON")
	for _, x := range evs {
		e, _ := x.(map[string]any)
		if e["action"] == audit.ActionWrite {
			continue // the ingest writes; shown as counts above
		}
		detail := fmt.Sprintf("%v", e["disclosed"])
		if m, _ := e["masked"].([]any); len(m) > 0 {
			detail += fmt.Sprintf(" masked %v", m)
		}
		if r, _ := e["reason"].(string); r != "" {
			detail += " — " + r
		}
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%s\n", e["code"], e["action"], e["outcome"], e["actor"], e["purpose"], e["patient"], e["recordType"], detail)
	}
	return tw.Flush()
}

const explainQuery = `query($patient: ID!) {
  explain(patient: $patient, recordType: "Observation", subject: "dr.osei", roles: ["physician"],
    subjectPurpose: "TREAT", fhirUser: "Practitioner/dr.osei") {
    allow reasons consents revision profile ruleDetails { id kind reason }
    consentDetails { id status effect provision }
  }
}`

// governanceTour shows what the privacy office and the security team see:
// why a read was denied (explain), the alert the break-the-glass read
// raised, the patient's access report, and a signed checkpoint with an
// inclusion proof of the break-the-glass event checked offline.
func governanceTour(ctx context.Context, out io.Writer, h *server.Hub, tokens map[string]string, optedOut Patient) error {
	gql := func(token, q string, vars map[string]any) (map[string]any, error) {
		res, err := query.Post(ctx, h.GraphQLURL(), token, q, vars)
		if err != nil {
			return nil, err
		}
		if errs, _ := res["errors"].([]any); len(errs) > 0 {
			return nil, fmt.Errorf("demo: graphql: %v", errs)
		}
		data, _ := res["data"].(map[string]any)
		return data, nil
	}
	officer := tokens["privacy-officer.jwt"]
	data, err := gql(officer, `query($mrn: String) { auditLog(filter: {identifier: $mrn, breakGlass: true}, first: 1) { events { id patient } } }`,
		map[string]any{"mrn": optedOut.Identifier()})
	if err != nil {
		return err
	}
	evs := list(dig(data, "auditLog", "events"))
	if len(evs) == 0 {
		return fmt.Errorf("demo: the break-the-glass read is not in the audit log")
	}
	bgEvent, _ := evs[0]["id"].(string)
	patient, _ := evs[0]["patient"].(string)

	section(out, "7. Why was the physician denied? (privacy officer: explain)")
	data, err = gql(officer, explainQuery, map[string]any{"patient": patient})
	if err != nil {
		return err
	}
	for _, e := range list(data["explain"]) {
		fmt.Fprintf(out, "allow=%v (policy %v, profile %v): %v\n", e["allow"], e["revision"], e["profile"], e["reasons"])
		for _, r := range list(e["ruleDetails"]) {
			fmt.Fprintf(out, "  %-6v %-28v %v\n", r["kind"], r["id"], r["reason"])
		}
		for _, c := range list(e["consentDetails"]) {
			fmt.Fprintf(out, "  consent %v (%v): %v by %v\n", c["id"], c["status"], c["effect"], c["provision"])
		}
	}

	section(out, "8. The security team's alert for the break-the-glass read")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err = gql(tokens["security-analyst.jwt"], `{ alerts(rule: "break-glass") { id rule severity actor patient text } }`, nil)
		if err != nil {
			return err
		}
		if as := list(data["alerts"]); len(as) > 0 || time.Now().After(deadline) {
			for _, a := range as {
				fmt.Fprintf(out, "  [%v] %v: %v\n", a["severity"], a["id"], a["text"])
			}
			if len(as) == 0 {
				fmt.Fprintln(out, "  (no alert: alerts are disabled in this configuration, see alerts.enabled)")
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	section(out, "9. Access report for the patient (every use and disclosure, denials marked)")
	data, err = gql(officer, `query($p: ID) { accessReport(patient: $p) { uses disclosures denials breakGlass text } }`, map[string]any{"p": patient})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, strings.TrimSpace(fmt.Sprint(dig(data, "accessReport", "text"))))

	section(out, "10. Tamper evidence: a signed checkpoint and a proof, checked offline")
	if h.Proofs == nil {
		return nil
	}
	cp, err := h.Proofs.Publish(ctx, h.Config.Instance)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Signed checkpoint of shard %s (verifier key %s):\n%s", h.Config.Instance, h.Proofs.VerifierKey(), cp.Note)
	data, err = gql(officer, `query($id: ID!) { inclusionProof(eventId: $id) { proof checkpoint } }`, map[string]any{"id": bgEvent})
	if err != nil {
		return err
	}
	var proof merkle.InclusionProof
	if err := json.Unmarshal([]byte(fmt.Sprint(dig(data, "inclusionProof", "proof"))), &proof); err != nil || proof.Event == nil {
		return fmt.Errorf("demo: inclusion proof: %v", err)
	}
	ev, _ := json.Marshal(proof.Event)
	verdict := "verified"
	if err := merkle.VerifyInclusion(ev, proof, fmt.Sprint(dig(data, "inclusionProof", "checkpoint")), h.Proofs.VerifierKey()); err != nil {
		verdict = "FAILED: " + err.Error()
	}
	fmt.Fprintf(out, "Inclusion proof of the break-the-glass event %s (leaf %d of %d, %d hashes): %s\n",
		bgEvent, proof.LeafIndex, proof.TreeSize, len(proof.Hashes), verdict)
	fmt.Fprintln(out, "Offline: hubctl audit prove --event ID -o proof.json; hubctl audit verify-proof --proof proof.json --key KEY")
	return nil
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	return v
}

func list(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
