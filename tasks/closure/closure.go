// Package closure copies a system closure to a machine over one SSH
// connection, sending only the store paths the machine lacks.
//
// How it works, and why:
//
//   - The closure is listed locally with `nix path-info -r --json` (path,
//     narHash, narSize, references, signatures).
//   - The machine is asked which of those paths it already has in ONE round
//     trip: a single `nix-store --serve --write` session (the protocol Nix's
//     own ssh:// store speaks) answers cmdQueryValidPaths for the whole list.
//   - Missing paths go over the same session with cmdAddToStoreNar, in
//     dependency order, as NARs produced in-process (no nix-store --dump per
//     path) and pipelined: the next path is sent while the remote is still
//     writing the previous one, acknowledgements are read concurrently. The
//     remote checks each NAR against its narHash and registers a path only
//     once it is complete, so a copy cut short (the deployer killed) leaves
//     no half path behind; the next copy sends what is still missing.
//
// Signing. The fleet has a signing key (EnsureKey; `nix-store
// --generate-binary-cache-key`). Before a copy the closure is signed
// locally (`nix store sign`) and the signatures travel with each path. The
// serve protocol imports as a trusted root client, i.e. without checking
// signatures (nix-store.cc: addToStore(..., NoCheckSigs)), exactly as
// `nix-copy-closure` and `nix-store --import` do; so after the import the
// copy asks the host itself to check them: `nix store verify --no-contents
// --sigs-needed 1` on the newly added paths, against the host's own
// trusted-public-keys. A path the host does not trust fails the copy, and
// with it the deployment, before anything is activated. Nothing disables a
// check anywhere. Trust can be set up by Trust (appends the public key to
// the host's /etc/nix/nix.conf; used for lab hosts at their first deploy);
// on real machines put the key in nix.settings.trusted-public-keys.
package closure

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// Options tune Copy.
type Options struct {
	// SecretKeyFile signs the closure before sending when set.
	SecretKeyFile string
	// Verify makes the host check the signatures of what it received
	// (nix store verify --no-contents --sigs-needed 1).
	Verify bool
	// DryRun only reports what would be sent.
	DryRun bool
	// Progress is called as bytes go out (sent so far, total to send).
	Progress func(sent, total int64)
	// Infos, when set, is the closure already listed by the caller (a
	// fleet deployment lists every machine's closure with one path-info):
	// Copy then starts no nix process of its own to list it.
	Infos []nix.PathInfo
}

// Report says what a copy did (or, for a dry run, would do).
type Report struct {
	Closure      int   // paths in the closure
	ClosureBytes int64 // their NAR bytes
	Missing      []string
	MissingBytes int64
	Sent         int   // paths sent
	Bytes        int64 // NAR bytes sent
	Duration     time.Duration
}

// serveCommand starts the serve protocol with a sane NIX_CONFIG-free
// environment: the host's own nix.conf decides.
const serveCommand = "nix-store --serve --write"

// Sign signs the closures of roots in the local store with the key file.
func Sign(ctx context.Context, n *nix.Nix, keyFile string, roots ...string) error {
	args := append([]string{"store", "sign", "--key-file", keyFile, "-r"}, roots...)
	return runNix(ctx, n, "store sign", args...)
}

