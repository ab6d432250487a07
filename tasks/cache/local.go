package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// Local is a Store in a directory: one file per key under a two-character
// fan-out, each holding a header line with the SHA-256 of the value, then the
// value. Writes go through a temporary file and a rename, so concurrent
// writers and a kill -9 never leave a torn entry visible; the digest catches
// anything else (a disk error, a hand edit).
type Local struct {
	Dir string
	// Warn receives one line when a corrupt entry is found and dropped.
	Warn func(string)
}

// NewLocal returns a store in dir (created on first write).
func NewLocal(dir string) *Local { return &Local{Dir: dir} }

const localMagic = "vxc1 "

func (l *Local) path(key string) string { return filepath.Join(l.Dir, key[:2], key) }

// Get implements Store.
func (l *Local) Get(_ context.Context, key string) ([]byte, bool, error) {
	if err := ValidKey(key); err != nil {
		return nil, false, err
	}
	p := l.path(key)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read cache entry %s: %w", p, err)
	}
	v, err := decodeEntry(b)
	if err != nil {
		l.warn(fmt.Sprintf("cache: dropping corrupt entry %s (%v); it will be rebuilt", p, err))
		os.Remove(p)
		return nil, false, nil
	}
	return v, true, nil
}

// Put implements Store.
func (l *Local) Put(_ context.Context, key string, value []byte) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	return fsutil.WriteFile(l.path(key), encodeEntry(value), 0o644)
}

func (l *Local) warn(s string) {
	if l.Warn != nil {
		l.Warn(s)
		return
	}
	fmt.Fprintln(os.Stderr, "warning:", s)
}

func encodeEntry(v []byte) []byte {
	sum := sha256.Sum256(v)
	b := make([]byte, 0, len(localMagic)+64+1+len(v))
	b = append(b, localMagic...)
	b = append(b, hex.EncodeToString(sum[:])...)
	b = append(b, '\n')
	return append(b, v...)
}

func decodeEntry(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(localMagic)) || len(b) < len(localMagic)+65 || b[len(localMagic)+64] != '\n' {
		return nil, errors.New("bad header")
	}
	want := string(b[len(localMagic) : len(localMagic)+64])
	v := b[len(localMagic)+65:]
	sum := sha256.Sum256(v)
	if hex.EncodeToString(sum[:]) != want {
		return nil, errors.New("digest mismatch (truncated or altered)")
	}
	return v, nil
}
