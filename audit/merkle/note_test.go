package merkle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSigner(t testing.TB, seedByte byte) *Signer {
	t.Helper()
	s, err := NewSigner(KeyName, bytes.Repeat([]byte{seedByte}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckpointRoundTrip(t *testing.T) {
	s := testSigner(t, 7)
	v, err := NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{Origin: Origin("hub-0"), Size: 12345, Root: LeafHash([]byte("x")), Time: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	signed, err := SignCheckpoint(cp, s)
	if err != nil {
		t.Fatal(err)
	}
	want := "carecrest-hub/hub-0\n12345\n" + cp.Root.String() + "\ntime 2026-05-04T10:00:00Z\n\n— carecrest-hub "
	if !strings.HasPrefix(signed.Note, want) {
		t.Fatalf("note:\n%s\nwant prefix:\n%s", signed.Note, want)
	}
	got, err := OpenCheckpoint(signed.Note, v)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != cp.Origin || got.Size != cp.Size || got.Root != cp.Root || !got.Time.Equal(cp.Time) || got.Shard() != "hub-0" {
		t.Fatalf("round trip: %+v, want %+v", got, cp)
	}
}

// The verifier key has the signed-note form name+hash+key, and its hash
// is the first four bytes of SHA-256(name, "\n", 0x01, key), as Go's
// golang.org/x/mod/sumdb/note computes it.
func TestVerifierKeyForm(t *testing.T) {
	s := testSigner(t, 1)
	parts := strings.Split(s.VerifierKey(), "+")
	if len(parts) != 3 || parts[0] != KeyName || len(parts[1]) != 8 {
		t.Fatalf("verifier key %q", s.VerifierKey())
	}
	for _, bad := range []string{
		"", "carecrest-hub", "carecrest-hub+00000000+AAAA",
		strings.Replace(s.VerifierKey(), parts[1], "00000000", 1), // wrong hash
		parts[0] + "+" + parts[1] + "+" + "Ag" + parts[2][2:],     // another algorithm
	} {
		if _, err := NewVerifier(bad); err == nil {
			t.Errorf("NewVerifier(%q) accepted", bad)
		}
	}
}

func TestForgedSignatureRejected(t *testing.T) {
	s := testSigner(t, 7)
	v, _ := NewVerifier(s.VerifierKey())
	cp := Checkpoint{Origin: Origin("hub-0"), Size: 10, Root: LeafHash([]byte("x")), Time: time.Unix(1e9, 0)}
	signed, _ := SignCheckpoint(cp, s)

	// Another key of the same name: its key hash differs, so the note has
	// no signature by the trusted key.
	other := testSigner(t, 8)
	forged, _ := SignCheckpoint(cp, other)
	// The text changed after signing.
	edited := strings.Replace(signed.Note, "\n10\n", "\n11\n", 1)
	// The trusted key's hash, another key's signature.
	sigLine := signed.Note[strings.LastIndex(signed.Note, "— "):]
	otherLine := forged.Note[strings.LastIndex(forged.Note, "— "):]
	spliced := strings.Replace(signed.Note, sigLine, sigLine[:len("— carecrest-hub ")+6]+otherLine[len("— carecrest-hub ")+6:], 1)
	for name, note := range map[string]string{"other key": forged.Note, "edited": edited, "spliced": spliced} {
		if _, err := OpenCheckpoint(note, v); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
	for name, note := range map[string]string{
		"empty":            "",
		"no signature":     cp.Text(),
		"blank signatures": cp.Text() + "\n",
		"bad line":         cp.Text() + "\nsig\n",
		"bad base64":       cp.Text() + "\n— carecrest-hub !!!\n",
		"not UTF-8":        "\xff\n\n— carecrest-hub AAAA\n",
	} {
		if _, err := OpenCheckpoint(note, v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A cosignature by another key does not hide the trusted one.
	cosigned := signed.Note + otherLine
	if _, err := OpenCheckpoint(cosigned, v); err != nil {
		t.Errorf("cosigned note: %v", err)
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	root := LeafHash(nil).String()
	for name, text := range map[string]string{
		"two lines":     "o\n1\n",
		"empty origin":  "\n1\n" + root + "\n",
		"size":          "o\nx\n" + root + "\n",
		"leading zero":  "o\n01\n" + root + "\n",
		"negative":      "o\n-1\n" + root + "\n",
		"short root":    "o\n1\nAAAA\n",
		"hex root":      "o\n1\n" + strings.Repeat("ab", 32) + "\n",
		"bad time":      "o\n1\n" + root + "\ntime yesterday\n",
		"no final \\n":  "o\n1\n" + root,
		"control chars": "o\x01\n1\n" + root + "\n",
	} {
		if _, err := ParseCheckpoint(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseCheckpoint("o\n0\n" + EmptyRoot.String() + "\nother extension\n"); err != nil {
		t.Errorf("extension line: %v", err)
	}
}

func TestSignerRejects(t *testing.T) {
	if _, err := NewSigner(KeyName, []byte("short")); err == nil {
		t.Error("short seed accepted")
	}
	if _, err := NewSigner("a b", make([]byte, 32)); err == nil {
		t.Error("name with a space accepted")
	}
	s := testSigner(t, 1)
	for _, text := range []string{"", "no newline", "a\n\nb\n"} {
		if _, err := s.Sign(text); err == nil {
			t.Errorf("Sign(%q) accepted", text)
		}
	}
}

// The known answer of golang.org/x/mod/sumdb/note (its package example):
// the same private key gives the same verifier key and, Ed25519 being
// deterministic, byte for byte the same signed note.
func TestSumdbNoteVector(t *testing.T) {
	const (
		skey  = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" // of PRIVATE+KEY+PeterNeumann+c74f20a3+...
		vkey  = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
		text  = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
		note_ = text + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
	)
	raw, err := base64.StdEncoding.DecodeString(skey)
	if err != nil || raw[0] != algEd25519 {
		t.Fatal("bad test key")
	}
	s, err := NewSigner("PeterNeumann", raw[1:])
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != vkey {
		t.Fatalf("verifier key %s, want %s", s.VerifierKey(), vkey)
	}
	got, err := s.Sign(text)
	if err != nil || got != note_ {
		t.Fatalf("note %q (%v), want %q", got, err, note_)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if open, err := v.Open(note_); err != nil || open != text {
		t.Fatalf("open: %q, %v", open, err)
	}
}
