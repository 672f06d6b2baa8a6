package vault

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/carecrest/hub/keys"
)

const (
	dataKeyBits = 256
	dataKeySize = dataKeyBits / 8
	// maxBatch bounds the items of one batch decrypt request.
	maxBatch = 512
	// maxWrapped bounds a wrapped data key (a 32-byte key is ~70 bytes).
	maxWrapped = 1 << 10
)

// ciphertextPrefix starts every Transit ciphertext.
const ciphertextPrefix = "vault:v"

// derivationContext is the Transit key-derivation context of owner.
func derivationContext(owner string) string {
	return base64.StdEncoding.EncodeToString([]byte(owner))
}

// GenerateDataKey asks Vault for a fresh 256-bit data key
// (transit/datakey/plaintext, which returns the key and its ciphertext;
// the "wrapped" variant returns only the ciphertext) bound to owner by the
// derivation context. wrapped is the Transit ciphertext, vault:vN:...
func (m *Manager) GenerateDataKey(ctx context.Context, owner string) (plaintext, wrapped []byte, err error) {
	if owner == "" {
		return nil, nil, fmt.Errorf("%w: empty owner", keys.ErrInvalid)
	}
	var resp response[struct {
		Plaintext  string `json:"plaintext"`
		Ciphertext string `json:"ciphertext"`
	}]
	err = m.call(ctx, opGenerate, func(ctx context.Context) error {
		return m.write(ctx, m.path("datakey/plaintext"), map[string]any{
			"context": derivationContext(owner),
			"bits":    dataKeyBits,
		}, &resp)
	})
	if err != nil {
		return nil, nil, err
	}
	key, err := base64.StdEncoding.DecodeString(resp.Data.Plaintext)
	if err != nil || len(key) != dataKeySize || checkWrapped([]byte(resp.Data.Ciphertext)) != nil {
		clear(key)
		return nil, nil, fmt.Errorf("%w: vault %s: unexpected response", keys.ErrUnavailable, opGenerate.name)
	}
	return key, []byte(resp.Data.Ciphertext), nil
}

// UnwrapDataKey decrypts wrapped with owner's derivation context
// (transit/decrypt). A wrapped key of another owner, a modified one, or one
// older than the key's min_decryption_version is keys.ErrInvalid.
func (m *Manager) UnwrapDataKey(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	if owner == "" {
		return nil, fmt.Errorf("%w: empty owner", keys.ErrInvalid)
	}
	if err := checkWrapped(wrapped); err != nil {
		return nil, err
	}
	var resp response[struct {
		Plaintext string `json:"plaintext"`
	}]
	err := m.call(ctx, opUnwrap, func(ctx context.Context) error {
		return m.write(ctx, m.path("decrypt"), map[string]any{
			"ciphertext": string(wrapped),
			"context":    derivationContext(owner),
		}, &resp)
	})
	if err != nil {
		return nil, err
	}
	return decodeDataKey(resp.Data.Plaintext)
}

// decodeDataKey decodes a decrypted data key; anything but 32 bytes is a
// ciphertext of something else under the same Transit key.
func decodeDataKey(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != dataKeySize {
		clear(key)
		return nil, fmt.Errorf("%w: decrypted value is not a data key", keys.ErrInvalid)
	}
	return key, nil
}

// batchItem is one decrypt batch result.
type batchItem struct {
	Plaintext string `json:"plaintext"`
	Error     string `json:"error"`
}

// UnwrapMany unwraps the wrapped keys of many owners with one
// transit/decrypt call per 512 keys (batch_input), for loading a batch's
// keys at once. It returns the keys it unwrapped; when some did not, err is
// a *BatchError naming them (each keys.ErrInvalid). When Vault fails the
// whole call (sealed, denied, unreachable, unknown key), it returns nil
// and that error.
func (m *Manager) UnwrapMany(ctx context.Context, wrapped map[string][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(wrapped))
	failed := map[string]error{}
	owners := make([]string, 0, len(wrapped))
	for owner, w := range wrapped {
		if owner == "" {
			failed[owner] = fmt.Errorf("%w: empty owner", keys.ErrInvalid)
			continue
		}
		if err := checkWrapped(w); err != nil {
			failed[owner] = err
			continue
		}
		owners = append(owners, owner)
	}
	for len(owners) > 0 {
		chunk := owners[:min(len(owners), maxBatch)]
		owners = owners[len(chunk):]
		if err := m.unwrapBatch(ctx, chunk, wrapped, out, failed); err != nil {
			for _, k := range out {
				clear(k)
			}
			return nil, err
		}
	}
	if len(failed) > 0 {
		return out, &BatchError{Failed: failed, total: len(wrapped)}
	}
	return out, nil
}

