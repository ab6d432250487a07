//go:build e2e

package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/cache/cachetest"
	"golang.org/x/crypto/bcrypt"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// startBazelRemote starts a real bazel-remote for this package's tests
// (tasks/cache/cachetest, the one starter every package's tests use).
func startBazelRemote(tb testing.TB, extra ...string) *cachetest.Server {
	tb.Helper()
	root, err := filepath.Abs("../..")
	assert.NilError(tb, err)
	return cachetest.Start(tb, root, extra...)
}

// checkout is one working copy on one machine: its own local cache and its
// own client of the shared server.
type checkout struct {
	*Layered
	dir          string
	mu           sync.Mutex
	warned       []string // Layered's (remote turned off)
	remoteWarned []string // the remote's (corrupt entry skipped)
}

func newCheckout(t *testing.T, url string) *checkout {
	t.Helper()
	r, err := NewHTTPRemote(url)
	assert.NilError(t, err)
	t.Cleanup(r.Close)
	c := &checkout{dir: t.TempDir()}
	r.Warn = func(s string) { c.mu.Lock(); c.remoteWarned = append(c.remoteWarned, s); c.mu.Unlock() }
	c.Layered = &Layered{Local: NewLocal(c.dir), Remote: r, Warn: func(s string) {
		c.mu.Lock()
		c.warned = append(c.warned, s)
		c.mu.Unlock()
	}}
	return c
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	assert.NilError(t, err)
	return b
}

// Two checkouts with separate local caches share hits through a real
// bazel-remote, in both of its storage modes.
func TestBazelRemoteSharesHits(t *testing.T) {
	for _, mode := range []string{"zstd", "uncompressed"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			srv := startBazelRemote(t, "--storage_mode", mode)
			a, b := newCheckout(t, srv.URL), newCheckout(t, srv.URL)
			values := map[string][]byte{
				"empty":  {},
				"small":  []byte("result of step build:cinnabar\n"),
				"4 KiB":  randomBytes(t, 4<<10),
				"3 MiB":  randomBytes(t, 3<<20),
				"binary": {0, 0, 0, 0xff},
			}
			for name, v := range values {
				_, ok, err := a.Get(ctx, key(mode+name))
				assert.NilError(t, err)
				assert.Assert(t, !ok, "%s: fresh server misses", name)
				assert.NilError(t, a.Put(ctx, key(mode+name), v))
			}
			for name, v := range values {
				got, ok, err := b.Get(ctx, key(mode+name))
				assert.NilError(t, err)
				assert.Assert(t, ok, "%s: checkout b misses what a built", name)
				assert.Assert(t, bytes.Equal(got, v), "%s: got %d bytes, want %d", name, len(got), len(v))
				// Read-through: b now has it locally, no server needed.
				got, ok, err = NewLocal(b.dir).Get(ctx, key(mode+name))
				assert.NilError(t, err)
				assert.Assert(t, ok && bytes.Equal(got, v), "%s: not written back to b's local cache", name)
			}
			_, ok, err := b.Get(ctx, key(mode+"never built"))
			assert.NilError(t, err)
			assert.Assert(t, !ok)
			for _, c := range []*checkout{a, b} {
				assert.Assert(t, is.Len(c.warned, 0))
				assert.Assert(t, is.Len(c.remoteWarned, 0))
			}

			// The server holds a valid REAPI ActionResult (it re-encodes it
			// as JSON only if it parses) whose blob it validated.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ac/"+key(mode+"small"), nil)
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			assert.NilError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, resp.StatusCode, http.StatusOK)
			sum := sha256.Sum256(values["small"])
			assert.Assert(t, is.Contains(string(body), `"path":"value"`))
			assert.Assert(t, is.Contains(string(body), hex.EncodeToString(sum[:])))
		})
	}
}

