package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/protobuf/proto"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/nettest"
)

// fakeRemote emulates bazel-remote's HTTP protocol closely enough for fault
// injection: CAS uploads are checked against their hash, AC uploads must be
// ActionResults, and an AC entry is only served while every blob its output
// files reference exists. The real server is exercised by the e2e tests.
type fakeRemote struct {
	mu  sync.Mutex
	cas map[string][]byte
	ac  map[string][]byte
	// fault, when set, may answer a request itself (return true).
	fault    func(w http.ResponseWriter, r *http.Request, kind, hash string) bool
	requests int
	conns    int
}

var fakePath = regexp.MustCompile(`^(/.*)?/(ac|cas)/([a-f0-9]{64})$`)

func newFakeRemote(t *testing.T) (*fakeRemote, *httptest.Server) {
	f := &fakeRemote{cas: map[string][]byte{}, ac: map[string][]byte{}}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeRemote) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := fakePath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	kind, hash := m[2], m[3]
	f.mu.Lock()
	f.requests++
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r, kind, hash) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if kind == "cas" {
			sum := sha256.Sum256(body)
			if hex.EncodeToString(sum[:]) != hash {
				http.Error(w, "hash mismatch", http.StatusBadRequest)
				return
			}
			f.cas[hash] = body
		} else {
			var ar repb.ActionResult
			if err := proto.Unmarshal(body, &ar); err != nil {
				http.Error(w, "Failed to add worker metadata: "+err.Error(), http.StatusBadRequest)
				return
			}
			f.ac[hash] = body
		}
	case http.MethodGet, http.MethodHead:
		var b []byte
		var ok bool
		if kind == "cas" {
			b, ok = f.cas[hash]
			if hash == emptySHA256 {
				b, ok = nil, true
			}
		} else if b, ok = f.ac[hash]; ok {
			var ar repb.ActionResult
			proto.Unmarshal(b, &ar)
			for _, o := range ar.OutputFiles {
				if _, there := f.cas[o.GetDigest().GetHash()]; !there && o.GetDigest().GetSizeBytes() > 0 {
					ok = false
				}
			}
		}
		if !ok {
			http.Error(w, "Not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

func (f *fakeRemote) setFault(fn func(w http.ResponseWriter, r *http.Request, kind, hash string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

func (f *fakeRemote) counts() (requests, conns int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.conns
}

func newRemote(t *testing.T, url string) (*HTTPRemote, *[]string) {
	t.Helper()
	r, err := NewHTTPRemote(url)
	assert.NilError(t, err)
	var warned []string
	var mu sync.Mutex
	r.Warn = func(s string) { mu.Lock(); warned = append(warned, s); mu.Unlock() }
	t.Cleanup(r.Close)
	return r, &warned
}

func TestRemoteRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"small", []byte("step output\n")},
		{"binary", []byte{0, 1, 2, 0xff, '\n', 0}},
		{"1 MiB", big},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, srv := newFakeRemote(t)
			r, warned := newRemote(t, srv.URL)
			k := key(tc.name)

			_, ok, err := r.Get(ctx, k)
			assert.NilError(t, err)
			assert.Assert(t, !ok, "empty server misses")

			assert.NilError(t, r.Put(ctx, k, tc.value))
			v, ok, err := r.Get(ctx, k)
			assert.NilError(t, err)
			assert.Assert(t, ok)
			assert.Assert(t, bytes.Equal(v, tc.value), "got %d bytes, want %d", len(v), len(tc.value))
			assert.Assert(t, is.Len(*warned, 0))

			// The AC entry is the ActionResult the doc promises.
			var ar repb.ActionResult
			assert.NilError(t, proto.Unmarshal(f.ac[k], &ar))
			assert.Equal(t, len(ar.OutputFiles), 1)
			sum := sha256.Sum256(tc.value)
			assert.Equal(t, ar.OutputFiles[0].Path, "value")
			assert.Equal(t, ar.OutputFiles[0].Digest.Hash, hex.EncodeToString(sum[:]))
			assert.Equal(t, ar.OutputFiles[0].Digest.SizeBytes, int64(len(tc.value)))
			if len(tc.value) > 0 {
				assert.Assert(t, bytes.Equal(f.cas[hex.EncodeToString(sum[:])], tc.value))
			}
		})
	}
}