func (m *Manager) unwrapBatch(ctx context.Context, owners []string, wrapped, out map[string][]byte, failed map[string]error) error {
	type input struct {
		Ciphertext string `json:"ciphertext"`
		Context    string `json:"context"`
	}
	in := make([]input, len(owners))
	for i, o := range owners {
		in[i] = input{string(wrapped[o]), derivationContext(o)}
	}
	var resp response[struct {
		Results []batchItem `json:"batch_results"`
	}]
	err := m.call(ctx, opUnwrapN, func(ctx context.Context) error {
		resp.Data.Results = nil
		err := m.write(ctx, m.path("decrypt"), map[string]any{"batch_input": in}, &resp)
		// Vault answers 400 when any item failed, with the per-item results
		// in the body: that is not a failure of the call.
		if status(err) == http.StatusBadRequest && len(resp.Data.Results) == len(in) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(resp.Data.Results) != len(in) {
		return fmt.Errorf("%w: vault %s: %d results for %d items", keys.ErrUnavailable, opUnwrapN.name, len(resp.Data.Results), len(in))
	}
	for i, r := range resp.Data.Results {
		o := owners[i]
		if r.Error != "" {
			failed[o] = fmt.Errorf("%w: vault %s: %s", keys.ErrInvalid, opUnwrap.name, sanitize(r.Error))
			continue
		}
		k, err := decodeDataKey(r.Plaintext)
		if err != nil {
			failed[o] = err
			continue
		}
		out[o] = k
	}
	return nil
}

// Rotate adds a new version to the Transit key (keys/<name>/rotate): new
// data keys are wrapped under it, older wrapped keys still unwrap until
// min_decryption_version is raised past them. Run RewrapAll afterwards.
func (m *Manager) Rotate(ctx context.Context) error {
	return m.call(ctx, opRotate, func(ctx context.Context) error {
		return m.write(ctx, m.cfg.Mount+"/keys/"+m.cfg.KeyName+"/rotate", map[string]any{}, nil)
	})
}

// Rewrap re-encrypts owner's wrapped key under the newest key version
// (transit/rewrap); the data key never leaves Vault. The result unwraps to
// the same data key, for owner only.
func (m *Manager) Rewrap(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	if owner == "" {
		return nil, fmt.Errorf("%w: empty owner", keys.ErrInvalid)
	}
	if err := checkWrapped(wrapped); err != nil {
		return nil, err
	}
	var resp response[struct {
		Ciphertext string `json:"ciphertext"`
	}]
	err := m.call(ctx, opRewrap, func(ctx context.Context) error {
		return m.write(ctx, m.path("rewrap"), map[string]any{
			"ciphertext": string(wrapped),
			"context":    derivationContext(owner),
		}, &resp)
	})
	if err != nil {
		return nil, err
	}
	if checkWrapped([]byte(resp.Data.Ciphertext)) != nil {
		return nil, fmt.Errorf("%w: vault %s: unexpected response", keys.ErrUnavailable, opRewrap.name)
	}
	return []byte(resp.Data.Ciphertext), nil
}

// checkWrapped rejects, without asking Vault, what cannot be a wrapped data
// key: anything but vault:v<N>:<standard base64 of at least a nonce and a
// tag>. Its errors never quote the input.
func checkWrapped(w []byte) error {
	_, err := WrappedVersion(w)
	return err
}

// WrappedVersion returns the Transit key version that wrapped w, for
// example to count the keys still to re-wrap after a rotation. Malformed
// input is keys.ErrInvalid.
func WrappedVersion(w []byte) (int, error) {
	bad := func(why string) (int, error) {
		return 0, fmt.Errorf("%w: not a Transit ciphertext (%s)", keys.ErrInvalid, why)
	}
	if len(w) == 0 {
		return bad("empty")
	}
	if len(w) > maxWrapped {
		return bad("too long")
	}
	s, ok := strings.CutPrefix(string(w), ciphertextPrefix)
	if !ok {
		return bad("no vault:v prefix")
	}
	ver, body, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no version")
	}
	v, err := strconv.Atoi(ver)
	if err != nil || v < 1 || ver[0] == '0' || ver[0] == '+' {
		return bad("bad version")
	}
	// Strict and without line breaks: Vault's decoder would accept variants
	// of the canonical text, which we do not want to store or compare.
	raw, err := base64.StdEncoding.Strict().DecodeString(body)
	if err != nil || strings.ContainsAny(body, "\r\n") {
		return bad("bad base64")
	}
	if len(raw) < 12+16 { // nonce + tag
		return bad("too short")
	}
	return v, nil
}
