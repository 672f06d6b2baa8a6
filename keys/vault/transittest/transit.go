package transittest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func newTLSConfig(clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
}

// key is a Transit key: one random AES-256 key per version.
type key struct {
	name            string
	derived         bool
	versions        map[int][]byte
	created         map[int]time.Time
	latest          int
	minDecrypt      int
	minEncrypt      int
	deletionAllowed bool
}

const keyType = "aes256-gcm96"

// Vault's error texts (sdk/helper/keysutil and builtin/logical/transit).
const (
	errKeyNotFound     = "encryption key not found"
	errMissingContext  = "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key"
	errNoPrefix        = "invalid ciphertext: no prefix"
	errFields          = "invalid ciphertext: wrong number of fields"
	errVersionDecode   = "invalid ciphertext: version number could not be decoded"
	errVersionTooNew   = "invalid ciphertext: version is too new"
	errVersionDisallow = "ciphertext or signature version is disallowed by policy (too old)"
	errBase64          = "invalid ciphertext: could not decode base64"
	errContextBase64   = "failed to base64-decode context"
)

func newKey(name string, derived bool) *key {
	k := &key{name: name, derived: derived, versions: map[int][]byte{}, created: map[int]time.Time{}, minDecrypt: 1}
	k.rotate()
	return k
}

func (k *key) rotate() {
	k.latest++
	b := make([]byte, 32)
	rand.Read(b)
	k.versions[k.latest] = b
	k.created[k.latest] = time.Now()
}

