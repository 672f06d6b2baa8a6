package mllp

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/carecrest/hub/hl7"
)

// TestMLLPSendInterop sends two messages with python-hl7's mllp_send, an
// independent MLLP client (Debian: apt-get install python3-hl7).
func TestMLLPSendInterop(t *testing.T) {
	bin, err := exec.LookPath("mllp_send")
	if err != nil {
		t.Skip("mllp_send not on PATH; install it with: apt-get install -y python3-hl7")
	}
	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{}, pub)
	host, port, _ := net.SplitHostPort(addr)

	file := filepath.Join(t.TempDir(), "messages.hl7")
	if err := os.WriteFile(file, []byte(adt("PY-1", "\n")+adt("PY-2", "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--loose", "--file", file, "--port", port, host).CombinedOutput()
	if err != nil {
		t.Fatalf("mllp_send: %v\n%s", err, out)
	}
	// mllp_send prints each ACK frame as received, one per line.
	var acks []string
	for _, frame := range bytes.Split(out, []byte{EndBlock}) {
		frame = bytes.Trim(frame, "\x0b\r\n")
		if len(frame) == 0 {
			continue
		}
		m, err := hl7.Parse(frame, hl7.Limits{})
		if err != nil {
			t.Fatalf("ACK %q: %v", frame, err)
		}
		acks = append(acks, m.Get("MSA-1")+" "+m.Get("MSA-2"))
	}
	if len(acks) != 2 || acks[0] != "AA PY-1" || acks[1] != "AA PY-2" {
		t.Fatalf("ACKs %q\n%s", acks, out)
	}
	if n := len(pub.published()); n != 2 {
		t.Fatalf("published %d, want 2", n)
	}
}