func runNix(ctx context.Context, n *nix.Nix, op string, args ...string) error {
	cmd := exec.CommandContext(ctx, n.Bin, args...)
	cmd.Env = n.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nix %s: %v: %s", op, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// List returns the closure of roots in dependency order (references first).
func List(ctx context.Context, n *nix.Nix, roots ...string) ([]nix.PathInfo, error) {
	infos, err := n.Closure(ctx, roots...)
	if err != nil {
		return nil, err
	}
	return topoSort(infos)
}

// topoSort orders infos so every path comes after the paths it references.
func topoSort(infos []nix.PathInfo) ([]nix.PathInfo, error) {
	byPath := map[string]int{}
	for i, pi := range infos {
		byPath[pi.Path] = i
	}
	state := make([]byte, len(infos)) // 0 new, 1 visiting, 2 done
	out := make([]nix.PathInfo, 0, len(infos))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("closure: reference cycle through %s", infos[i].Path)
		case 2:
			return nil
		}
		state[i] = 1
		refs := append([]string(nil), infos[i].References...)
		sort.Strings(refs)
		for _, r := range refs {
			if r == infos[i].Path {
				continue
			}
			j, ok := byPath[r]
			if !ok {
				return fmt.Errorf("closure: %s references %s, which is not in the closure", infos[i].Path, r)
			}
			if err := visit(j); err != nil {
				return err
			}
		}
		state[i] = 2
		out = append(out, infos[i])
		return nil
	}
	for i := range infos {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// session is an open serve-protocol session on the host.
type session struct {
	s    *remote.Session
	conn *serveConn
}

func open(c *remote.Client) (*session, error) {
	s, err := c.Start(serveCommand)
	if err != nil {
		return nil, err
	}
	se := &session{s: s, conn: &serveConn{w: bufio.NewWriterSize(s.Stdin, 1<<20), r: bufio.NewReaderSize(s.Stdout, 64<<10)}}
	if _, err := se.conn.handshake(); err != nil {
		return nil, se.fail("handshake", err)
	}
	return se, nil
}

// fail turns a protocol error into one naming the remote's own message.
func (se *session) fail(what string, err error) error {
	se.s.Close()
	msg := se.s.Stderr()
	if msg == "" {
		time.Sleep(50 * time.Millisecond)
		msg = se.s.Stderr()
	}
	target := se.s.Target()
	if msg != "" {
		return fmt.Errorf("copy to %s: %s: %s", target, what, lastLines(msg, 3))
	}
	return fmt.Errorf("copy to %s: %s: %v", target, what, err)
}

func (se *session) close() error { return se.s.Wait() }

// Missing returns the paths the host lacks, asking it once.
func Missing(ctx context.Context, c *remote.Client, paths []string) ([]string, error) {
	se, err := open(c)
	if err != nil {
		return nil, err
	}
	defer se.s.Close()
	return se.missing(ctx, paths)
}

func (se *session) missing(ctx context.Context, paths []string) ([]string, error) {
	stop := context.AfterFunc(ctx, func() { se.s.Close() })
	defer stop()
	valid, err := se.conn.queryValid(paths)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, se.fail("query valid paths", err)
	}
	have := map[string]bool{}
	for _, p := range valid {
		have[p] = true
	}
	var out []string
	for _, p := range paths {
		if !have[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

// Copy sends the closure of roots to the host behind c: only what it lacks.
func Copy(ctx context.Context, n *nix.Nix, c *remote.Client, opt Options, roots ...string) (Report, error) {
	t0 := time.Now()
	var rep Report
	if opt.SecretKeyFile != "" && !opt.DryRun {
		if err := Sign(ctx, n, opt.SecretKeyFile, roots...); err != nil {
			return rep, err
		}
	}
	var infos []nix.PathInfo
	var err error
	if opt.Infos != nil {
		infos, err = topoSort(opt.Infos)
	} else {
		infos, err = List(ctx, n, roots...)
	}
	if err != nil {
		return rep, err
	}
	paths := make([]string, len(infos))
	for i, pi := range infos {
		paths[i] = pi.Path
		rep.ClosureBytes += pi.NarSize
	}
	rep.Closure = len(infos)
	se, err := open(c)
	if err != nil {
		return rep, err
	}
	defer se.s.Close()
	missing, err := se.missing(ctx, paths)
	if err != nil {
		return rep, err
	}
	rep.Missing = missing
	want := map[string]bool{}
	for _, p := range missing {
		want[p] = true
	}
	var send []nix.PathInfo
	for _, pi := range infos {
		if want[pi.Path] {
			send = append(send, pi)
			rep.MissingBytes += pi.NarSize
		}
	}
	if opt.DryRun || len(send) == 0 {
		rep.Duration = time.Since(t0)
		return rep, nil
	}
	sent, bytesSent, err := se.send(ctx, send, rep.MissingBytes, opt.Progress)
	rep.Sent, rep.Bytes = sent, bytesSent
	if err != nil {
		rep.Duration = time.Since(t0)
		return rep, err
	}
	if err := se.close(); err != nil {
		return rep, fmt.Errorf("copy to %s: remote nix-store: %v", c.Config().Name(), err)
	}
	if opt.Verify {
		if err := VerifyTrusted(ctx, c, missing); err != nil {
			return rep, err
		}
	}
	rep.Duration = time.Since(t0)
	return rep, nil
}

// send streams the NARs, pipelined, and counts acknowledgements.
func (se *session) send(ctx context.Context, infos []nix.PathInfo, total int64, progress func(int64, int64)) (int, int64, error) {
	stop := context.AfterFunc(ctx, func() { se.s.Close() })
	defer stop()
	var sentBytes atomic.Int64
	acks := make(chan error, 1)
	var acked atomic.Int64
	go func() {
		for range infos {
			v, err := se.conn.readU64()
			if err != nil {
				acks <- err
				return
			}
			if v != 1 {
				acks <- fmt.Errorf("remote answered %d instead of 1", v)
				return
			}
			acked.Add(1)
		}
		acks <- nil
	}()
	counter := &countingWriter{w: se.conn.w, n: &sentBytes, total: total, progress: progress}
	var werr error
	for _, pi := range infos {
		if werr = se.writeOne(pi, counter); werr != nil {
			break
		}
	}
	if werr == nil {
		werr = se.conn.w.Flush()
	}
	var rerr error
	if werr != nil {
		se.s.Close()
		rerr = <-acks
	} else {
		rerr = <-acks
	}
	if ctx.Err() != nil {
		return int(acked.Load()), sentBytes.Load(), fmt.Errorf("copy to %s: %w", se.s.Target(), ctx.Err())
	}
	if errors.Is(werr, errShortNAR) || (werr != nil && !isPipe(werr)) {
		return int(acked.Load()), sentBytes.Load(), fmt.Errorf("copy to %s: %v", se.s.Target(), werr)
	}
	if werr != nil || rerr != nil {
		e := rerr
		if e == nil {
			e = werr
		}
		return int(acked.Load()), sentBytes.Load(), se.fail(fmt.Sprintf("after %d of %d paths", acked.Load(), len(infos)), e)
	}
	return len(infos), sentBytes.Load(), nil
}

func isPipe(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "EOF")
}

func (se *session) writeOne(pi nix.PathInfo, w io.Writer) error {
	c := se.conn
	if pi.NarSize <= 0 || pi.NarHash == "" {
		return fmt.Errorf("%s: path-info has no narSize/narHash", pi.Path)
	}
	for _, step := range []func() error{
		func() error { return c.u64(cmdAddToStoreNar) },
		func() error { return c.str(pi.Path) },
		func() error { return c.str(pi.Deriver) },
		func() error { return c.str(pi.NarHash) },
		func() error { return c.strs(pi.References) },
		func() error { return c.u64(0) }, // registrationTime: now
		func() error { return c.u64(uint64(pi.NarSize)) },
		func() error { return c.u64(0) }, // ultimate: no, it was built elsewhere
		func() error { return c.strs(pi.Signatures) },
		func() error { return c.str("") }, // content address: input-addressed
	} {
		if err := step(); err != nil {
			return err
		}
	}
	n, err := DumpNAR(w, pi.Path)
	if err != nil {
		return err
	}
	if n != pi.NarSize {
		return fmt.Errorf("%s: %w (%d != %d): the local store path changed since it was registered", pi.Path, errShortNAR, n, pi.NarSize)
	}
	return nil
}

type countingWriter struct {
	w        io.Writer
	n        *atomic.Int64
	total    int64
	progress func(int64, int64)
	last     time.Time
	mu       sync.Mutex
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	k, err := cw.w.Write(p)
	v := cw.n.Add(int64(k))
	if cw.progress != nil {
		cw.mu.Lock()
		if time.Since(cw.last) > 100*time.Millisecond || v >= cw.total {
			cw.last = time.Now()
			cw.progress(v, cw.total)
		}
		cw.mu.Unlock()
	}
	return k, err
}

// VerifyTrusted asks the host whether it trusts paths: each needs a
// signature by a key in the host's trusted-public-keys.
func VerifyTrusted(ctx context.Context, c *remote.Client, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	var stderr bytes.Buffer
	cmd := "xargs nix --extra-experimental-features nix-command store verify --no-contents --sigs-needed 1"
	err := c.Run(ctx, cmd, strings.NewReader(strings.Join(paths, "\n")+"\n"), nil, &stderr)
	if err != nil {
		return fmt.Errorf("copy to %s: the host does not trust the paths it received (%s); put the fleet's public key (%s) into its nix.settings.trusted-public-keys, or deploy with trust-on-first-deploy to a lab host",
			c.Config().Name(), lastLines(stderr.String(), 2), "see deploy:key")
	}
	return nil
}

// EnsureKey returns the fleet signing key in dir (secret file, public key
// text), generating it with nix-store --generate-binary-cache-key when
// missing. The secret is 0600 in a 0700 directory.
func EnsureKey(ctx context.Context, dir, name string) (secretFile, public string, err error) {
	sec := filepath.Join(dir, "signing-key.sec")
	pub := filepath.Join(dir, "signing-key.pub")
	if b, err := os.ReadFile(pub); err == nil {
		if _, err := os.Stat(sec); err == nil {
			return sec, strings.TrimSpace(string(b)), nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("signing key directory %s: %v", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, ".keygen-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "nix-store", "--generate-binary-cache-key", name, filepath.Join(tmp, "sec"), filepath.Join(tmp, "pub"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("generate the fleet signing key: %v: %s (is nix-store on PATH? run scripts/install-nix.sh)", err, strings.TrimSpace(string(out)))
	}
	os.Chmod(filepath.Join(tmp, "sec"), 0o600)
	if err := os.Rename(filepath.Join(tmp, "sec"), sec); err != nil {
		return "", "", err
	}
	if err := os.Rename(filepath.Join(tmp, "pub"), pub); err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(pub)
	return sec, strings.TrimSpace(string(b)), err
}

// Trust makes the host trust public (a "name:base64" key) by appending it
// to /etc/nix/nix.conf as extra-trusted-public-keys, unless the file already
// names it. Hosts whose nix.conf is managed (a NixOS store symlink) refuse:
// configure nix.settings.trusted-public-keys there instead.
func Trust(ctx context.Context, c *remote.Client, public string) error {
	script := `k=$1; f=/etc/nix/nix.conf
if grep -qsF -- "$k" "$f"; then exit 0; fi
if [ -L "$f" ]; then echo "$f is managed by the system configuration" >&2; exit 3; fi
mkdir -p /etc/nix && printf '\nextra-trusted-public-keys = %s\n' "$k" >> "$f"`
	var stderr bytes.Buffer
	if err := c.Run(ctx, "sh -c "+remote.Quote(script)+" trust "+remote.Quote(public), nil, nil, &stderr); err != nil {
		return fmt.Errorf("trust the fleet key on %s: %s; add %q to its nix.settings.trusted-public-keys", c.Config().Name(), lastLines(stderr.String(), 1), public)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
