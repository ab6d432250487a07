package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gotest.tools/v3/assert"
)

func key(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestLocalRoundTrip(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir())
	_, ok, err := l.Get(ctx, key("a"))
	assert.NilError(t, err)
	assert.Assert(t, !ok, "empty store misses")
	assert.NilError(t, l.Put(ctx, key("a"), []byte("value")))
	v, ok, err := l.Get(ctx, key("a"))
	assert.NilError(t, err)
	assert.Assert(t, ok)
	assert.Equal(t, string(v), "value")
}

func TestLocalRejectsBadKeys(t *testing.T) {
	l := NewLocal(t.TempDir())
	for _, k := range []string{"", "../../etc/passwd", key("a")[:63], "Z" + key("a")[1:], "A" + key("a")[1:]} {
		_, _, err := l.Get(context.Background(), k)
		assert.ErrorContains(t, err, "cache key", "key %q", k)
		assert.ErrorContains(t, l.Put(context.Background(), k, nil), "cache key")
	}
}

// A corrupt entry is detected by digest, dropped with a warning and reported
// as a miss, never returned.
func TestLocalCorruptEntries(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }},
		{"flipped byte", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"no header", func(b []byte) []byte { return []byte("value") }},
		{"empty", func(b []byte) []byte { return nil }},
		{"wrong digest", func(b []byte) []byte { o := encodeEntry([]byte("other"), provHere); return o[:len(o)-1] }},
		// Turning a copied entry into one "made here" by editing its header
		// fails the digest, which covers the provenance.
		{"provenance edited", func(b []byte) []byte {
			return []byte(strings.Replace(string(encodeEntry([]byte("the value"), provShared)), " shared\n", " here\n", 1))
		}},
		{"unknown provenance", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), " here\n", " mine\n", 1))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var warned []string
			l := &Local{Dir: t.TempDir(), Warn: func(s string) { warned = append(warned, s) }}
			k := key(tc.name)
			assert.NilError(t, l.Put(ctx, k, []byte("the value")))
			b, err := os.ReadFile(l.path(k))
			assert.NilError(t, err)
			assert.NilError(t, os.WriteFile(l.path(k), tc.corrupt(b), 0o644))
			v, ok, err := l.Get(ctx, k)
			assert.NilError(t, err)
			assert.Assert(t, !ok, "corrupt entry must miss, got %q", v)
			assert.Equal(t, len(warned), 1)
			assert.ErrorContains(t, fmt.Errorf("%s", warned[0]), k)
			_, err = os.Stat(l.path(k))
			assert.Assert(t, os.IsNotExist(err), "corrupt entry removed")
		})
	}
}

func TestLocalConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir())
	k := key("shared")
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				assert.Check(t, l.Put(ctx, k, []byte(fmt.Sprintf("writer %02d round %02d", i, j))))
				v, ok, err := l.Get(ctx, k)
				assert.Check(t, err)
				assert.Check(t, ok)
				assert.Check(t, len(v) == len("writer 00 round 00"), "torn read %q", v)
			}
		}(i)
	}
	wg.Wait()
}

// Provenance: a value computed here is served to every read; one copied
// from the shared cache (PutShared), or written by the older format that
// did not say, is served to ordinary reads but not under OnlyMadeHere.
func TestLocalProvenance(t *testing.T) {
	old := func(v []byte) []byte {
		sum := sha256.Sum256(v)
		return append([]byte(oldMagic+hex.EncodeToString(sum[:])+"\n"), v...)
	}
	tests := []struct {
		name     string
		write    func(l *Local, k string, v []byte) error
		madeHere bool
	}{
		{"Put", func(l *Local, k string, v []byte) error { return l.Put(context.Background(), k, v) }, true},
		{"PutShared", func(l *Local, k string, v []byte) error { return l.PutShared(context.Background(), k, v) }, false},
		{"older format", func(l *Local, k string, v []byte) error {
			assert.NilError(t, os.MkdirAll(filepath.Dir(l.path(k)), 0o755))
			return os.WriteFile(l.path(k), old(v), 0o644)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l := &Local{Dir: t.TempDir(), Warn: func(s string) { t.Errorf("unexpected warning: %s", s) }}
			k := key(tc.name)
			assert.NilError(t, tc.write(l, k, []byte("v")))
			v, ok, err := l.Get(ctx, k)
			assert.NilError(t, err)
			assert.Assert(t, ok)
			assert.Equal(t, string(v), "v")
			_, ok, err = l.Get(OnlyMadeHere(ctx), k)
			assert.NilError(t, err)
			assert.Equal(t, ok, tc.madeHere)
			// Re-deriving and recording it makes it this machine's own.
			assert.NilError(t, l.Put(ctx, k, []byte("v")))
			_, ok, _ = l.Get(OnlyMadeHere(ctx), k)
			assert.Assert(t, ok)
		})
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry([]byte("x"), provHere))
	f.Add(encodeEntry([]byte("x"), provShared))
	f.Add([]byte("vxc1 "))
	f.Add([]byte("vxc2 "))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, prov, err := decodeEntry(b)
		if err != nil {
			return
		}
		assert.Assert(t, prov == provHere || prov == provShared, "provenance %q", prov)
		if bytes.HasPrefix(b, []byte(localMagic)) {
			assert.DeepEqual(t, encodeEntry(v, prov), b)
		} else {
			assert.Equal(t, prov, provShared, "the older format is never made here")
		}
	})
}
