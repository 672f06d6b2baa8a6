package kafkaconn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go/sasl"
)

func TestSASLMechanism(t *testing.T) {
	for _, c := range []struct {
		mech, name string
	}{
		{"PLAIN", "PLAIN"},
		{"SCRAM-SHA-256", "SCRAM-SHA-256"},
		{"scram-sha-512", "SCRAM-SHA-512"},
	} {
		m, err := SASLMechanism(SASLConfig{Mechanism: c.mech, Username: "carecrest-hub", Password: testPassword})
		if err != nil {
			t.Fatalf("%s: %v", c.mech, err)
		}
		if m.Name() != c.name {
			t.Errorf("%s: Name() = %q", c.mech, m.Name())
		}
		_, first, err := m.Start(context.Background())
		if err != nil {
			t.Fatalf("%s: Start: %v", c.mech, err)
		}
		if strings.HasPrefix(c.name, "SCRAM") {
			// client-first-message: gs2 header, user name, client nonce; no
			// password on the wire.
			if !bytes.HasPrefix(first, []byte("n,,n=carecrest-hub,r=")) || bytes.Contains(first, []byte(testPassword)) {
				t.Errorf("%s: client-first %q", c.mech, first)
			}
		} else if string(first) != "\x00carecrest-hub\x00"+testPassword {
			t.Errorf("PLAIN initial response %q", first)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(verb, m); strings.Contains(out, testPassword) {
				t.Errorf("%s: %s prints the password: %s", c.mech, verb, out)
			}
		}
	}

	m, err := SASLMechanism(SASLConfig{})
	if m != nil || err != nil {
		t.Errorf("no mechanism: %v, %v", m, err)
	}
	if _, err := SASLMechanism(SASLConfig{Mechanism: "OAUTHBEARER", Username: "u", Password: testPassword}); err == nil ||
		!strings.Contains(err.Error(), "SCRAM-SHA-512") || strings.Contains(err.Error(), testPassword) {
		t.Errorf("unknown mechanism: %v", err)
	}
}

// TestPasswordFile: the file is read at every handshake, so a rotated
// password is used by the next connection.
func TestPasswordFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(file, []byte("first-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := SASLMechanism(SASLConfig{Mechanism: "PLAIN", Username: "hub", PasswordFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if _, first, _ := m.Start(context.Background()); string(first) != "\x00hub\x00first-password" {
		t.Errorf("initial response %q (trailing newline should be trimmed)", first)
	}
	os.WriteFile(file, []byte("rotated-password"), 0o600)
	if _, first, _ := m.Start(context.Background()); string(first) != "\x00hub\x00rotated-password" {
		t.Errorf("after rotation: %q", first)
	}

	// A file that disappears fails the handshake, naming the file only.
	os.Remove(file)
	if _, _, err := m.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("missing file at handshake: %v", err)
	}
	// At construction, a missing or empty file fails at once.
	if _, err := SASLMechanism(SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "hub", PasswordFile: file}); err == nil {
		t.Error("missing password file accepted")
	}
	os.WriteFile(file, []byte("\n"), 0o600)
	if _, err := SASLMechanism(SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "hub", PasswordFile: file}); err == nil ||
		!strings.Contains(err.Error(), "empty") {
		t.Errorf("empty password file: %v", err)
	}
}

// TestSCRAMErrorsHidePassword drives a SCRAM exchange with hostile server
// messages: the errors name the mechanism and the problem, never the
// password, nor the signatures derived from it.
func TestSCRAMErrorsHidePassword(t *testing.T) {
	m, err := SASLMechanism(SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "hub", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	start := func() (sasl.StateMachine, string) {
		sess, first, err := m.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, nonce, _ := strings.Cut(string(first), ",r=")
		return sess, nonce
	}

	sess, nonce := start()
	serverFirst := "r=" + nonce + "server,s=c2FsdHNhbHQ=,i=4096"
	done, final, err := sess.Next(context.Background(), []byte(serverFirst))
	if err != nil || done || !bytes.Contains(final, []byte(",p=")) {
		t.Fatalf("client-final: %v %v %q", err, done, final)
	}
	_, _, err = sess.Next(context.Background(), []byte("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
	if err == nil || !strings.Contains(err.Error(), "signature mismatch") || strings.Contains(err.Error(), "AAAA") {
		t.Errorf("forged server signature: %v", err)
	}

	sess, _ = start()
	_, _, err = sess.Next(context.Background(), []byte("r=not-our-nonce,s=c2FsdA==,i=4096"))
	if err == nil || !strings.Contains(err.Error(), "SCRAM-SHA-256") {
		t.Errorf("wrong nonce: %v", err)
	}

	sess, nonce = start()
	_, _, err = sess.Next(context.Background(), []byte("r="+nonce+"x,s=c2FsdA==,i=1"))
	if err == nil || strings.Contains(err.Error(), testPassword) {
		t.Errorf("1 iteration: %v", err)
	}
}
