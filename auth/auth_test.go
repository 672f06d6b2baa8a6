package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/auth"
	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "https://idp.example.org"
	audience = "carecrest-hub"
)

type env struct {
	signer   *auth.Signer
	privPath string
	pubPath  string
	verifier *auth.Verifier
	cfg      auth.Config
}

func newEnv(t *testing.T) env {
	t.Helper()
	priv, pub, err := auth.GenerateEd25519(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(pub, auth.AlgEdDSA)
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env{signer: s, privPath: priv, pubPath: pub, verifier: v, cfg: cfg}
}

func config(keyFile, alg string) auth.Config {
	c := auth.Config{}.Defaults()
	c.Issuer, c.Audience, c.KeyFile, c.Algorithms = issuer, audience, keyFile, []string{alg}
	return c
}

func claims() auth.Claims {
	return auth.Claims{
		Subject:  "u-4711",
		Name:     "Dr. Ada Example",
		Roles:    []string{"clinician", "cardiology"},
		Org:      "org-st-elsewhere",
		Purposes: []string{"TREAT"},
		Issuer:   issuer,
		Audience: audience,
	}
}

func (e env) mint(t *testing.T, c auth.Claims) string {
	t.Helper()
	tok, err := e.signer.Mint(c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRaw signs arbitrary claims with the env's Ed25519 key, bypassing Mint.
func (e env) signRaw(t *testing.T, mc jwt.MapClaims) string {
	t.Helper()
	b, _ := os.ReadFile(e.privPath)
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, mc).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func validMap() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": "u-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func TestVerifyValidToken(t *testing.T) {
	e := newEnv(t)
	before := time.Now()
	p, err := e.verifier.Verify(e.mint(t, claims()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "u-4711" || p.Name != "Dr. Ada Example" || p.Org != "org-st-elsewhere" ||
		!slices.Equal(p.Roles, []string{"clinician", "cardiology"}) || !slices.Equal(p.Purposes, []string{"TREAT"}) ||
		p.Kind != auth.KindUser || p.Application != "" {
		t.Fatalf("principal = %+v", p)
	}
	if d := p.ExpiresAt.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("ExpiresAt = %v, want about an hour from now", p.ExpiresAt)
	}
}

func TestVerifyApplication(t *testing.T) {
	e := newEnv(t)
	c := claims()
	c.Kind, c.Application, c.Subject = auth.KindApplication, "lab-portal", "client-lab-portal"
	p, err := e.verifier.Verify(e.mint(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != auth.KindApplication || p.Application != "lab-portal" {
		t.Fatalf("principal = %+v", p)
	}
}

func TestFHIRUser(t *testing.T) {
	e := newEnv(t)
	c := claims()
	c.FHIRUser = "Practitioner/dr-osei"
	p, err := e.verifier.Verify(e.mint(t, c))
	if err != nil || p.FHIRUser != "Practitioner/dr-osei" {
		t.Fatalf("principal = %+v, %v", p, err)
	}
	// The claim as an identity provider writes it.
	mc := validMap()
	mc["fhirUser"] = "https://ehr.example/fhir/Practitioner/dr-osei"
	tok := e.signRaw(t, mc)
	if p, err := e.verifier.Verify(tok); err != nil || p.FHIRUser != "https://ehr.example/fhir/Practitioner/dr-osei" {
		t.Fatalf("principal = %+v, %v", p, err)
	}
	// Without the claim it is empty.
	if p, err := e.verifier.Verify(e.mint(t, claims())); err != nil || p.FHIRUser != "" {
		t.Fatalf("principal = %+v, %v", p, err)
	}
}

func TestPurposeStringOrArray(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		claim any
		want  []string
	}{
		"string": {"TREAT", []string{"TREAT"}},
		"array":  {[]string{"TREAT", "ETREAT"}, []string{"TREAT", "ETREAT"}},
		"empty":  {"", nil},
		"absent": {nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			mc := validMap()
			if tc.claim != nil {
				mc["purpose_of_use"] = tc.claim
			}
			mc["roles"] = "clinician" // roles too may be a single string
			p, err := e.verifier.Verify(e.signRaw(t, mc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Purposes, tc.want) {
				t.Fatalf("Purposes = %q, want %q", p.Purposes, tc.want)
			}
			if !slices.Equal(p.Roles, []string{"clinician"}) {
				t.Fatalf("Roles = %q", p.Roles)
			}
		})
	}
	mc := validMap()
	mc["purpose_of_use"] = 42
	if _, err := e.verifier.Verify(e.signRaw(t, mc)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("numeric purpose: err = %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	e := newEnv(t)
	good := e.mint(t, claims())
	pubDER := func() []byte {
		b, _ := os.ReadFile(e.pubPath)
		return b
	}()
	otherPriv, _, _ := auth.GenerateEd25519(filepath.Join(t.TempDir(), "other"))
	other, _ := auth.LoadSigner(otherPriv)

	with := func(mut func(jwt.MapClaims)) string {
		mc := validMap()
		mut(mc)
		return e.signRaw(t, mc)
	}
	parts := strings.Split(good, ".")
	flipSig := func() string {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[10] ^= 1
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	swapPayload := func() string {
		payload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + issuer + `","aud":"` + audience + `","sub":"admin","exp":9999999999}`))
		return parts[0] + "." + payload + "." + parts[2]
	}
	noneToken := func() string {
		mc := validMap()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, mc).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hsWithPublicKey := func() string { // algorithm confusion: public key as HMAC secret
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, validMap()).SignedString(pubDER)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	es256Token := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodES256, validMap()).SignedString(k)
		return tok
	}
	otherKey := func() string {
		c := claims()
		tok, _ := other.Mint(c, time.Hour)
		return tok
	}

	cases := []struct {
		name, token, reason string
	}{
		{"empty", "", "missing token"},
		{"garbage", "not-a-jwt", "malformed"},
		{"too large", strings.Repeat("a", 20<<10), "too large"},
		{"expired", with(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-time.Hour).Unix() }), "expired"},
		{"wrong issuer", with(func(m jwt.MapClaims) { m["iss"] = "https://evil.example" }), "wrong issuer"},
		{"missing issuer", with(func(m jwt.MapClaims) { delete(m, "iss") }), "missing issuer"},
		{"wrong audience", with(func(m jwt.MapClaims) { m["aud"] = "other-api" }), "wrong audience"},
		{"missing audience", with(func(m jwt.MapClaims) { delete(m, "aud") }), "missing audience"},
		{"missing exp", with(func(m jwt.MapClaims) { delete(m, "exp") }), "missing expiry"},
		{"not yet valid", with(func(m jwt.MapClaims) { m["nbf"] = time.Now().Add(time.Hour).Unix() }), "not valid yet"},
		{"issued in future", with(func(m jwt.MapClaims) { m["iat"] = time.Now().Add(time.Hour).Unix() }), "future"},
		{"missing subject", with(func(m jwt.MapClaims) { delete(m, "sub") }), "missing subject"},
		{"unknown kind", with(func(m jwt.MapClaims) { m["kind"] = "system" }), "kind"},
		{"alg none", noneToken(), "algorithm not allowed"},
		{"HS256 with public key as secret", hsWithPublicKey(), "algorithm not allowed"},
		{"ES256 when EdDSA pinned", es256Token(), "algorithm not allowed"},
		{"tampered signature", flipSig(), "invalid signature"},
		{"tampered payload", swapPayload(), "invalid signature"},
		{"signed by another key", otherKey(), "invalid signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.verifier.Verify(tc.token)
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %q, want reason containing %q", err, tc.reason)
			}
			if tc.token != "" && len(tc.token) > 8 {
				for _, part := range strings.Split(tc.token, ".") {
					if len(part) > 8 && strings.Contains(err.Error(), part) {
						t.Errorf("error echoes the token")
					}
				}
			}
			if p.Subject != "" {
				t.Errorf("principal returned with an error: %+v", p)
			}
		})
	}
}

