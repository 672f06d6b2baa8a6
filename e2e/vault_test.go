package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/vault/transittest"
	"github.com/carecrest/hub/server"
)

// TestVaultSealedFailsClosedAndResumes runs the hub on the Vault Transit key
// manager (against the Transit double, which follows Vault's documented
// API). While Vault is sealed, reads of patients whose keys are not cached
// return nothing and are audited, and ingest of new patients waits without
// committing; after unsealing, everything published meanwhile is stored.
func TestVaultSealedFailsClosedAndResumes(t *testing.T) {
	v := transittest.New(t)
	cfg := testConfig(t)
	cfg.Keys.Backend = "vault"
	cfg.Keys.Vault.Address = v.URL
	cfg.Keys.Vault.Auth.Method = "token"
	cfg.Keys.Vault.Auth.Token = v.RootToken()
	cfg.Keys.Vault.Timeout = 2 * time.Second
	cfg.Keys.Vault.MaxRetries = -1
	cfg.Keys.Cache.TTL = time.Millisecond // so reads must go to Vault
	cfg.Ingest.RetryMin, cfg.Ingest.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	cfg.Defaults()
	h := startWith(t, cfg)

	first := demo.Generate(3, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publishTB(t, h, first.Messages)
	waitMessagesTB(t, h, len(first.Messages))
	physician := mintTB(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	p := patientOf(t, gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": first.Patients[0].Identifier()}))
	if p["name"] == nil {
		t.Fatal("no name read through Vault-wrapped keys")
	}
	if v.Count("transit/datakey") == 0 || v.Count("transit/decrypt") == 0 {
		t.Fatal("the hub did not use Vault Transit for its data keys")
	}

	v.Seal()
	time.Sleep(5 * time.Millisecond) // cached keys expire
	r := gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": first.Patients[0].Identifier()})
	if r.code() != "UNAVAILABLE" || r.Data["patient"] != nil {
		t.Fatalf("read with Vault sealed: code %q data %v", r.code(), r.Data)
	}
	evs, _ := h.Store.Query(context.Background(), audit.Filter{ActorID: "dr.osei"})
	if last := evs[len(evs)-1]; last.Code != audit.CodeReadFailed || last.Reason != "decryption failed: key manager unavailable" {
		t.Fatalf("last audit event %s %q, want the failed read", last.Code, last.Reason)
	}

	// New patients arrive while Vault is sealed: nothing is stored or
	// dead-lettered until it is unsealed.
	later := mixedFeed(7, 20)
	want := recordsIn(t, later)
	before, _ := h.Store.CountRecords(context.Background())
	publishTB(t, h, later)
	time.Sleep(300 * time.Millisecond)
	if n, _ := h.Store.CountRecords(context.Background()); n != before {
		t.Fatalf("%d records stored while Vault was sealed", n-before)
	}
	if rej, _ := h.Store.Query(context.Background(), audit.Filter{Action: audit.ActionReject}); len(rej) != first.Bad {
		t.Fatalf("rejections = %d, want only the %d bad demo messages", len(rej), first.Bad)
	}
	v.Unseal()
	waitRecords(t, h, before+want)
	if n, _ := h.Store.CountRecords(context.Background()); n != before+want {
		t.Fatalf("records = %d, want %d", n, before+want)
	}

	// Rotate the KEK and re-wrap every stored data key (hubctl keys rotate):
	// reads keep working and every key now names the new version.
	mgr, closeMgr, err := server.KeyManager(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeMgr()
	rot := mgr.(keys.Rotator)
	if err := rot.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := keys.RewrapAll(context.Background(), rot, h.Store)
	if err != nil || n == 0 {
		t.Fatalf("rewrap: %d, %v", n, err)
	}
	h.Store.RangeWrapped(context.Background(), func(owner string, wrapped []byte) error {
		if !strings.HasPrefix(string(wrapped), "vault:v2:") {
			t.Errorf("a data key was not re-wrapped under v2")
		}
		return nil
	})
	time.Sleep(5 * time.Millisecond) // cached keys expire
	p = patientOf(t, gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": first.Patients[0].Identifier()}))
	if p["name"] == nil {
		t.Fatal("no name read after rotation")
	}
}