// The wiring every target uses: VANIXIETS_REMOTE_CACHE and two
// VANIXIETS_CACHE_DIRs.
func TestBazelRemoteThroughOpen(t *testing.T) {
	ctx := context.Background()
	srv := startBazelRemote(t)
	t.Setenv("VANIXIETS_REMOTE_CACHE", srv.URL)
	t.Setenv("VANIXIETS_CACHE_DIR", t.TempDir())
	keyFile, pub := writeKey(t, "ci")
	t.Setenv(SigningKeyEnv, keyFile)
	t.Setenv(TrustedKeysEnv, pub.String())
	k := key("through open")
	assert.NilError(t, Open().Put(ctx, k, []byte("shared")))
	t.Setenv("VANIXIETS_CACHE_DIR", t.TempDir())
	v, ok, err := Open().Get(ctx, k)
	assert.NilError(t, err)
	assert.Assert(t, ok)
	assert.Equal(t, string(v), "shared")
}

// Entries damaged on the server's disk, in both of bazel-remote's storage
// modes (zstd is its default), are a miss for that key alone, with one
// warning naming it: the remote stays on and the other keys still hit. The
// rebuild's Put repairs the entry, so the next fresh checkout hits it.
//
// In zstd mode bazel-remote itself notices a damaged file while streaming it
// ("CRC check failed") and cuts the body short or answers 500; uncompressed,
// it serves the damaged bytes and our SHA-256 check catches them.
func TestBazelRemoteCorruptEntriesRebuilt(t *testing.T) {
	value := bytes.Repeat([]byte("the real output of a step, long enough to damage. "), 200)
	sum := sha256.Sum256(value)
	blob := hex.EncodeToString(sum[:])
	casFile := func(t *testing.T, dir string) string {
		return onlyFile(t, filepath.Join(dir, "cas.v2", blob[:2], blob+"-*"))
	}
	rewrite := func(t *testing.T, p string, f func([]byte) []byte) {
		b, err := os.ReadFile(p)
		assert.NilError(t, err)
		assert.NilError(t, os.WriteFile(p, f(b), 0o644))
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir, k string)
		warns  bool // the reader is told (false: a silent miss, e.g. eviction)
	}{
		{
			name: "CAS blob with a flipped byte",
			damage: func(t *testing.T, dir, _ string) {
				rewrite(t, casFile(t, dir), func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b })
			},
			warns: true,
		},
		{
			name: "CAS blob truncated",
			damage: func(t *testing.T, dir, _ string) {
				rewrite(t, casFile(t, dir), func(b []byte) []byte { return b[:len(b)*2/3] })
			},
			warns: true,
		},
		{
			// The server's own AC validation turns this into a 404.
			name: "AC entry overwritten with garbage",
			damage: func(t *testing.T, dir, k string) {
				p := onlyFile(t, filepath.Join(dir, "ac.v2", k[:2], k+"-*"))
				assert.NilError(t, os.WriteFile(p, []byte("\x0a\xffgarbage"), 0o644))
			},
		},
		{
			// Removed behind the server's back: it still serves the AC
			// entry (its index says the blob exists), then 404 for the blob.
			name: "CAS blob deleted",
			damage: func(t *testing.T, dir, _ string) {
				assert.NilError(t, os.Remove(casFile(t, dir)))
			},
			warns: true,
		},
	}
	for _, mode := range []string{"zstd", "uncompressed"} {
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				srv := startBazelRemote(t, "--storage_mode", mode)
				k := key(tc.name)
				others := map[string][]byte{key("other 1"): []byte("another step's result"), key("other 2"): randomBytes(t, 64<<10)}
				a := newCheckout(t, srv.URL)
				assert.NilError(t, a.Put(ctx, k, value))
				for ok, ov := range others {
					assert.NilError(t, a.Put(ctx, ok, ov))
				}
				tc.damage(t, srv.Dir, k)

				b := newCheckout(t, srv.URL)
				v, ok, err := b.Get(ctx, k)
				assert.NilError(t, err)
				assert.Assert(t, !ok, "damaged entry returned: %d bytes", len(v))
				if tc.warns {
					assert.Assert(t, is.Len(b.remoteWarned, 1), "warnings: %q", b.remoteWarned)
					assert.Assert(t, is.Contains(b.remoteWarned[0], k), "the warning names the key")
					assert.Assert(t, is.Contains(b.remoteWarned[0], "it will be rebuilt"))
				} else {
					assert.Assert(t, is.Len(b.remoteWarned, 0))
				}
				// The remote stays on: the other keys still hit.
				for ok, ov := range others {
					got, hit, err := b.Get(ctx, ok)
					assert.NilError(t, err)
					assert.Assert(t, hit, "a damaged entry turned the remote off for the others")
					assert.Assert(t, bytes.Equal(got, ov))
				}
				assert.Assert(t, is.Len(b.warned, 0), "a damaged entry does not turn the remote off: %q", b.warned)

				assert.NilError(t, b.Put(ctx, k, value)) // the rebuild uploads
				c := newCheckout(t, srv.URL)             // a fresh local store
				v, ok, err = c.Get(ctx, k)
				assert.NilError(t, err)
				assert.Assert(t, ok, "rebuilt entry not shared")
				assert.Assert(t, bytes.Equal(v, value))
				assert.Assert(t, is.Len(c.remoteWarned, 0))
				assert.Assert(t, is.Len(c.warned, 0))
			})
		}
	}
}

