package auth_test

import (
	"fmt"
	"os"
	"time"

	"github.com/carecrest/hub/auth"
)

func Example() {
	dir, _ := os.MkdirTemp("", "carecrest-auth")
	defer os.RemoveAll(dir)

	// Development: a local key pair and a token for a demo user.
	priv, pub, _ := auth.GenerateEd25519(dir)
	signer, _ := auth.LoadSigner(priv)
	token, _ := signer.Mint(auth.Claims{
		Subject:  "u-1",
		Roles:    []string{"clinician"},
		Purposes: []string{"TREAT"},
		Issuer:   "carecrest-dev",
		Audience: "carecrest-hub",
	}, 15*time.Minute)

	// The API: verify bearer tokens against the public key.
	cfg := auth.Config{}.Defaults()
	cfg.KeyFile = pub
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := v.Verify(token)
	fmt.Println(p.Subject, p.Kind, p.Roles, p.Purposes, err)

	_, err = v.Verify("not-a-token")
	fmt.Println(err)
	// Output:
	// u-1 user [clinician] [TREAT] <nil>
	// auth: unauthenticated: malformed token
}