// Keys that are not lower-case hex SHA-256 never reach the server.
func TestRemoteRejectsBadKeys(t *testing.T) {
	f, srv := newFakeRemote(t)
	r, _ := newRemote(t, srv.URL)
	for _, k := range []string{"", "../../etc/passwd", key("a")[:63], "A" + key("a")[1:], key("a") + "/x"} {
		_, _, err := r.Get(context.Background(), k)
		assert.ErrorContains(t, err, "cache key", "key %q", k)
		assert.ErrorContains(t, r.Put(context.Background(), k, []byte("v")), "cache key")
	}
	n, _ := f.counts()
	assert.Equal(t, n, 0)
}

func TestNewHTTPRemoteURLs(t *testing.T) {
	tests := []struct {
		url, wantErr, wantString string
	}{
		{url: "http://127.0.0.1:8080", wantString: "http://127.0.0.1:8080"},
		{url: "http://127.0.0.1:8080/", wantString: "http://127.0.0.1:8080"},
		{url: "https://cache.lan/instance/", wantString: "https://cache.lan/instance"},
		{url: "http://user:secret@cache.lan:9090", wantString: "http://user:xxxxx@cache.lan:9090"},
		{url: "ftp://cache.lan", wantErr: "want http://host:port"},
		{url: "cache.lan:8080", wantErr: "want http://host:port"},
		{url: "http://", wantErr: "want http://host:port"},
		{url: "http://cache.lan/?x=1", wantErr: "query"},
		{url: "http://[::1", wantErr: "remote cache URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			r, err := NewHTTPRemote(tc.url)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, r.String(), tc.wantString)
		})
	}
}

// An instance prefix in the URL ends up in every request path, as
// bazel-remote's instance-name routing expects.
func TestRemoteInstancePrefix(t *testing.T) {
	f, srv := newFakeRemote(t)
	var paths []string
	f.setFault(func(w http.ResponseWriter, r *http.Request, kind, hash string) bool {
		paths = append(paths, r.Method+" "+r.URL.Path)
		return false
	})
	r, _ := newRemote(t, srv.URL+"/team/")
	k := key("prefixed")
	assert.NilError(t, r.Put(context.Background(), k, []byte("v")))
	sum := sha256.Sum256([]byte("v"))
	assert.DeepEqual(t, paths, []string{
		"PUT /team/cas/" + hex.EncodeToString(sum[:]),
		"PUT /team/ac/" + k,
	})
}

// Connections are kept alive and reused: many requests, one TCP connection.
func TestRemoteReusesConnections(t *testing.T) {
	f, srv := newFakeRemote(t)
	r, _ := newRemote(t, srv.URL)
	ctx := context.Background()
	k := key("reuse")
	assert.NilError(t, r.Put(ctx, k, []byte("v")))
	for i := 0; i < 20; i++ {
		_, ok, err := r.Get(ctx, k)
		assert.NilError(t, err)
		assert.Assert(t, ok)
		_, ok, err = r.Get(ctx, key("missing"))
		assert.NilError(t, err)
		assert.Assert(t, !ok)
	}
	n, conns := f.counts()
	assert.Equal(t, n, 2+20*3)
	assert.Equal(t, conns, 1)
}

