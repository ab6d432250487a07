package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/protobuf/proto"
)

// HTTPRemote is a Store on a bazel-remote server (or anything speaking its
// HTTP protocol: GET/PUT/HEAD /cas/<sha256> and /ac/<sha256>), so two
// checkouts on two machines share step results.
//
// The layout is the one Bazel itself uses, so the server's own validation
// applies to our entries:
//
//   - the value is a CAS blob, PUT /cas/<sha256 of value>;
//   - the key maps to an action-cache entry, PUT /ac/<key>, holding a
//     serialized REAPI ActionResult with exactly one OutputFile
//     {path: "value", digest: {hash, size_bytes}} pointing at that blob.
//
// An OutputFile (rather than stdout_digest) is used because it is what an
// action's recorded result is in REAPI terms and because bazel-remote checks
// that every blob an AC entry references exists before serving it: an entry
// whose blob was evicted comes back as a clean 404, a miss. The CAS blob is
// uploaded first for the same reason.
//
// Get re-verifies the blob's SHA-256 and size on this side too. A bad blob
// (a digest mismatch, a body cut short, a 5xx or 404 for the blob of an
// entry whose /ac/ was just served: what bazel-remote's default zstd store
// does with a damaged or truncated file) is reported through Warn naming the key and treated as a
// miss, so the step is rebuilt and its Put overwrites the bad entry; a
// corrupt value is never returned and the remote stays on for other keys.
//
// Everything else that goes wrong (unreachable server, a 5xx or timeout on
// /ac/, an AC body that is not an ActionResult of ours) is returned as an
// error, so Layered turns the remote off with one warning and carries on
// locally.
type HTTPRemote struct {
	base   *url.URL // scheme://[user:pass@]host[:port][/instance], no trailing slash
	client *http.Client

	// Timeout bounds one whole request (connect, upload, download) for a
	// small value; larger values get one more second per MiB/s of
	// MinRate. A stuck server costs a run seconds, not minutes.
	Timeout time.Duration
	// Warn receives one line when an entry is found corrupt and skipped.
	Warn func(string)
}

const (
	// valuePath is the OutputFile path our ActionResults carry.
	valuePath = "value"
	// maxACSize bounds an action-cache body; ours are ~100 bytes.
	maxACSize = 1 << 20
	// minRate is the slowest transfer (bytes/s) a large value may take
	// before its request times out.
	minRate = 8 << 20
	// maxValueSize bounds the size an AC entry may claim (1 TiB): larger
	// is garbage, not a step output.
	maxValueSize = 1 << 40
	// emptySHA256 is the digest of the empty blob, which REAPI servers
	// hold implicitly: it is never uploaded nor fetched.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func init() {
	NewRemoteFunc = func(u string) (Remote, error) { return NewHTTPRemote(u) }
}

// NewHTTPRemote returns a store on the bazel-remote server at rawURL, e.g.
// http://cache.lan:8080 or http://user:pass@host:8080/instance. It does not
// contact the server: an unreachable one shows up on first use.
func NewHTTPRemote(rawURL string) (*HTTPRemote, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote cache URL %q: %v (want http://host:port)", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote cache URL %q: want http://host:port or https://host:port", rawURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("remote cache URL %q: a query or fragment is not allowed", rawURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   1 * time.Second, // a dead host fails fast
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   2 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64, // parallel steps reuse connections
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		// bazel-remote does not gzip; asking for it only costs a header.
		DisableCompression: true,
	}
	return &HTTPRemote{
		base:    u,
		client:  &http.Client{Transport: tr},
		Timeout: 5 * time.Second,
	}, nil
}

// String names the server for messages, without any password.
func (r *HTTPRemote) String() string { return r.base.Redacted() }

// Close drops idle connections.
func (r *HTTPRemote) Close() { r.client.CloseIdleConnections() }

func (r *HTTPRemote) timeout(n int) time.Duration {
	return r.Timeout + time.Duration(n/minRate)*time.Second
}