func TestLeewayAndClock(t *testing.T) {
	e := newEnv(t)
	tok := e.mint(t, claims()) // exp = now + 1h
	cfg := e.cfg
	cfg.Leeway = time.Minute
	cfg.Now = func() time.Time { return time.Now().Add(time.Hour + 30*time.Second) }
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	cfg.Now = func() time.Time { return time.Now().Add(time.Hour + 2*time.Minute) }
	v, _ = auth.NewVerifier(cfg)
	if _, err := v.Verify(tok); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("past leeway: err = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	base := config("/etc/carecrest/jwt.pub.pem", auth.AlgEdDSA)
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	d := auth.Config{}.Defaults()
	if d.Issuer == "" || d.Audience == "" || !slices.Equal(d.Algorithms, []string{auth.AlgEdDSA}) || d.Leeway <= 0 {
		t.Fatalf("Defaults = %+v", d)
	}
	cases := map[string]func(c *auth.Config){
		"no algorithms":    func(c *auth.Config) { c.Algorithms = nil },
		"none":             func(c *auth.Config) { c.Algorithms = []string{"none"} },
		"None":             func(c *auth.Config) { c.Algorithms = []string{"None"} },
		"unsupported":      func(c *auth.Config) { c.Algorithms = []string{"HS512"} },
		"lowercase eddsa":  func(c *auth.Config) { c.Algorithms = []string{"eddsa"} },
		"HS256 and EdDSA":  func(c *auth.Config) { c.Algorithms = []string{auth.AlgEdDSA, auth.AlgHS256} },
		"EdDSA and RS256":  func(c *auth.Config) { c.Algorithms = []string{auth.AlgEdDSA, auth.AlgRS256} },
		"no issuer":        func(c *auth.Config) { c.Issuer = "" },
		"no audience":      func(c *auth.Config) { c.Audience = "" },
		"no key file":      func(c *auth.Config) { c.KeyFile = "" },
		"negative leeway":  func(c *auth.Config) { c.Leeway = -time.Second },
		"excessive leeway": func(c *auth.Config) { c.Leeway = time.Hour },
	}
	for name, mut := range cases {
		c := base
		c.Algorithms = slices.Clone(base.Algorithms)
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := auth.NewVerifier(c); err == nil {
			t.Errorf("%s: NewVerifier accepted", name)
		}
	}
	c := base
	c.Algorithms = []string{auth.AlgEdDSA, auth.AlgEdDSA}
	if err := c.Validate(); err != nil {
		t.Errorf("repeated algorithm: %v", err)
	}
}

func TestKeyFileMustMatchAlgorithm(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	rsaPub := writePEM(t, dir, "rsa.pub.pem", "PUBLIC KEY", pkix(t, mustRSA(t, 2048).Public()), 0o644)
	smallRSA := writePEM(t, dir, "rsa1024.pub.pem", "PUBLIC KEY", pkix(t, mustRSA(t, 1024).Public()), 0o644)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384Pub := writePEM(t, dir, "p384.pub.pem", "PUBLIC KEY", pkix(t, p384.Public()), 0o644)
	notPEM := filepath.Join(dir, "junk")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for name, tc := range map[string]struct{ file, alg string }{
		"Ed25519 key for RS256": {e.pubPath, auth.AlgRS256},
		"RSA key for EdDSA":     {rsaPub, auth.AlgEdDSA},
		"RSA key too small":     {smallRSA, auth.AlgRS256},
		"P-384 for ES256":       {p384Pub, auth.AlgES256},
		"private key":           {e.privPath, auth.AlgEdDSA},
		"not PEM":               {notPEM, auth.AlgEdDSA},
		"missing file":          {filepath.Join(dir, "absent.pem"), auth.AlgEdDSA},
	} {
		if _, err := auth.NewVerifier(config(tc.file, tc.alg)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestOtherAlgorithms verifies ES256 and RS256 tokens with matching keys.
func TestOtherAlgorithms(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk := mustRSA(t, 2048)
	for _, tc := range []struct {
		alg  string
		priv crypto.Signer
	}{{auth.AlgES256, ec}, {auth.AlgRS256, rk}} {
		t.Run(tc.alg, func(t *testing.T) {
			der, err := x509.MarshalPKCS8PrivateKey(tc.priv)
			if err != nil {
				t.Fatal(err)
			}
			privPath := writePEM(t, dir, tc.alg+".key.pem", "PRIVATE KEY", der, 0o600)
			pubPath := writePEM(t, dir, tc.alg+".pub.pem", "PUBLIC KEY", pkix(t, tc.priv.Public()), 0o644)
			s, err := auth.LoadSigner(privPath)
			if err != nil {
				t.Fatal(err)
			}
			if s.Algorithm() != tc.alg {
				t.Fatalf("signer algorithm = %s", s.Algorithm())
			}
			tok, err := s.Mint(claims(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			v, err := auth.NewVerifier(config(pubPath, tc.alg))
			if err != nil {
				t.Fatal(err)
			}
			if p, err := v.Verify(tok); err != nil || p.Subject != "u-4711" {
				t.Fatalf("Verify = %+v, %v", p, err)
			}
		})
	}
}

func TestHS256(t *testing.T) {
	dir := t.TempDir()
	secret := make([]byte, 32)
	rand.Read(secret)
	secret = []byte(base64.RawURLEncoding.EncodeToString(secret)) // 43 printable bytes
	path := filepath.Join(dir, "hs256.secret")
	os.WriteFile(path, append(secret, '\n'), 0o600)
	v, err := auth.NewVerifier(config(path, auth.AlgHS256))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, validMap()).SignedString(secret)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("HS256 token: %v", err)
	}
	// An EdDSA token is refused by an HS256 verifier.
	e := newEnv(t)
	if _, err := v.Verify(e.mint(t, claims())); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("EdDSA token on HS256 verifier: err = %v", err)
	}

	short := filepath.Join(dir, "short.secret")
	os.WriteFile(short, []byte("0123456789abcdef0123456789abcd\n"), 0o600) // 30 bytes
	if _, err := auth.NewVerifier(config(short, auth.AlgHS256)); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short secret: err = %v", err)
	}
	if _, err := auth.NewVerifier(config(e.pubPath, auth.AlgHS256)); err == nil {
		t.Error("a public key file accepted as HS256 secret")
	}
	loose := filepath.Join(dir, "loose.secret")
	os.WriteFile(loose, secret, 0o644)
	os.Chmod(loose, 0o644)
	if _, err := auth.NewVerifier(config(loose, auth.AlgHS256)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret: err = %v", err)
	}
}

func TestGenerateEd25519(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	priv, pub, err := auth.GenerateEd25519(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s mode = %04o, want %04o", filepath.Base(path), got, want)
		}
	}
	b, _ := os.ReadFile(pub)
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if _, ok := k.(ed25519.PublicKey); err != nil || !ok {
		t.Fatalf("public key file: %T, %v", k, err)
	}
	if _, _, err := auth.GenerateEd25519(dir); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second GenerateEd25519: err = %v, want ErrExist", err)
	}
	os.Chmod(priv, 0o644)
	if _, err := auth.LoadSigner(priv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadSigner of a world-readable key: err = %v", err)
	}
}

func TestMintValidates(t *testing.T) {
	e := newEnv(t)
	for name, mut := range map[string]func(c *auth.Claims){
		"no subject":  func(c *auth.Claims) { c.Subject = "" },
		"no issuer":   func(c *auth.Claims) { c.Issuer = "" },
		"no audience": func(c *auth.Claims) { c.Audience = "" },
		"bad kind":    func(c *auth.Claims) { c.Kind = "root" },
	} {
		c := claims()
		mut(&c)
		if _, err := e.signer.Mint(c, time.Hour); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := e.signer.Mint(claims(), 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

func mustRSA(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkix(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
	return p
}
