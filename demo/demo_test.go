package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/server"
)

// TestTour runs the whole guided tour against a hub on embedded defaults,
// as `make demo` does, and checks that each step shows what it promises.
func TestTour(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDataDir(t.TempDir())
	cfg.Kafka.Embedded.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Gateways.MLLP = []mllp.Config{{Addr: "127.0.0.1:0", Source: "registration"}}
	cfg.Defaults()
	h, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := demo.Run(ctx, h, demo.Options{Patients: 6, Out: &out}); err != nil {
		t.Fatalf("tour: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"3 messages dead-lettered",
		"MSA|AA|REG",               // the MLLP gateway acknowledged after Kafka did
		`"masked": [`, `"telecom"`, // billing clerk's redaction marker
		`"resourceType": "Observation"`, // withheld for billing
		`"code": "FORBIDDEN"`,           // opt-out
		"CC2002W",                       // break-glass audited with its own code
		"CC2001W",                       // denials audited
		"intact",                        // hash chain verified
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tour output lacks %q", want)
		}
	}
	if strings.Contains(text, "role and purpose permit this record type\"") {
		t.Error("a denial message cites a grant as its reason")
	}
}