func (r *HTTPRemote) url(kind, hash string) string {
	u := *r.base
	u.Path = u.Path + "/" + kind + "/" + hash
	return u.String()
}

// Get implements Store.
func (r *HTTPRemote) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ValidKey(key); err != nil {
		return nil, false, err
	}
	ac, found, err := r.fetch(ctx, "ac", key, maxACSize)
	if err != nil || !found {
		return nil, false, err
	}
	d, inline, err := decodeAC(ac)
	if err != nil {
		return nil, false, fmt.Errorf("remote cache %s: /ac/%s: %v", r, key, err)
	}
	var v []byte
	switch {
	case d.hash == emptySHA256 && d.size == 0:
		return []byte{}, true, nil
	case inline != nil:
		v = inline
	default:
		var ok bool
		v, ok, err = r.fetch(ctx, "cas", d.hash, d.size)
		var be *badBlobError
		if errors.As(err, &be) {
			r.warn(fmt.Sprintf("remote cache %s: skipping bad entry %s (%v); it will be rebuilt", r, key, be.err))
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if !ok {
			// bazel-remote serves an /ac/ entry only while its blob is
			// indexed, so a 404 here means the server lost the file or
			// found it damaged (its zstd store answers 404 for a
			// truncated one); eviction in between is the rare benign case.
			r.warn(fmt.Sprintf("remote cache %s: skipping bad entry %s (its blob %s is missing although the entry was just served: damaged or removed on the server); it will be rebuilt", r, key, d.hash))
			return nil, false, nil
		}
	}
	if err := d.verify(v); err != nil {
		r.warn(fmt.Sprintf("remote cache %s: skipping corrupt entry %s (%v); it will be rebuilt", r, key, err))
		return nil, false, nil
	}
	return v, true, nil
}

// Put implements Store: the blob first, then the action-cache entry that
// references it, so the server never holds an entry pointing nowhere.
func (r *HTTPRemote) Put(ctx context.Context, key string, value []byte) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	sum := sha256.Sum256(value)
	d := digest{hash: hex.EncodeToString(sum[:]), size: int64(len(value))}
	if len(value) > 0 {
		if err := r.put(ctx, "cas", d.hash, value); err != nil {
			return err
		}
	}
	return r.put(ctx, "ac", key, encodeAC(d))
}

// fetch GETs /<kind>/<hash>, reading at most limit bytes (more is an
// error). A 404 is a miss.
func (r *HTTPRemote) fetch(ctx context.Context, kind, hash string, limit int64) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout(int(limit)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(kind, hash), nil)
	if err != nil {
		return nil, false, fmt.Errorf("remote cache %s: %v", r, err)
	}
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("remote cache %s: GET /%s/%s: %v", r, kind, hash, unwrapURLError(err))
	}
	defer drain(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, nil
	case resp.StatusCode/100 == 5 && kind == "cas":
		// The server answered the entry's /ac/ a moment ago: a failure
		// on its blob is about that blob (bazel-remote's zstd store
		// answers 500 "CRC check failed" for a damaged file).
		return nil, false, &badBlobError{fmt.Errorf("GET /cas/%s: %s", hash, status(resp))}
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("remote cache %s: GET /%s/%s: %s", r, kind, hash, status(resp))
	}
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n))
	}
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, limit+1))
	if err != nil && kind == "cas" && ctx.Err() == nil {
		// Headers sent, body cut short: bazel-remote's zstd store does
		// this when it finds a damaged file while streaming it.
		return nil, false, &badBlobError{fmt.Errorf("GET /cas/%s: body cut short after %d bytes: %v", hash, n, unwrapURLError(err))}
	}
	if err != nil {
		return nil, false, fmt.Errorf("remote cache %s: GET /%s/%s: reading body: %v", r, kind, hash, unwrapURLError(err))
	}
	if n > limit {
		if kind == "cas" {
			// Longer than its digest says: corrupt, caught by verify.
			return buf.Bytes(), true, nil
		}
		return nil, false, fmt.Errorf("remote cache %s: GET /%s/%s: body larger than %d bytes", r, kind, hash, limit)
	}
	return buf.Bytes(), true, nil
}

