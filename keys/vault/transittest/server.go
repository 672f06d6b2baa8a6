// Package transittest is an in-memory stand-in for HashiCorp Vault that
// serves the parts of Vault's HTTP API the hub's key manager uses, with the
// request and response shapes of Vault's API documentation, for tests
// where no Vault server is available:
//
//   - Transit: keys/:name (create, read, delete), keys/:name/rotate,
//     keys/:name/config (min_decryption_version, deletion_allowed),
//     datakey/{plaintext,wrapped}/:name, encrypt/:name, decrypt/:name
//     (single and batch_input, with per-item errors and HTTP 400 when an
//     item fails), rewrap/:name.
//   - Auth: approle and kubernetes login, token lookup-self, renew-self,
//     revoke-self; tokens with TTLs, max TTLs, renewability and path ACLs.
//   - sys/health, and sealing: a sealed server answers 503 "Vault is
//     sealed" to everything but sys/health.
//
// The cryptography is real: every key version is a random AES-256 key,
// derived keys derive a per-context key with HKDF-SHA256 (Vault's
// hkdf_sha256 KDF), ciphertexts are vault:v<N>:base64(nonce || AES-GCM),
// so a wrong context, a tampered ciphertext or a version below
// min_decryption_version fail as they do in Vault. It is not Vault: ACLs
// match paths only (no capabilities), and there is no storage, leasing,
// or replication.
package transittest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running Vault double. Its methods are safe for concurrent
// use.
type Server struct {
	// URL is the server's address, for vault.Config.Address.
	URL string

	ts   *httptest.Server
	root string

	mu       sync.Mutex
	sealed   bool
	delay    time.Duration
	tokens   map[string]*token
	approles map[string]map[string]appRole // mount → role_id → role
	k8s      map[string]map[string]k8sRole // mount → role name → role
	transit  map[string]map[string]*key    // mount → key name → key
	log      []Request
}

// Request is one request the server received.
type Request struct {
	Method    string
	Path      string // without /v1/
	Token     string // X-Vault-Token
	Namespace string // X-Vault-Namespace
}

// TokenParams describe a token the server issues.
type TokenParams struct {
	// Allow lists the API paths (without /v1/) the token may use; a
	// trailing "*" matches any suffix. Empty allows every path, like a root
	// token. Token self-service (auth/token/*-self) is always allowed, as
	// Vault's default policy does.
	Allow []string
	// TTL is the token's lifetime; 0 means it never expires.
	TTL time.Duration
	// MaxTTL caps the lifetime renewals can reach; 0 means no cap.
	MaxTTL time.Duration
	// Renewable lets renew-self extend the token.
	Renewable bool
}

type token struct {
	id, accessor string
	p            TokenParams
	issued       time.Time
	expires      time.Time // zero: never
}

type appRole struct {
	secretID string
	tok      TokenParams
}

type k8sRole struct {
	jwt string
	tok TokenParams
}

// Option configures New.
type Option func(*options)

type options struct {
	tls      bool
	clientCA []byte
}

// WithTLS serves HTTPS with a self-signed certificate for 127.0.0.1, ::1
// and example.com; CACert returns it.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithClientCA serves HTTPS and requires a client certificate signed by the
// CA in caPEM.
func WithClientCA(caPEM []byte) Option {
	return func(o *options) { o.tls, o.clientCA = true, caPEM }
}

// New starts a server with a Transit engine mounted at "transit" and stops
// it when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		tokens:   map[string]*token{},
		approles: map[string]map[string]appRole{},
		k8s:      map[string]map[string]k8sRole{},
		transit:  map[string]map[string]*key{"transit": {}},
	}
	s.root = s.issue(TokenParams{}).id
	s.ts = httptest.NewUnstartedServer(s)
	switch {
	case o.clientCA != nil:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.clientCA) {
			tb.Fatal("transittest: WithClientCA: no certificate in PEM")
		}
		s.ts.TLS = newTLSConfig(pool)
		s.ts.StartTLS()
	case o.tls:
		s.ts.StartTLS()
	default:
		s.ts.Start()
	}
	s.URL = s.ts.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// CACert returns the PEM certificate of a TLS server, to trust it.
func (s *Server) CACert() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// RootToken returns a token that may do anything and never expires.
func (s *Server) RootToken() string { return s.root }

// CreateToken issues a token.
func (s *Server) CreateToken(p TokenParams) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(p).id
}

// RevokeToken revokes a token, as `vault token revoke` does.
func (s *Server) RevokeToken(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, id)
}

// Seal seals the server: every request but sys/health gets 503.
func (s *Server) Seal() { s.setSealed(true) }

// Unseal unseals the server; keys and tokens are kept.
func (s *Server) Unseal() { s.setSealed(false) }

func (s *Server) setSealed(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealed = v
}

