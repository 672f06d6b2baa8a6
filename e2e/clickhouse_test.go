package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/server"
)

// clickhouseAddr returns the test server, or skips.
func clickhouseAddr(t testing.TB) string {
	addr := os.Getenv("CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("ClickHouse tests need a server: scripts/clickhouse-dev.sh start; CLICKHOUSE_ADDR=127.0.0.1:19000 go test ./e2e/")
	}
	return addr
}

// clickhouseConfig writes a hub config for a fresh database and returns it
// with its path; the database is dropped when the test ends.
func clickhouseConfig(t testing.TB, addr string) (*config.Config, string) {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	db := "hub_e2e_" + hex.EncodeToString(b)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`instance: hub-0
data_dir: %s
kafka:
  backend: embedded
  embedded: {addr: "127.0.0.1:0"}
store:
  backend: clickhouse
  clickhouse:
    addr: [%q]
    database: %s
    migrate: true
http:
  addr: 127.0.0.1:0
`, dir, addr, db)
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("clickhouse-client", "--port", port(addr), "-q", "DROP DATABASE IF EXISTS "+db).CombinedOutput(); err != nil {
			t.Logf("drop %s: %v %s", db, err, out)
		}
	})
	return cfg, path
}

func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

func TestHubOnClickHouse(t *testing.T) {
	addr := clickhouseAddr(t)
	if _, err := exec.LookPath("clickhouse-client"); err != nil {
		t.Skip("clickhouse-client not installed (scripts/clickhouse-dev.sh installs it)")
	}
	cfg, cfgPath := clickhouseConfig(t, addr)
	h, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	traffic := demo.Generate(4, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publishTB(t, h, traffic.Messages)
	waitMessagesTB(t, h, len(traffic.Messages))

	physician := mintTB(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	billing := mintTB(t, h, "bc.ruiz", []string{"billing_clerk"}, []string{"HPAYMT"})
	p := patientOf(t, gql(t, h, physician, demo.PatientQuery, map[string]any{"mrn": traffic.Patients[0].Identifier()}))
	if obs, _ := p["observations"].([]any); len(obs) != 3 || p["name"] == nil {
		t.Fatalf("clinician view on ClickHouse: %v", p)
	}
	b := patientOf(t, gql(t, h, billing, demo.PatientQuery, map[string]any{"mrn": traffic.Patients[0].Identifier()}))
	if b["telecom"] != nil {
		t.Fatal("billing clerk saw telecom on ClickHouse")
	}

	// hubctl audit verify reads the chain from ClickHouse rows alone.
	hubctl := filepath.Join(t.TempDir(), "hubctl")
	if out, err := exec.Command("go", "build", "-o", hubctl, "../cmd/hubctl").CombinedOutput(); err != nil {
		t.Fatalf("build hubctl: %v\n%s", err, out)
	}
	out, err := exec.Command(hubctl, "audit", "verify", "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: every chain is intact") {
		t.Fatalf("verify before tampering: %v\n%s", err, out)
	}

	// A privacy-relevant row is altered behind the hub's back.
	db := cfg.Store.ClickHouse.Database
	alter := fmt.Sprintf("ALTER TABLE %s.audit_chain UPDATE actor_id = 'someone-else' WHERE shard = 'hub-0' AND seq = 5", db)
	if out, err := exec.Command("clickhouse-client", "--port", port(addr), "-q", alter).CombinedOutput(); err != nil {
		t.Fatalf("alter: %v %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("clickhouse-client", "--port", port(addr), "-q",
			fmt.Sprintf("SELECT count() FROM system.mutations WHERE database = '%s' AND is_done = 0", db)).Output()
		if strings.TrimSpace(string(out)) == "0" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd := exec.Command(hubctl, "audit", "verify", "--config", cfgPath)
	out, err = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("verify after tampering: exit %d (%v), want 3\n%s", code, err, out)
	}
	if !strings.Contains(string(out), "TAMPERED: shard hub-0 seq 5") || !strings.Contains(string(out), "modified") {
		t.Fatalf("verify did not name the altered row:\n%s", out)
	}
}
