package httpingest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/auth"
)

// TestSourceSystems verifies real tokens: only an application with role
// source-system is a source, and its subject is the source name.
func TestSourceSystems(t *testing.T) {
	priv, pub, err := auth.GenerateEd25519(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.Config{}.Defaults()
	cfg.KeyFile = pub
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := SourceSystems(v)
	mint := func(kind string, roles ...string) string {
		tok, err := signer.Mint(auth.Claims{Subject: "ehr", Roles: roles, Kind: kind, Issuer: cfg.Issuer, Audience: cfg.Audience}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if src, err := a.Authenticate(mint(auth.KindApplication, RoleSourceSystem)); err != nil || src != "ehr" {
		t.Fatalf("source system: %q, %v", src, err)
	}
	for name, tok := range map[string]string{
		"user with the role":        mint(auth.KindUser, RoleSourceSystem),
		"application without role":  mint(auth.KindApplication, "clinician"),
		"default kind (user), role": mint("", RoleSourceSystem),
	} {
		if _, err := a.Authenticate(tok); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", name, err)
		}
	}
	tok := mint(auth.KindApplication, RoleSourceSystem)
	_, err = a.Authenticate(tok[:len(tok)-4] + "AAAA")
	if !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) || strings.Contains(err.Error(), tok[:20]) {
		t.Fatalf("forged: %v", err)
	}
}