// SetDelay makes the server wait d before answering each request (to test
// timeouts); 0 answers at once.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// EnableTransit mounts another Transit engine at path.
func (s *Server) EnableTransit(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transit[path] == nil {
		s.transit[path] = map[string]*key{}
	}
}

// AddAppRole lets role_id/secret_id log in at auth/<mount>/login and get a
// token with tok.
func (s *Server) AddAppRole(mount, roleID, secretID string, tok TokenParams) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.approles[mount] == nil {
		s.approles[mount] = map[string]appRole{}
	}
	s.approles[mount][roleID] = appRole{secretID, tok}
}

// AddKubernetesRole lets a login at auth/<mount>/login with role and jwt
// get a token with tok. (Vault would verify the JWT with Kubernetes'
// TokenReview; the double compares it.)
func (s *Server) AddKubernetesRole(mount, role, jwt string, tok TokenParams) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k8s[mount] == nil {
		s.k8s[mount] = map[string]k8sRole{}
	}
	s.k8s[mount][role] = k8sRole{jwt, tok}
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Count returns how many requests had a path starting with prefix, e.g.
// "transit/decrypt/".
func (s *Server) Count(prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// Tokens returns the live tokens issued by logins at auth/<mount>/login,
// oldest first.
func (s *Server) Tokens(mount string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*token
	for _, t := range s.tokens {
		if strings.HasPrefix(t.accessor, mount+".") {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *token) int { return a.issued.Compare(b.issued) })
	ids := make([]string, len(out))
	for i, t := range out {
		ids[i] = t.id
	}
	return ids
}

func (s *Server) issue(p TokenParams) *token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(p)
}

func (s *Server) issueLocked(p TokenParams) *token {
	return s.issueForLocked("token", p)
}