// Each broken server answer is either an error (the remote is unusable:
// Layered turns it off) or a miss with one warning (this entry is corrupt:
// the step is rebuilt). A corrupt value is never returned.
func TestRemoteGetFaults(t *testing.T) {
	value := []byte("the recorded output of a step")
	foreignAC, _ := proto.Marshal(&repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "bazel-out/x", Digest: &repb.Digest{Hash: key("x"), SizeBytes: 1}}}})
	badDigestAC, _ := proto.Marshal(&repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "value", Digest: &repb.Digest{Hash: "nothex", SizeBytes: 1}}}})
	negSizeAC, _ := proto.Marshal(&repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "value", Digest: &repb.Digest{Hash: key("x"), SizeBytes: -1}}}})
	serve := func(kind string, body []byte) func(http.ResponseWriter, *http.Request, string, string) bool {
		return func(w http.ResponseWriter, r *http.Request, k, _ string) bool {
			if r.Method != http.MethodGet || k != kind {
				return false
			}
			w.Write(body)
			return true
		}
	}
	tests := []struct {
		name     string
		fault    func(http.ResponseWriter, *http.Request, string, string) bool
		wantErr  string // an error containing this
		wantWarn string // else a miss with one warning containing this ("" = plain miss)
	}{
		{
			name: "500 on the AC",
			fault: func(w http.ResponseWriter, r *http.Request, _, _ string) bool {
				http.Error(w, "disk full", http.StatusInternalServerError)
				return true
			},
			wantErr: "HTTP 500 Internal Server Error: disk full",
		},
		{
			name: "503 on the CAS",
			fault: func(w http.ResponseWriter, r *http.Request, kind, _ string) bool {
				if kind != "cas" {
					return false
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			},
			// The server just served the entry's /ac/: this blob is bad,
			// the server is not.
			wantWarn: "HTTP 503",
		},
		{name: "garbage AC", fault: serve("ac", []byte("<html><body>proxy error</body></html>")), wantErr: "not an ActionResult"},
		{name: "empty AC", fault: serve("ac", nil), wantErr: "empty ActionResult"},
		{name: "foreign ActionResult", fault: serve("ac", foreignAC), wantErr: `no output file "value"`},
		{name: "malformed digest", fault: serve("ac", badDigestAC), wantErr: "malformed digest"},
		{name: "negative size", fault: serve("ac", negSizeAC), wantErr: "impossible size"},
		{name: "oversized AC", fault: serve("ac", make([]byte, maxACSize+10)), wantErr: "larger than"},
		{name: "truncated CAS", fault: serve("cas", value[:len(value)-4]), wantWarn: "bytes, want"},
		{name: "CAS with a flipped byte", fault: serve("cas", append(append([]byte{}, value[:len(value)-1]...), 'X')), wantWarn: "has SHA-256"},
		{name: "CAS longer than its digest", fault: serve("cas", append(append([]byte{}, value...), "tail"...)), wantWarn: "bytes, want"},
		{
			name: "CAS gone",
			fault: func(w http.ResponseWriter, r *http.Request, kind, _ string) bool {
				if kind != "cas" {
					return false
				}
				http.Error(w, "Not found", http.StatusNotFound)
				return true
			},
			// The server served the entry but not its blob: damaged or
			// removed behind its back (bazel-remote's zstd store answers
			// 404 for a truncated file).
			wantWarn: "is missing although the entry was just served",
		},
		{
			name: "connection cut mid-body",
			fault: func(w http.ResponseWriter, r *http.Request, kind, _ string) bool {
				if kind != "cas" {
					return false
				}
				w.Header().Set("Content-Length", "1000")
				w.WriteHeader(http.StatusOK)
				w.Write(value[:5])
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return true
			},
			// bazel-remote's zstd store does this with a damaged file.
			wantWarn: "body cut short",
		},
		{
			name: "server too slow",
			fault: func(w http.ResponseWriter, r *http.Request, _, _ string) bool {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return true
			},
			wantErr: "deadline exceeded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, srv := newFakeRemote(t)
			r, warned := newRemote(t, srv.URL)
			r.Timeout = 200 * time.Millisecond
			k := key(tc.name)
			assert.NilError(t, r.Put(ctx, k, value))
			f.setFault(tc.fault)

			v, ok, err := r.Get(ctx, k)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.ErrorContains(t, err, "remote cache "+srv.URL)
				assert.Assert(t, !strings.Contains(err.Error(), "\n"), "one line: %q", err)
				assert.Assert(t, v == nil && !ok)
				return
			}
			assert.NilError(t, err)
			assert.Assert(t, !ok, "corrupt entry must miss, got %q", v)
			assert.Assert(t, v == nil)
			if tc.wantWarn == "" {
				assert.Assert(t, is.Len(*warned, 0))
				return
			}
			assert.Assert(t, is.Len(*warned, 1))
			assert.Assert(t, is.Contains((*warned)[0], tc.wantWarn))
			assert.Assert(t, is.Contains((*warned)[0], k), "warning names the entry")
		})
	}
}

func TestRemotePutFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(http.ResponseWriter, *http.Request, string, string) bool
		wantErr string
		wantAC  bool
	}{
		{
			name: "500 on PUT",
			fault: func(w http.ResponseWriter, r *http.Request, _, _ string) bool {
				http.Error(w, "boom", http.StatusInternalServerError)
				return true
			},
			wantErr: "PUT /cas/",
		},
		{
			name: "CAS upload refused",
			fault: func(w http.ResponseWriter, r *http.Request, kind, _ string) bool {
				if kind != "cas" {
					return false
				}
				http.Error(w, "Blob size 30 too large", http.StatusBadRequest)
				return true
			},
			wantErr: "HTTP 400 Bad Request: Blob size 30 too large",
		},
		{
			name: "AC upload refused",
			fault: func(w http.ResponseWriter, r *http.Request, kind, _ string) bool {
				if kind != "ac" {
					return false
				}
				http.Error(w, "Authentication required for write access", http.StatusUnauthorized)
				return true
			},
			wantErr: "PUT /ac/",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeRemote(t)
			f.setFault(tc.fault)
			r, _ := newRemote(t, srv.URL)
			err := r.Put(context.Background(), key(tc.name), []byte("the recorded output"))
			assert.ErrorContains(t, err, tc.wantErr)
			// The AC never points at a blob that did not make it.
			assert.Equal(t, len(f.ac), 0)
		})
	}
}

func TestRemoteUnreachable(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", nettest.FreePort(t)) // nothing listens there now
	r, _ := newRemote(t, "http://"+addr)
	_, _, err := r.Get(context.Background(), key("x"))
	assert.ErrorContains(t, err, "remote cache http://"+addr+": GET /ac/")
	assert.ErrorContains(t, err, "connection refused")
	assert.ErrorContains(t, r.Put(context.Background(), key("x"), []byte("v")), "connection refused")
}

// Through Layered, the way every target uses it: a remote that fails in any
// way never fails a Get or a Put, warns exactly once, and is not asked again;
// the local cache keeps working.
func TestLayeredDegradesOnBrokenRemote(t *testing.T) {
	tests := []struct {
		name  string
		fault func(http.ResponseWriter, *http.Request, string, string) bool
	}{
		{"500", func(w http.ResponseWriter, r *http.Request, _, _ string) bool {
			http.Error(w, "internal", http.StatusInternalServerError)
			return true
		}},
		{"garbage", func(w http.ResponseWriter, r *http.Request, _, _ string) bool {
			w.Write([]byte("\xff\xfe garbage \x00"))
			return true
		}},
		{"unreachable", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, srv := newFakeRemote(t)
			f.setFault(tc.fault)
			url := srv.URL
			if tc.fault == nil {
				srv.Close()
			}
			r, remoteWarned := newRemote(t, url)
			var warned []string
			l := &Layered{Local: NewLocal(t.TempDir()), Remote: r, Warn: func(s string) { warned = append(warned, s) }}

			for i := 0; i < 5; i++ {
				k := key(tc.name + string(rune('a'+i)))
				_, ok, err := l.Get(ctx, k)
				assert.NilError(t, err)
				assert.Assert(t, !ok)
				assert.NilError(t, l.Put(ctx, k, []byte("built")))
				v, ok, err := l.Get(ctx, k)
				assert.NilError(t, err)
				assert.Assert(t, ok, "local still serves")
				assert.Equal(t, string(v), "built")
			}
			assert.Assert(t, is.Len(warned, 1), "warnings: %q", warned)
			assert.Assert(t, is.Contains(warned[0], "remote cache "+url))
			assert.Assert(t, is.Contains(warned[0], "local cache only"))
			assert.Assert(t, is.Len(*remoteWarned, 0))
			if tc.fault != nil {
				n, _ := f.counts()
				assert.Equal(t, n, 1, "the remote is not asked again after it failed")
			}
		})
	}
}