// A server that goes away mid-run: one warning, every Get and Put still
// succeeds on the local cache.
func TestBazelRemoteGoesAway(t *testing.T) {
	ctx := context.Background()
	srv := startBazelRemote(t)
	a := newCheckout(t, srv.URL)
	assert.NilError(t, a.Put(ctx, key("before"), []byte("v")))
	assert.NilError(t, srv.Kill())

	b := newCheckout(t, srv.URL)
	for i := 0; i < 3; i++ {
		k := key(fmt.Sprint("after", i))
		_, ok, err := b.Get(ctx, k)
		assert.NilError(t, err)
		assert.Assert(t, !ok)
		assert.NilError(t, b.Put(ctx, k, []byte("local")))
	}
	assert.Assert(t, is.Len(b.warned, 1), "warnings: %q", b.warned)
	assert.Assert(t, is.Contains(b.warned[0], srv.URL))
}

func onlyFile(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	assert.NilError(t, err)
	assert.Equal(t, len(m), 1, "files matching %s: %q", pattern, m)
	return m[0]
}

// StartBazelRemote is startBazelRemote for the external test package
// (forgery_e2e_test.go), which drives the steps that use the cache and so
// cannot live in package cache.
func StartBazelRemote(tb testing.TB, extra ...string) (url, dir string) {
	s := startBazelRemote(tb, extra...)
	return s.URL, s.Dir
}

// The second wall of docs/cache.md: bazel-remote with --htpasswd_file
// refuses writes (and, unless --allow_unauthenticated_reads, reads) from a
// client without the password; the user in VANIXIETS_REMOTE_CACHE's URL
// gets in, and the password never appears in the remote's name.
func TestBazelRemoteHtpasswd(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	assert.NilError(t, err)
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	assert.NilError(t, os.WriteFile(htpasswd, []byte("ci:"+string(hash)+"\n"), 0o600))
	tests := []struct {
		name             string
		flags            []string
		user             string // "user:password@" or ""
		wantPut, wantGet bool
	}{
		{name: "right password", user: "ci:s3cret@", wantPut: true, wantGet: true},
		{name: "no password", user: ""},
		{name: "wrong password", user: "ci:guess@"},
		{name: "reads open, no password", flags: []string{"--allow_unauthenticated_reads"}, user: "", wantGet: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := startBazelRemote(t, append([]string{"--htpasswd_file", htpasswd}, tc.flags...)...)
			authed, err := NewHTTPRemote(strings.Replace(srv.URL, "http://", "http://ci:s3cret@", 1))
			assert.NilError(t, err)
			k := key("entry")
			assert.NilError(t, authed.Put(ctx, k, []byte("v")))

			r, err := NewHTTPRemote(strings.Replace(srv.URL, "http://", "http://"+tc.user, 1))
			assert.NilError(t, err)
			assert.Assert(t, !strings.Contains(r.String(), "s3cret") && !strings.Contains(r.String(), "guess"), "the password is printed: %s", r)
			err = r.Put(ctx, key("other"), []byte("w"))
			if tc.wantPut {
				assert.NilError(t, err)
			} else {
				assert.ErrorContains(t, err, "401")
			}
			v, ok, err := r.Get(ctx, k)
			if tc.wantGet {
				assert.NilError(t, err)
				assert.Assert(t, ok)
				assert.Equal(t, string(v), "v")
			} else {
				assert.ErrorContains(t, err, "401")
			}
		})
	}
}