func (s *Server) issueForLocked(mount string, p TokenParams) *token {
	now := time.Now()
	t := &token{id: "hvs." + randomString(24), accessor: mount + "." + randomString(24), p: p, issued: now}
	if p.TTL > 0 {
		t.expires = now.Add(p.TTL)
	}
	s.tokens[t.id] = t
	return t
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// ServeHTTP routes a request the way Vault's HTTP layer does: sys/health
// always; 503 when sealed; logins without a token; everything else with a
// valid token whose ACL allows the path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		respondErr(w, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	delay := s.delay
	s.log = append(s.log, Request{r.Method, path, r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Namespace")})
	s.mu.Unlock()
	var body map[string]json.RawMessage
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			respondErr(w, http.StatusBadRequest, "failed to parse JSON input")
			return
		}
	}
	// Read the body to its end, so the server notices a client that gives
	// up (the request's context is cancelled) while we delay.
	io.Copy(io.Discard, r.Body)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if path == "sys/health" {
		s.health(w, r)
		return
	}
	if s.sealed {
		respondErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	if mount, ok := strings.CutSuffix(path, "/login"); ok && strings.HasPrefix(mount, "auth/") && write {
		s.login(w, strings.TrimPrefix(mount, "auth/"), body)
		return
	}
	tok := s.tokens[r.Header.Get("X-Vault-Token")]
	if tok != nil && !tok.expires.IsZero() && time.Now().After(tok.expires) {
		delete(s.tokens, tok.id)
		tok = nil
	}
	if tok == nil {
		respondErr(w, http.StatusForbidden, "permission denied", "invalid token")
		return
	}
	switch {
	case path == "auth/token/lookup-self" && r.Method == http.MethodGet:
		s.lookupSelf(w, tok)
		return
	case path == "auth/token/renew-self" && write:
		s.renewSelf(w, tok, body)
		return
	case path == "auth/token/revoke-self" && write:
		delete(s.tokens, tok.id)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !allowed(tok.p.Allow, path) {
		respondErr(w, http.StatusForbidden, "permission denied")
		return
	}
	for mount, ks := range s.transit {
		if rest, ok := strings.CutPrefix(path, mount+"/"); ok {
			s.serveTransit(w, r.Method, ks, rest, body)
			return
		}
	}
	respondErr(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
}

func allowed(allow []string, path string) bool {
	if len(allow) == 0 {
		return true
	}
	for _, a := range allow {
		if p, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(path, p) || a == path {
			return true
		}
	}
	return false
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	code := http.StatusOK
	param := "activecode"
	if s.sealed {
		code, param = http.StatusServiceUnavailable, "sealedcode"
	}
	if v := r.URL.Query().Get(param); v != "" {
		if c, err := strconv.Atoi(v); err == nil {
			code = c
		}
	}
	respond(w, code, map[string]any{
		"initialized":                  true,
		"sealed":                       s.sealed,
		"standby":                      false,
		"performance_standby":          false,
		"replication_performance_mode": "disabled",
		"replication_dr_mode":          "disabled",
		"server_time_utc":              time.Now().Unix(),
		"version":                      "1.19.0+transittest",
		"cluster_name":                 "transittest",
		"enterprise":                   false,
	})
}

func (s *Server) login(w http.ResponseWriter, mount string, body map[string]json.RawMessage) {
	if roles, ok := s.approles[mount]; ok {
		role, ok := roles[str(body, "role_id")]
		if !ok || str(body, "secret_id") != role.secretID {
			respondErr(w, http.StatusBadRequest, "invalid role or secret ID")
			return
		}
		s.respondAuth(w, s.issueForLocked(mount, role.tok), map[string]string{"role_name": "transittest"})
		return
	}
	if roles, ok := s.k8s[mount]; ok {
		name := str(body, "role")
		role, ok := roles[name]
		if !ok {
			respondErr(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", name))
			return
		}
		if str(body, "jwt") != role.jwt {
			respondErr(w, http.StatusForbidden, "permission denied")
			return
		}
		s.respondAuth(w, s.issueForLocked(mount, role.tok), map[string]string{"role": name, "service_account_name": "carecrest-hub"})
		return
	}
	respondErr(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", "auth/"+mount+"/login"))
}

func (s *Server) lookupSelf(w http.ResponseWriter, t *token) {
	var ttl int64
	var expire any
	if !t.expires.IsZero() {
		ttl = int64(time.Until(t.expires).Round(time.Second) / time.Second)
		expire = t.expires.UTC().Format(time.RFC3339Nano)
	}
	respondData(w, map[string]any{
		"accessor":     t.accessor,
		"creation_ttl": int64(t.p.TTL / time.Second),
		"display_name": "transittest",
		"expire_time":  expire,
		"id":           t.id,
		"issue_time":   t.issued.UTC().Format(time.RFC3339Nano),
		"policies":     []string{"default"},
		"renewable":    t.p.Renewable,
		"ttl":          ttl,
		"type":         "service",
	})
}

func (s *Server) renewSelf(w http.ResponseWriter, t *token, body map[string]json.RawMessage) {
	if !t.p.Renewable || t.expires.IsZero() {
		respondErr(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	inc := time.Duration(num(body, "increment")) * time.Second
	if inc <= 0 {
		inc = t.p.TTL
	}
	exp := time.Now().Add(inc)
	if limit := t.issued.Add(t.p.MaxTTL); t.p.MaxTTL > 0 && exp.After(limit) {
		exp = limit
	}
	t.expires = exp
	s.respondAuth(w, t, nil)
}

func (s *Server) respondAuth(w http.ResponseWriter, t *token, meta map[string]string) {
	var ttl int64
	if !t.expires.IsZero() {
		ttl = int64(time.Until(t.expires).Round(time.Second) / time.Second)
	}
	respond(w, http.StatusOK, envelope(nil, map[string]any{
		"client_token":   t.id,
		"accessor":       t.accessor,
		"policies":       []string{"default", "carecrest-hub"},
		"token_policies": []string{"default", "carecrest-hub"},
		"metadata":       meta,
		"lease_duration": ttl,
		"renewable":      t.p.Renewable,
		"entity_id":      "",
		"token_type":     "service",
		"orphan":         true,
		"num_uses":       0,
	}))
}

// envelope is Vault's response body around data or auth.
func envelope(data, auth any) map[string]any {
	return map[string]any{
		"request_id":     randomString(16),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           auth,
	}
}

func respondData(w http.ResponseWriter, data any) {
	respond(w, http.StatusOK, envelope(data, nil))
}

// respondErr answers Vault's error shape, {"errors": [...]}; with several
// messages, Vault's multierror text.
func respondErr(w http.ResponseWriter, code int, msgs ...string) {
	errs := []string{}
	switch len(msgs) {
	case 0:
	case 1:
		errs = msgs
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "%d errors occurred:\n", len(msgs))
		for _, m := range msgs {
			fmt.Fprintf(&b, "\t* %s\n", m)
		}
		errs = []string{b.String() + "\n"}
	}
	respond(w, code, map[string]any{"errors": errs})
}

func respond(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// str returns a string field of a request body ("" when absent or not a
// string).
func str(body map[string]json.RawMessage, name string) string {
	var s string
	json.Unmarshal(body[name], &s)
	return s
}

// num returns an integer field given as a number or a numeric string, as
// Vault accepts both.
func num(body map[string]json.RawMessage, name string) int64 {
	var n json.Number
	if json.Unmarshal(body[name], &n) != nil {
		var s string
		if json.Unmarshal(body[name], &s) != nil {
			return 0
		}
		n = json.Number(s)
	}
	i, _ := n.Int64()
	return i
}

func boolean(body map[string]json.RawMessage, name string) bool {
	var b bool
	if json.Unmarshal(body[name], &b) != nil {
		var s string
		json.Unmarshal(body[name], &s)
		b, _ = strconv.ParseBool(s)
	}
	return b
}
