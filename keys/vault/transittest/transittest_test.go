package transittest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/carecrest/hub/keys/vault/transittest"
)

// These tests talk to the double with Vault's own client, checking the
// documented shapes the key manager relies on.

func client(t *testing.T, srv *transittest.Server, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	t.Cleanup(cfg.HttpClient.CloseIdleConnections)
	return c
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// vaultErr returns the status and messages of a Vault error response.
func vaultErr(t *testing.T, err error) (int, string) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a Vault error response", err)
	}
	return re.StatusCode, strings.Join(re.Errors, "; ")
}

func setup(t *testing.T) (*transittest.Server, *api.Client) {
	srv := transittest.New(t)
	c := client(t, srv, srv.RootToken())
	if _, err := c.Logical().Write("transit/keys/k", map[string]any{"type": "aes256-gcm96", "derived": true}); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestDatakeyAndDecrypt(t *testing.T) {
	_, c := setup(t)
	sec, err := c.Logical().Write("transit/datakey/plaintext/k", map[string]any{"context": b64("alice"), "bits": 256})
	if err != nil {
		t.Fatal(err)
	}
	pt, ct := sec.Data["plaintext"].(string), sec.Data["ciphertext"].(string)
	if raw, _ := base64.StdEncoding.DecodeString(pt); len(raw) != 32 || !strings.HasPrefix(ct, "vault:v1:") {
		t.Fatalf("datakey/plaintext = %v", sec.Data)
	}
	if v, _ := sec.Data["key_version"].(json.Number).Int64(); v != 1 {
		t.Fatalf("key_version = %v", sec.Data["key_version"])
	}
	wrapped, err := c.Logical().Write("transit/datakey/wrapped/k", map[string]any{"context": b64("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := wrapped.Data["plaintext"]; ok {
		t.Fatal("datakey/wrapped returned the plaintext")
	}

	dec, err := c.Logical().Write("transit/decrypt/k", map[string]any{"ciphertext": ct, "context": b64("alice")})
	if err != nil || dec.Data["plaintext"] != pt {
		t.Fatalf("decrypt = %v, %v; want the datakey's plaintext", dec, err)
	}
	for name, tc := range map[string]struct {
		body map[string]any
		want string
	}{
		"wrong context": {map[string]any{"ciphertext": ct, "context": b64("bob")}, "message authentication failed"},
		"no context":    {map[string]any{"ciphertext": ct}, "missing 'context' for key derivation"},
		"no prefix":     {map[string]any{"ciphertext": ct[1:], "context": b64("alice")}, "no prefix"},
		"too new":       {map[string]any{"ciphertext": strings.Replace(ct, "v1", "v9", 1), "context": b64("alice")}, "version is too new"},
	} {
		_, err := c.Logical().Write("transit/decrypt/k", tc.body)
		if code, msg := vaultErr(t, err); code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", name, code, msg, tc.want)
		}
	}
	_, err = c.Logical().Write("transit/decrypt/nope", map[string]any{"ciphertext": ct, "context": b64("alice")})
	if code, msg := vaultErr(t, err); code != http.StatusBadRequest || msg != "encryption key not found" {
		t.Errorf("unknown key: %d %q", code, msg)
	}
}

func TestBatchDecrypt(t *testing.T) {
	_, c := setup(t)
	sec, err := c.Logical().Write("transit/datakey/plaintext/k", map[string]any{"context": b64("alice")})
	if err != nil {
		t.Fatal(err)
	}
	ct := sec.Data["ciphertext"].(string)
	batch := []map[string]any{
		{"ciphertext": ct, "context": b64("alice"), "reference": "a"},
		{"ciphertext": ct, "context": b64("bob"), "reference": "b"},
	}
	// A failed item makes the response a 400 that still carries the
	// results.
	resp, err := c.Logical().WriteRaw("transit/decrypt/k", mustJSON(t, map[string]any{"batch_input": batch}))
	if code, _ := vaultErr(t, err); code != http.StatusBadRequest {
		t.Fatalf("partial failure: status %d, want 400", code)
	}
	var body struct {
		Data struct {
			Results []struct{ Plaintext, Error, Reference string } `json:"batch_results"`
		} `json:"data"`
	}
	if err := resp.DecodeJSON(&body); err != nil {
		t.Fatal(err)
	}
	r := body.Data.Results
	if len(r) != 2 || r[0].Plaintext != sec.Data["plaintext"] || r[0].Error != "" || r[1].Error == "" || r[1].Reference != "b" {
		t.Fatalf("batch_results = %+v", r)
	}
	// partial_failure_response_code overrides the status when some succeed.
	resp, err = c.Logical().WriteRaw("transit/decrypt/k", mustJSON(t, map[string]any{"batch_input": batch, "partial_failure_response_code": 207}))
	if err != nil || resp.StatusCode != 207 {
		t.Fatalf("with partial_failure_response_code: %v, %v", resp.StatusCode, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotateRewrapMinDecryption(t *testing.T) {
	_, c := setup(t)
	sec, _ := c.Logical().Write("transit/datakey/plaintext/k", map[string]any{"context": b64("alice")})
	ct := sec.Data["ciphertext"].(string)
	if _, err := c.Logical().Write("transit/keys/k/rotate", nil); err != nil {
		t.Fatal(err)
	}
	key, err := c.Logical().Read("transit/keys/k")
	if err != nil || key.Data["latest_version"].(json.Number) != "2" || key.Data["derived"] != true {
		t.Fatalf("key after rotate: %v, %v", key, err)
	}
	rw, err := c.Logical().Write("transit/rewrap/k", map[string]any{"ciphertext": ct, "context": b64("alice")})
	if err != nil || !strings.HasPrefix(rw.Data["ciphertext"].(string), "vault:v2:") {
		t.Fatalf("rewrap: %v, %v", rw, err)
	}
	if _, err := c.Logical().Write("transit/keys/k/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Logical().Write("transit/decrypt/k", map[string]any{"ciphertext": ct, "context": b64("alice")})
	if code, msg := vaultErr(t, err); code != 400 || !strings.Contains(msg, "disallowed by policy") {
		t.Fatalf("old version after min_decryption_version: %d %q", code, msg)
	}
	dec, err := c.Logical().Write("transit/decrypt/k", map[string]any{"ciphertext": rw.Data["ciphertext"], "context": b64("alice")})
	if err != nil || dec.Data["plaintext"] != sec.Data["plaintext"] {
		t.Fatalf("re-wrapped key: %v, %v", dec, err)
	}
	_, err = c.Logical().Write("transit/keys/k/config", map[string]any{"min_decryption_version": 3})
	if code, _ := vaultErr(t, err); code != 400 {
		t.Fatalf("min_decryption_version above latest: %d", code)
	}
}

func TestSealedAndHealth(t *testing.T) {
	srv, c := setup(t)
	srv.Seal()
	_, err := c.Logical().Read("transit/keys/k")
	if code, msg := vaultErr(t, err); code != 503 || msg != "Vault is sealed" {
		t.Fatalf("sealed: %d %q", code, msg)
	}
	h, err := c.Sys().Health()
	if err != nil || !h.Sealed || !h.Initialized {
		t.Fatalf("health while sealed: %+v, %v", h, err)
	}
	srv.Unseal()
	if _, err := c.Logical().Read("transit/keys/k"); err != nil {
		t.Fatal(err)
	}
}

func TestTokens(t *testing.T) {
	srv, _ := setup(t)
	limited := client(t, srv, srv.CreateToken(transittest.TokenParams{Allow: []string{"transit/keys/*"}}))
	if _, err := limited.Logical().Read("transit/keys/k"); err != nil {
		t.Fatal(err)
	}
	_, err := limited.Logical().Write("transit/datakey/plaintext/k", map[string]any{"context": b64("a")})
	if code, msg := vaultErr(t, err); code != 403 || msg != "permission denied" {
		t.Fatalf("outside the ACL: %d %q", code, msg)
	}

	short := client(t, srv, srv.CreateToken(transittest.TokenParams{TTL: 2 * time.Second, MaxTTL: 3 * time.Second, Renewable: true}))
	self, err := short.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := self.TokenTTL(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("lookup-self ttl = %s", ttl)
	}
	r, err := short.Auth().Token().RenewSelf(60)
	if err != nil || r.Auth == nil || r.Auth.LeaseDuration > 3 || !r.Auth.Renewable {
		t.Fatalf("renew-self capped by max TTL: %+v, %v", r, err)
	}

	fixed := client(t, srv, srv.CreateToken(transittest.TokenParams{TTL: 50 * time.Millisecond}))
	if _, err := fixed.Auth().Token().RenewSelf(0); err == nil {
		t.Fatal("renewed a non-renewable token")
	}
	time.Sleep(100 * time.Millisecond)
	_, err = fixed.Auth().Token().LookupSelf()
	if code, msg := vaultErr(t, err); code != 403 || !strings.Contains(msg, "invalid token") {
		t.Fatalf("expired token: %d %q", code, msg)
	}
}

func TestLogins(t *testing.T) {
	srv := transittest.New(t)
	srv.AddAppRole("approle", "r", "s", transittest.TokenParams{TTL: time.Hour, Renewable: true})
	srv.AddKubernetesRole("kubernetes", "hub", "jwt", transittest.TokenParams{})
	anon := client(t, srv, "")
	sec, err := anon.Logical().Write("auth/approle/login", map[string]any{"role_id": "r", "secret_id": "s"})
	if err != nil || sec.Auth == nil || sec.Auth.ClientToken == "" || sec.Auth.LeaseDuration != 3600 || !sec.Auth.Renewable {
		t.Fatalf("approle login: %+v, %v", sec, err)
	}
	_, err = anon.Logical().Write("auth/approle/login", map[string]any{"role_id": "r", "secret_id": "wrong"})
	if code, _ := vaultErr(t, err); code != 400 {
		t.Fatalf("bad secret_id: %d, want 400", code)
	}
	sec, err = anon.Logical().Write("auth/kubernetes/login", map[string]any{"role": "hub", "jwt": "jwt"})
	if err != nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("kubernetes login: %+v, %v", sec, err)
	}
	_, err = anon.Logical().Write("auth/kubernetes/login", map[string]any{"role": "hub", "jwt": "other"})
	if code, _ := vaultErr(t, err); code != 403 {
		t.Fatalf("bad jwt: %d, want 403", code)
	}
	if got := srv.Tokens("approle"); len(got) != 1 {
		t.Fatalf("Tokens(approle) = %d tokens, want 1", len(got))
	}
}