// aead returns the cipher of version ver for context: with a derived key,
// the version's key is HKDF-SHA256-expanded with the context as info.
func (k *key) aead(ver int, context []byte) (cipher.AEAD, error) {
	raw := k.versions[ver]
	if k.derived {
		if len(context) == 0 {
			return nil, userError(errMissingContext)
		}
		var err error
		if raw, err = hkdf.Key(sha256.New, raw, nil, string(context), 32); err != nil {
			return nil, err
		}
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (k *key) encrypt(context, plaintext []byte) (string, int, error) {
	ver := max(k.latest, k.minEncrypt)
	aead, err := k.aead(ver, context)
	if err != nil {
		return "", 0, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	ct := aead.Seal(nonce, nonce, plaintext, nil)
	return "vault:v" + strconv.Itoa(ver) + ":" + base64.StdEncoding.EncodeToString(ct), ver, nil
}

func (k *key) decrypt(context []byte, value string) ([]byte, error) {
	rest, ok := strings.CutPrefix(value, "vault:")
	if !ok {
		return nil, userError(errNoPrefix)
	}
	verText, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, userError(errFields)
	}
	ver, err := strconv.Atoi(strings.TrimPrefix(verText, "v"))
	if err != nil {
		return nil, userError(errVersionDecode)
	}
	if ver == 0 { // ciphertexts of Vault < 0.6 had version 0
		ver = 1
	}
	switch {
	case ver > k.latest:
		return nil, userError(errVersionTooNew)
	case ver < k.minDecrypt:
		return nil, userError(errVersionDisallow)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, userError(errBase64)
	}
	aead, err := k.aead(ver, context)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, userError("invalid ciphertext: too short")
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
	if err != nil {
		return nil, userError(err.Error()) // "cipher: message authentication failed"
	}
	return pt, nil
}

func (k *key) info() map[string]any {
	versions := map[string]int64{}
	for v, t := range k.created {
		versions[strconv.Itoa(v)] = t.Unix()
	}
	return map[string]any{
		"name":                   k.name,
		"type":                   keyType,
		"derived":                k.derived,
		"kdf":                    "hkdf_sha256",
		"convergent_encryption":  false,
		"deletion_allowed":       k.deletionAllowed,
		"exportable":             false,
		"allow_plaintext_backup": false,
		"keys":                   versions,
		"latest_version":         k.latest,
		"min_available_version":  0,
		"min_decryption_version": k.minDecrypt,
		"min_encryption_version": k.minEncrypt,
		"supports_encryption":    true,
		"supports_decryption":    true,
		"supports_derivation":    true,
		"supports_signing":       false,
		"auto_rotate_period":     0,
		"imported_key":           false,
	}
}

// userError is an error Vault reports to the client with a 400.
type userError string

func (e userError) Error() string { return string(e) }

// serveTransit serves the Transit engine's paths below its mount.
func (s *Server) serveTransit(w http.ResponseWriter, method string, ks map[string]*key, rest string, body map[string]json.RawMessage) {
	parts := strings.Split(rest, "/")
	write := method == http.MethodPost || method == http.MethodPut
	switch {
	case len(parts) == 2 && parts[0] == "keys":
		s.keyCRUD(w, method, ks, parts[1], body)
	case len(parts) == 3 && parts[0] == "keys" && parts[2] == "rotate" && write:
		k := ks[parts[1]]
		if k == nil {
			respondErr(w, http.StatusBadRequest, "key not found")
			return
		}
		k.rotate()
		respondData(w, k.info())
	case len(parts) == 3 && parts[0] == "keys" && parts[2] == "config" && write:
		s.keyConfig(w, ks[parts[1]], body)
	case len(parts) == 3 && parts[0] == "datakey" && write:
		s.datakey(w, ks[parts[2]], parts[1], body)
	case len(parts) == 2 && parts[0] == "encrypt" && write:
		name := parts[1]
		if ks[name] == nil { // encrypt creates a missing key (upsert)
			ks[name] = newKey(name, str(body, "context") != "")
		}
		s.encrypt(w, ks[name], body)
	case len(parts) == 2 && (parts[0] == "decrypt" || parts[0] == "rewrap") && write:
		s.decryptOrRewrap(w, ks[parts[1]], parts[0] == "rewrap", body)
	default:
		respondErr(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func (s *Server) keyCRUD(w http.ResponseWriter, method string, ks map[string]*key, name string, body map[string]json.RawMessage) {
	k := ks[name]
	switch method {
	case http.MethodGet:
		if k == nil {
			respondErr(w, http.StatusNotFound)
			return
		}
		respondData(w, k.info())
	case http.MethodPost, http.MethodPut:
		if t := str(body, "type"); t != "" && t != keyType {
			respondErr(w, http.StatusBadRequest, fmt.Sprintf("transittest: key type %q is not modeled", t))
			return
		}
		if k == nil {
			k = newKey(name, boolean(body, "derived"))
			ks[name] = k
		}
		respondData(w, k.info())
	case http.MethodDelete:
		if k == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !k.deletionAllowed {
			respondErr(w, http.StatusBadRequest, "deletion is not allowed for this key")
			return
		}
		delete(ks, name)
		w.WriteHeader(http.StatusNoContent)
	default:
		respondErr(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func (s *Server) keyConfig(w http.ResponseWriter, k *key, body map[string]json.RawMessage) {
	if k == nil {
		respondErr(w, http.StatusBadRequest, errKeyNotFound)
		return
	}
	if _, ok := body["min_decryption_version"]; ok {
		v := int(num(body, "min_decryption_version"))
		if v > k.latest {
			respondErr(w, http.StatusBadRequest, fmt.Sprintf("cannot set min decryption version of %d, latest key version is %d", v, k.latest))
			return
		}
		k.minDecrypt = max(v, 1)
	}
	if _, ok := body["min_encryption_version"]; ok {
		v := int(num(body, "min_encryption_version"))
		if v > k.latest {
			respondErr(w, http.StatusBadRequest, fmt.Sprintf("cannot set min encryption version of %d, latest key version is %d", v, k.latest))
			return
		}
		k.minEncrypt = v
	}
	if _, ok := body["deletion_allowed"]; ok {
		k.deletionAllowed = boolean(body, "deletion_allowed")
	}
	respondData(w, k.info())
}

func decodeContext(body map[string]json.RawMessage) ([]byte, error) {
	c := str(body, "context")
	if c == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return nil, userError(errContextBase64)
	}
	return b, nil
}

func (s *Server) datakey(w http.ResponseWriter, k *key, kind string, body map[string]json.RawMessage) {
	if kind != "plaintext" && kind != "wrapped" {
		respondErr(w, http.StatusBadRequest, "Invalid path, must be 'plaintext' or 'wrapped'")
		return
	}
	context, err := decodeContext(body)
	if err != nil {
		respondErr(w, http.StatusBadRequest, err.Error())
		return
	}
	if k == nil {
		respondErr(w, http.StatusBadRequest, errKeyNotFound)
		return
	}
	n := 32
	switch bits := num(body, "bits"); bits {
	case 0, 256:
	case 128, 512:
		n = int(bits / 8)
	default:
		respondErr(w, http.StatusBadRequest, "invalid bit length")
		return
	}
	dk := make([]byte, n)
	rand.Read(dk)
	ct, ver, err := k.encrypt(context, dk)
	if err != nil {
		respondErr(w, http.StatusBadRequest, err.Error())
		return
	}
	data := map[string]any{"ciphertext": ct, "key_version": ver}
	if kind == "plaintext" { // "wrapped" returns the ciphertext only
		data["plaintext"] = base64.StdEncoding.EncodeToString(dk)
	}
	respondData(w, data)
}

func (s *Server) encrypt(w http.ResponseWriter, k *key, body map[string]json.RawMessage) {
	context, err := decodeContext(body)
	if err != nil {
		respondErr(w, http.StatusBadRequest, err.Error())
		return
	}
	pt, err := base64.StdEncoding.DecodeString(str(body, "plaintext"))
	if err != nil {
		respondErr(w, http.StatusBadRequest, "failed to base64-decode plaintext")
		return
	}
	ct, ver, err := k.encrypt(context, pt)
	if err != nil {
		respondErr(w, http.StatusBadRequest, err.Error())
		return
	}
	respondData(w, map[string]any{"ciphertext": ct, "key_version": ver})
}

// batchItem is a batch_input element.
type batchItem struct {
	Ciphertext string `json:"ciphertext"`
	Context    string `json:"context"`
	Reference  string `json:"reference"`
}

// batchResult is a batch_results element, as Vault encodes it.
type batchResult struct {
	Plaintext  string `json:"plaintext,omitempty"`
	Ciphertext string `json:"ciphertext,omitempty"`
	KeyVersion int    `json:"key_version,omitempty"`
	Error      string `json:"error,omitempty"`
	Reference  string `json:"reference"`
}

// decryptOrRewrap serves decrypt and rewrap, single or batch. In a batch,
// each failed item carries its error and the response is a 400 (or
// partial_failure_response_code when some items succeeded), with the
// results in the body, as Vault's batchRequestResponse does.
func (s *Server) decryptOrRewrap(w http.ResponseWriter, k *key, rewrap bool, body map[string]json.RawMessage) {
	var items []batchItem
	_, batch := body["batch_input"]
	if batch {
		if err := json.Unmarshal(body["batch_input"], &items); err != nil {
			respondErr(w, http.StatusBadRequest, "failed to parse batch input")
			return
		}
		if len(items) == 0 {
			respondErr(w, http.StatusBadRequest, "missing batch input to process")
			return
		}
	} else {
		items = []batchItem{{Ciphertext: str(body, "ciphertext"), Context: str(body, "context")}}
		if items[0].Ciphertext == "" {
			respondErr(w, http.StatusBadRequest, "missing ciphertext to decrypt")
			return
		}
	}
	if k == nil {
		respondErr(w, http.StatusBadRequest, errKeyNotFound)
		return
	}
	results := make([]batchResult, len(items))
	failed, succeeded := false, false
	for i, it := range items {
		r := &results[i]
		r.Reference = it.Reference
		pt, err := func() ([]byte, error) {
			if it.Ciphertext == "" {
				return nil, userError("missing ciphertext to decrypt")
			}
			var context []byte
			if it.Context != "" {
				var err error
				if context, err = base64.StdEncoding.DecodeString(it.Context); err != nil {
					return nil, userError(errContextBase64)
				}
			}
			pt, err := k.decrypt(context, it.Ciphertext)
			if err != nil || !rewrap {
				return pt, err
			}
			r.Ciphertext, r.KeyVersion, err = k.encrypt(context, pt)
			return nil, err
		}()
		if err != nil {
			r.Error, failed = err.Error(), true
			continue
		}
		succeeded = true
		if !rewrap {
			r.Plaintext = base64.StdEncoding.EncodeToString(pt)
		}
	}
	if !batch {
		if failed {
			respondErr(w, http.StatusBadRequest, results[0].Error)
			return
		}
		if rewrap {
			respondData(w, map[string]any{"ciphertext": results[0].Ciphertext, "key_version": results[0].KeyVersion})
		} else {
			respondData(w, map[string]any{"plaintext": results[0].Plaintext})
		}
		return
	}
	code := http.StatusOK
	if failed {
		code = http.StatusBadRequest
		if c := int(num(body, "partial_failure_response_code")); c >= 1 && c <= 599 && succeeded {
			code = c
		}
	}
	respond(w, code, envelope(map[string]any{"batch_results": results}, nil))
}