func (r *HTTPRemote) put(ctx context.Context, kind, hash string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout(len(body)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.url(kind, hash), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("remote cache %s: %v", r, err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("remote cache %s: PUT /%s/%s: %v", r, kind, hash, unwrapURLError(err))
	}
	defer drain(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("remote cache %s: PUT /%s/%s: %s", r, kind, hash, status(resp))
	}
	return nil
}

func (r *HTTPRemote) warn(s string) {
	if r.Warn != nil {
		r.Warn(s)
		return
	}
	fmt.Fprintln(os.Stderr, "warning:", s)
}

// status renders a failed response as "HTTP 500 Internal Server Error: <the
// first line of the body>", the most a one-line message can usefully say.
func status(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s := "HTTP " + resp.Status
	if line = strings.TrimSpace(line); line != "" && strings.ToValidUTF8(line, "") == line {
		s += ": " + line
	}
	return s
}

// drain reads what is left of a body (bounded) before closing it, so the
// connection goes back to the pool instead of being torn down.
func drain(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, 64<<10))
	b.Close()
}

// unwrapURLError drops net/http's `Get "http://...":` prefix: the message
// already names the server and path.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// badBlobError is a failure of one entry's blob on a server that is
// otherwise answering: the entry is a miss (with a warning), the remote
// stays on for every other key, and the rebuild's Put replaces the blob.
// Only a server that cannot be reached or does not speak the protocol is
// an error that turns the remote off.
type badBlobError struct{ err error }

func (e *badBlobError) Error() string { return e.err.Error() }

// digest is a REAPI Digest: the SHA-256 and size of a blob.
type digest struct {
	hash string
	size int64
}

func (d digest) verify(v []byte) error {
	if int64(len(v)) != d.size {
		return fmt.Errorf("blob %s is %d bytes, want %d", d.hash, len(v), d.size)
	}
	sum := sha256.Sum256(v)
	if got := hex.EncodeToString(sum[:]); got != d.hash {
		return fmt.Errorf("blob %s has SHA-256 %s", d.hash, got)
	}
	return nil
}

// encodeAC serializes the ActionResult recording value digest d.
func encodeAC(d digest) []byte {
	ar := &repb.ActionResult{
		OutputFiles: []*repb.OutputFile{{
			Path:   valuePath,
			Digest: &repb.Digest{Hash: d.hash, SizeBytes: d.size},
		}},
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ar)
	if err != nil {
		panic("cache: marshal ActionResult: " + err.Error()) // cannot happen for this message
	}
	return b
}

// decodeAC parses an action-cache body into the digest of our value, and
// the value itself when the server inlined it. Anything that is not an
// ActionResult with a well-formed OutputFile "value" is an error: the
// server is not holding what this package wrote.
func decodeAC(b []byte) (d digest, inline []byte, err error) {
	if len(b) == 0 {
		return d, nil, errors.New("empty ActionResult")
	}
	var ar repb.ActionResult
	if err := proto.Unmarshal(b, &ar); err != nil {
		return d, nil, fmt.Errorf("not an ActionResult: %v", err)
	}
	var f *repb.OutputFile
	for _, o := range ar.GetOutputFiles() {
		if o.GetPath() == valuePath {
			f = o
			break
		}
	}
	if f == nil {
		return d, nil, fmt.Errorf("ActionResult has no output file %q", valuePath)
	}
	d = digest{hash: f.GetDigest().GetHash(), size: f.GetDigest().GetSizeBytes()}
	if ValidKey(d.hash) != nil {
		return digest{}, nil, fmt.Errorf("output file %q has a malformed digest hash %q", valuePath, d.hash)
	}
	if d.size < 0 || d.size > maxValueSize {
		return digest{}, nil, fmt.Errorf("output file %q has an impossible size %d", valuePath, d.size)
	}
	if c := f.GetContents(); len(c) > 0 {
		inline = c
	}
	return d, inline, nil
}
