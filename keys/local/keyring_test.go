package local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/keystest"
	"github.com/carecrest/hub/keys/local"
)

func TestConformance(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		keystest.Run(t, func(t *testing.T) keys.Manager {
			k, err := local.Open(filepath.Join(t.TempDir(), "keyring.json"))
			if err != nil {
				t.Fatal(err)
			}
			return k
		})
	})
	t.Run("Key", func(t *testing.T) {
		keystest.Run(t, func(t *testing.T) keys.Manager {
			k, err := local.FromKey(randomKEK())
			if err != nil {
				t.Fatal(err)
			}
			return k
		})
	})
}

func randomKEK() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func TestOpenCreatesAndReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets", "hub")
	path := filepath.Join(dir, "keyring.json")
	k1, err := local.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("keyring mode = %04o, want 0600", got)
		}
		dst, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := dst.Mode().Perm(); got != 0o700 {
			t.Errorf("keyring directory mode = %04o, want 0700", got)
		}
	}
	var kf struct {
		Version int    `json:"version"`
		KEK     string `json:"kek"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &kf); err != nil || kf.Version != 1 {
		t.Fatalf("keyring file = %s (err %v), want version 1 JSON", b, err)
	}
	if kek, err := base64.StdEncoding.DecodeString(kf.KEK); err != nil || len(kek) != 32 {
		t.Fatalf("kek field does not hold 32 base64 bytes")
	}

	ctx := context.Background()
	p, w, err := k1.GenerateDataKey(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := local.Open(path) // exists now: must be the same KEK
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.UnwrapDataKey(ctx, "p1", w)
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("reopened keyring does not unwrap: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Fatal("reopening rewrote the keyring file")
	}
}

func TestOpenConcurrentCreateAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	const n = 8
	rings := make([]*local.Keyring, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := local.Open(path)
			if err != nil {
				t.Error(err)
			}
			rings[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	p, w, _ := rings[0].GenerateDataKey(ctx, "p1")
	for i, k := range rings {
		got, err := k.UnwrapDataKey(ctx, "p1", w)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("keyring %d has another KEK", i)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the keyring (temporary files left behind?)", len(entries))
	}
}

func TestOpenRefusesLooseModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes on Windows")
	}
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := local.Open(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := local.Open(path)
		if err == nil {
			t.Fatalf("mode %04o accepted", mode)
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
			t.Errorf("mode %04o: error %q should name the file and the fix", mode, msg)
		}
	}
	os.Chmod(path, 0o400) // read-only for the owner is fine
	if _, err := local.Open(path); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString(randomKEK())
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	cases := map[string]string{
		"not json":     "this is not a keyring " + kek,
		"version 2":    `{"version":2,"kek":"` + kek + `"}`,
		"no version":   `{"kek":"` + kek + `"}`,
		"short kek":    `{"version":1,"kek":"` + short + `"}`,
		"not base64":   `{"version":1,"kek":"!!!not-base64!!!"}`,
		"empty":        ``,
		"empty object": `{}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyring.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := local.Open(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), kek) {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := local.Open(t.TempDir()); err == nil {
			t.Fatal("accepted a directory")
		}
	})
}

func TestFromEnv(t *testing.T) {
	kek := randomKEK()
	ref, _ := local.FromKey(kek)
	ctx := context.Background()
	p, w, _ := ref.GenerateDataKey(ctx, "p1")
	for name, v := range map[string]string{
		"std":        base64.StdEncoding.EncodeToString(kek),
		"raw url":    base64.RawURLEncoding.EncodeToString(kek),
		"whitespace": " " + base64.StdEncoding.EncodeToString(kek) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(local.EnvKEK, v)
			k, err := local.FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.UnwrapDataKey(ctx, "p1", w)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("FromEnv keyring does not unwrap: %v", err)
			}
		})
	}
	for name, v := range map[string]string{
		"unset":      "",
		"short":      base64.StdEncoding.EncodeToString(kek[:31]),
		"not base64": "%%%" + base64.StdEncoding.EncodeToString(kek),
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(local.EnvKEK, v)
			_, err := local.FromEnv()
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(kek)) {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

func TestFromKeyCopiesAndChecksSize(t *testing.T) {
	if _, err := local.FromKey(make([]byte, 16)); err == nil {
		t.Fatal("accepted a 16-byte KEK")
	}
	kek := randomKEK()
	k, _ := local.FromKey(kek)
	ctx := context.Background()
	p, w, _ := k.GenerateDataKey(ctx, "p1")
	clear(kek) // the caller wipes its copy
	if got, err := k.UnwrapDataKey(ctx, "p1", w); err != nil || !bytes.Equal(got, p) {
		t.Fatal("keyring depends on the caller's KEK slice")
	}
}

func TestOtherKEKIsInvalid(t *testing.T) {
	a, _ := local.FromKey(randomKEK())
	b, _ := local.FromKey(randomKEK())
	ctx := context.Background()
	_, w, _ := a.GenerateDataKey(ctx, "p1")
	if _, err := b.UnwrapDataKey(ctx, "p1", w); !errors.Is(err, keys.ErrInvalid) {
		t.Fatalf("err = %v, want keys.ErrInvalid", err)
	}
}

func TestWrappedFormat(t *testing.T) {
	k, _ := local.FromKey(randomKEK())
	_, w, _ := k.GenerateDataKey(context.Background(), "p1")
	if w[0] != 1 {
		t.Errorf("version byte = %d, want 1", w[0])
	}
	if len(w) != 1+12+32+16 {
		t.Errorf("wrapped length = %d, want 61", len(w))
	}
}

func TestEmptyOwner(t *testing.T) {
	k, _ := local.FromKey(randomKEK())
	if _, _, err := k.GenerateDataKey(context.Background(), ""); !errors.Is(err, keys.ErrInvalid) {
		t.Fatalf("err = %v, want keys.ErrInvalid", err)
	}
}
