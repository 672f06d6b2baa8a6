package local

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// fileVersion is the version of the keyring file format.
const fileVersion = 1

// maxFileSize bounds what Open reads; a version-1 file is about 100 bytes.
const maxFileSize = 4 << 10

// keyringFile is the keyring file's JSON form:
//
//	{"version":1,"kek":"<base64 of 32 bytes>","created":"2026-01-02T03:04:05Z"}
type keyringFile struct {
	Version int       `json:"version"`
	KEK     string    `json:"kek"`
	Created time.Time `json:"created"`
}

// Open returns the keyring stored in the file at path, creating the file
// (mode 0600, parent directories 0700) with a fresh random KEK when it does
// not exist.
//
// Open refuses a file that group or others may read or write: anyone who can
// read the KEK can unwrap every data key. Back the file up somewhere as safe
// as the file itself: losing it makes every sealed record unreadable.
func Open(path string) (*Keyring, error) {
	k, err := openFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, err
		}
		k, err = openFile(path)
	}
	return k, err
}

func openFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys/local: open keyring: %w", err) // Open handles fs.ErrNotExist
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys/local: keyring %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("keys/local: keyring %s is not a regular file", path)
	}
	// Windows has no POSIX modes; there the file's ACL is the operator's job.
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keys/local: keyring %s has mode %04o, which lets group or others access the key-encryption key; fix with: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys/local: read keyring %s: %w", path, err)
	}
	defer clear(b)
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("keys/local: keyring %s is not a keyring file (too large)", path)
	}
	var kf keyringFile
	// Decode errors are not wrapped: they could quote the file's content.
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("keys/local: keyring %s is not a valid keyring file (JSON)", path)
	}
	if kf.Version != fileVersion {
		return nil, fmt.Errorf("keys/local: keyring %s has unsupported version %d (want %d)", path, kf.Version, fileVersion)
	}
	kek, err := decodeKEK(kf.KEK)
	if err != nil {
		return nil, fmt.Errorf("keys/local: keyring %s: %w", path, err)
	}
	defer clear(kek)
	return FromKey(kek)
}

// create writes a new keyring file at path without ever replacing an
// existing one: the content goes to a temporary file in the same directory,
// which is synced and then hard-linked to path (link fails if path exists,
// for example when another process created it first).
func create(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keys/local: create keyring directory: %w", err)
	}
	kek := make([]byte, kekSize)
	rand.Read(kek)
	b, err := json.Marshal(keyringFile{
		Version: fileVersion,
		KEK:     base64.StdEncoding.EncodeToString(kek),
		Created: time.Now().UTC().Truncate(time.Second),
	})
	clear(kek)
	if err != nil {
		return fmt.Errorf("keys/local: encode keyring: %w", err)
	}
	b = append(b, '\n')
	defer clear(b)

	tmp, err := os.CreateTemp(dir, ".keyring-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("keys/local: create keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("keys/local: write keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keys/local: sync keyring: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys/local: write keyring: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently: use that one
		}
		return fmt.Errorf("keys/local: create keyring %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		d.Sync()
		d.Close()
	}
	return nil
}
