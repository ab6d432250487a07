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
// fan-out, each holding a header line with the SHA-256 of the value and its
// provenance, then the value. Writes go through a temporary file and a
// rename, so concurrent writers and a kill -9 never leave a torn entry
// visible; the digest catches anything else (a disk error, a hand edit).
//
// Provenance is "here" for a value this machine computed (Put) and "shared"
// for one copied from the remote (PutShared, Layered's write-back). Reads
// under OnlyMadeHere accept only "here": values that decide security are
// re-derived rather than taken from anyone else's cache, even a verified
// one, while a repeat run on the same machine still hits.
type Local struct {
	Dir string
	// Warn receives one line when a corrupt entry is found and dropped.
	Warn func(string)
}

// NewLocal returns a store in dir (created on first write).
func NewLocal(dir string) *Local { return &Local{Dir: dir} }

const (
	// localMagic starts an entry: "vxc2 <sha256> here|shared\n".
	localMagic = "vxc2 "
	// oldMagic is the format before provenance was recorded: such entries
	// are read as "shared" (they may have been copied from the remote).
	oldMagic = "vxc1 "

	provHere   = "here"
	provShared = "shared"
)

func (l *Local) path(key string) string { return filepath.Join(l.Dir, key[:2], key) }

// Get implements Store.
func (l *Local) Get(ctx context.Context, key string) ([]byte, bool, error) {
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
	v, prov, err := decodeEntry(b)
	if err == nil && prov != provHere && onlyMadeHere(ctx) {
		return nil, false, nil
	}
	if err != nil {
		l.warn(fmt.Sprintf("cache: dropping corrupt entry %s (%v); it will be rebuilt", p, err))
		os.Remove(p)
		return nil, false, nil
	}
	return v, true, nil
}

// Put implements Store: value was computed on this machine.
func (l *Local) Put(_ context.Context, key string, value []byte) error {
	return l.put(key, value, provHere)
}

// PutShared records value as copied from a shared cache: ordinary reads
// hit it, reads under OnlyMadeHere do not.
func (l *Local) PutShared(_ context.Context, key string, value []byte) error {
	return l.put(key, value, provShared)
}

func (l *Local) put(key string, value []byte, prov string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	return fsutil.WriteFile(l.path(key), encodeEntry(value, prov), 0o644)
}

func (l *Local) warn(s string) {
	if l.Warn != nil {
		l.Warn(s)
		return
	}
	fmt.Fprintln(os.Stderr, "warning:", s)
}

// entrySum is the digest in an entry's header: of the provenance and the
// value ("" for the old format, which had only the value).
func entrySum(v []byte, prov string) string {
	h := sha256.New()
	if prov != "" {
		h.Write([]byte(prov + "\x00"))
	}
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil))
}

func encodeEntry(v []byte, prov string) []byte {
	b := make([]byte, 0, len(localMagic)+64+2+len(prov)+len(v))
	b = append(b, localMagic...)
	b = append(b, entrySum(v, prov)...)
	b = append(b, ' ')
	b = append(b, prov...)
	b = append(b, '\n')
	return append(b, v...)
}

// decodeEntry checks an entry's digest and returns its value and
// provenance. The digest covers the provenance too, so a flipped byte
// cannot turn a shared entry into one made here.
func decodeEntry(b []byte) (v []byte, prov string, err error) {
	const n = len(localMagic) + 64
	switch {
	case bytes.HasPrefix(b, []byte(oldMagic)) && len(b) >= n+1 && b[n] == '\n':
		v, prov = b[n+1:], provShared
		if entrySum(v, "") != string(b[len(oldMagic):n]) {
			return nil, "", errors.New("digest mismatch (truncated or altered)")
		}
		return v, prov, nil
	case !bytes.HasPrefix(b, []byte(localMagic)) || len(b) < n+1 || b[n] != ' ':
		return nil, "", errors.New("bad header")
	}
	nl := bytes.IndexByte(b[n:min(len(b), n+16)], '\n')
	if nl < 0 {
		return nil, "", errors.New("bad header")
	}
	prov, v = string(b[n+1:n+nl]), b[n+nl+1:]
	if prov != provHere && prov != provShared {
		return nil, "", fmt.Errorf("bad provenance %q", prov)
	}
	if entrySum(v, prov) != string(b[len(localMagic):n]) {
		return nil, "", errors.New("digest mismatch (truncated or altered)")
	}
	return v, prov, nil
}
