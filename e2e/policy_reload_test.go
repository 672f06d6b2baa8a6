package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/rego"
	"github.com/segmentio/kafka-go"
)

// TestPolicyReloadsWithoutRestart: a hub reading its policy from a
// directory puts a changed policy in force without a restart (the new
// revision is audited with CC9000I and names the decisions after it), and
// a candidate that does not compile never replaces the running policy (the
// rejection is audited too).
func TestPolicyReloadsWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	if err := fs.WalkDir(rego.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rego.FS, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Policy.Dir = dir
	cfg.Policy.Reload = 100 * time.Millisecond
	h := startWith(t, cfg)
	first := h.Policy.Revision()

	publish(t, h, []kafka.Message{hl7Msg("ehr", "MSH|^~\\&|EHR|H|HUB|H|20261125||ADT^A01|PR1|P|2.5.1\rPID|1||MRN-POL^^^H&1.2.3&ISO^MR||Lee^Kim||19800101|F|||1 Main St^^Town^ST^00000||555-0100\rPV1|1|I|||||dr.osei^Osei^Kwame\r")})
	waitMessages(t, h, 1)
	billing := mint(t, h, "bc.ruiz", []string{"billing_clerk"}, []string{"HPAYMT"})
	q := `{ patient(identifier: "urn:oid:1.2.3|MRN-POL") { name { family } birthDate telecom { value } masked } }`
	if m := strList(patientOf(t, gql(t, h, billing, q, nil))["masked"]); !contains(m, "telecom") || contains(m, "birthDate") {
		t.Fatalf("before the change the billing clerk sees %v masked; want telecom, not birthDate", m)
	}

	// The privacy office narrows the billing clerk's view of Patient to
	// the name: a data change, picked up by the running hub.
	var data map[string]any
	raw, err := os.ReadFile(filepath.Join(dir, rego.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	roles := data["carecrest"].(map[string]any)["access"].(map[string]any)["roles"].(map[string]any)
	hp := roles["billing_clerk"].(map[string]any)["purposes"].(map[string]any)["HPAYMT"].(map[string]any)
	types, _ := hp["types"].(map[string]any)
	if types == nil {
		types = map[string]any{}
		hp["types"] = types
	}
	types["Patient"] = []string{"name"}
	out, _ := json.MarshalIndent(data, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, rego.DataFile), out, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new policy in force", func() bool { return h.Policy.Revision() != first })
	second := h.Policy.Revision()
	if m := strList(patientOf(t, gql(t, h, billing, q, nil))["masked"]); !contains(m, "birthDate") || contains(m, "name") {
		t.Fatalf("after the change the billing clerk sees %v masked; want birthDate masked too", m)
	}
	reads, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: "bc.ruiz", Action: audit.ActionRead})
	if len(reads) != 2 || reads[0].PolicyRevision != first || reads[1].PolicyRevision != second {
		t.Fatalf("reads name revisions %v, want %s then %s", revisions(reads), first, second)
	}

	// A broken candidate: the running policy stays.
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package carecrest.authz\n\nallow if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var changes []audit.Event
	waitFor(t, 10*time.Second, "the rejected candidate audited", func() bool {
		changes, _ = h.Store.Query(context.Background(), audit.Filter{Codes: []string{audit.CodePolicyChange}})
		return len(changes) == 2
	})
	if changes[0].Outcome != audit.OutcomeAllow || changes[0].PolicyRevision != second ||
		changes[1].Outcome != audit.OutcomeDeny || !strings.Contains(changes[1].Reason, "rejected") {
		t.Fatalf("policy change events: %+v", changes)
	}
	if h.Policy.Revision() != second {
		t.Fatalf("a broken policy replaced the running one: %s", h.Policy.Revision())
	}
	patientOf(t, gql(t, h, billing, q, nil)) // still deciding
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func revisions(evs []audit.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.PolicyRevision)
	}
	return out
}