// A corrupt remote entry is skipped with a warning (the remote stays on),
// the step is rebuilt, and its Put repairs the entry for the next checkout.
func TestLayeredRebuildsCorruptRemoteEntry(t *testing.T) {
	ctx := context.Background()
	f, srv := newFakeRemote(t)
	r, remoteWarned := newRemote(t, srv.URL)
	k := key("corrupt")
	assert.NilError(t, r.Put(ctx, k, []byte("good value")))
	// Damage the blob behind the server's back.
	for h := range f.cas {
		f.cas[h] = []byte("good valuX")
	}

	var warned []string
	checkout := func() *Layered {
		return &Layered{Local: NewLocal(t.TempDir()), Remote: r, Warn: func(s string) { warned = append(warned, s) }}
	}
	a := checkout()
	v, ok, err := a.Get(ctx, k)
	assert.NilError(t, err)
	assert.Assert(t, !ok, "corrupt remote value returned: %q", v)
	assert.Assert(t, is.Len(*remoteWarned, 1))
	assert.Assert(t, is.Len(warned, 0), "a corrupt entry does not turn the remote off")
	assert.NilError(t, a.Put(ctx, k, []byte("good value"))) // the rebuild

	v, ok, err = checkout().Get(ctx, k)
	assert.NilError(t, err)
	assert.Assert(t, ok, "repaired entry is shared")
	assert.Equal(t, string(v), "good value")
}

// Open wires VANIXIETS_REMOTE_CACHE to this backend: two checkouts with
// their own VANIXIETS_CACHE_DIR share a hit through the server.
func TestOpenWithRemote(t *testing.T) {
	ctx := context.Background()
	_, srv := newFakeRemote(t)
	t.Setenv("VANIXIETS_REMOTE_CACHE", srv.URL)
	t.Setenv("VANIXIETS_CACHE_DIR", t.TempDir())
	keyFile, pub := writeKey(t, "ci")
	t.Setenv(SigningKeyEnv, keyFile)
	t.Setenv(TrustedKeysEnv, pub.String())
	a := Open()
	_, layered := a.(*Layered)
	assert.Assert(t, layered, "Open with VANIXIETS_REMOTE_CACHE is layered, got %T", a)
	k := key("shared")
	assert.NilError(t, a.Put(ctx, k, []byte("from checkout a")))

	t.Setenv("VANIXIETS_CACHE_DIR", t.TempDir())
	b := Open()
	v, ok, err := b.Get(ctx, k)
	assert.NilError(t, err)
	assert.Assert(t, ok)
	assert.Equal(t, string(v), "from checkout a")

	t.Setenv("VANIXIETS_REMOTE_CACHE", "ftp://nope")
	_, local := Open().(*Local)
	assert.Assert(t, local, "an unusable URL falls back to local")
}

func TestEncodeDecodeAC(t *testing.T) {
	for _, d := range []digest{{emptySHA256, 0}, {key("x"), 1}, {key("y"), 1 << 30}} {
		got, inline, err := decodeAC(encodeAC(d))
		assert.NilError(t, err)
		assert.Equal(t, got, d)
		assert.Assert(t, inline == nil)
	}
	// A server that inlines the contents (allowed by REAPI) is understood.
	b, _ := proto.Marshal(&repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "value", Digest: &repb.Digest{Hash: key("x"), SizeBytes: 3}, Contents: []byte("abc")}}})
	_, inline, err := decodeAC(b)
	assert.NilError(t, err)
	assert.Equal(t, string(inline), "abc")
}

func FuzzDecodeAC(f *testing.F) {
	f.Add(encodeAC(digest{key("x"), 42}))
	f.Add(encodeAC(digest{emptySHA256, 0}))
	f.Add([]byte("<html>"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _, err := decodeAC(b)
		if err != nil {
			return
		}
		assert.NilError(t, ValidKey(d.hash))
		assert.Assert(t, d.size >= 0 && d.size <= maxValueSize)
		d2, _, err := decodeAC(encodeAC(d))
		assert.NilError(t, err)
		assert.Equal(t, d2, d)
	})
}
