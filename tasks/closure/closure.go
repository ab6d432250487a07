// Package closure copies a system closure to a machine over one SSH
// connection, sending only the store paths the machine lacks.
//
// How it works, and why:
//
//   - The closure is listed locally with `nix path-info -r --json` (path,
//     narHash, narSize, references, signatures), or handed in by a caller
//     that listed many closures at once (Options.Infos).
//   - ONE process on the host, `nix-daemon --stdio` (the protocol behind
//     `nix copy --to ssh-ng://`), answers which of those paths it already
//     has (one round trip for the whole list), then receives the missing
//     ones with AddToStoreNar, in dependency order, as NARs produced in
//     process and pipelined: the next path is sent while the host still
//     writes the previous one; answers are read concurrently. The host
//     checks each NAR against its narHash and registers a path only once
//     it is complete, so a copy cut short (the deployer killed) leaves no
//     half path behind; the next copy sends what is still missing.
//
// Signing. The fleet has a signing key (EnsureKey; `nix-store
// --generate-binary-cache-key`). Copy signs each path it sends in process
// (Signer: Ed25519 over the path's fingerprint, byte for byte what `nix
// store sign` would write) and, with Options.CheckSigs, asks the host's
// daemon to check the signatures against its own trusted-public-keys
// before it registers anything: a path the host does not trust fails the
// copy, and with it the deployment, before anything is activated. Nothing
// disables a check anywhere. Trust can be set up by Trust (appends the
// public key to the host's /etc/nix/nix.conf; lab hosts trust the lab key
// from their creation); on real machines put the key in
// nix.settings.trusted-public-keys.
package closure

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vanixiets/vanixiets/tasks/dag"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/remote"

	"github.com/vanixiets/vanixiets/tasks/tail"
)

// Options tune Copy.
type Options struct {
	// Signer, when set, signs every path sent (its signature travels with
	// the path's other signatures).
	Signer *Signer
	// CheckSigs asks the host to import only paths signed by a key in its
	// trusted-public-keys (the daemon's own signature check).
	CheckSigs bool
	// DryRun only reports what would be sent.
	DryRun bool
	// Progress is called as bytes go out (sent so far, total to send).
	Progress func(sent, total int64)
	// Infos, when set, is the closure already listed by the caller (a
	// fleet deployment lists every machine's closure with one path-info):
	// Copy then starts no nix process of its own to list it.
	Infos []nix.PathInfo
	// Root, when set, copies into the store under that directory on the
	// host instead of its own (nix-daemon --store <Root>: a chroot store
	// whose paths are /nix/store paths kept under <Root>/nix). An install
	// fills the disk mounted at /mnt from an installer this way, as
	// nixos-anywhere does.
	Root string
	// Stall gives the copy up when its session moves no byte, either way,
	// for this long (a hung nix-daemon or session): a *StallError naming
	// the host, and the connection closed (stall.go). 0: only the context
	// ends a copy.
	Stall time.Duration
	// Present says the caller knows the host's store already holds the
	// whole closure, because the host runs the root as its system now
	// (/run/current-system, a garbage collector root, keeps its closure
	// whole): with Infos set, Copy then opens no daemon session and asks
	// the host nothing (about 20 ms of a host's nix-daemon and a session
	// per machine on a no-change redeploy), and reports nothing missing.
	// Without Infos the host is asked as usual. Who says it must have
	// asked the host this run (the deploy's dry plan does).
	Present bool
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

// List returns the closure of roots in dependency order (references first).
func List(ctx context.Context, n *nix.Nix, roots ...string) ([]nix.PathInfo, error) {
	infos, err := n.Closure(ctx, roots...)
	if err != nil {
		return nil, err
	}
	return topoSort(infos)
}

// topoSort orders infos so every path comes after the paths it references.
// A reference outside the closure or a cycle (which a store cannot hold)
// is an error: the host would refuse such a copy half-way.
func topoSort(infos []nix.PathInfo) ([]nix.PathInfo, error) {
	byPath := make(map[string]int, len(infos))
	for i, pi := range infos {
		byPath[pi.Path] = i
	}
	for _, pi := range infos {
		for _, r := range pi.References {
			if _, ok := byPath[r]; !ok {
				return nil, fmt.Errorf("closure: %s references %s, which is not in the closure", pi.Path, r)
			}
		}
	}
	refs := func(i int) []int {
		var out []int
		for _, r := range slices.Sorted(slices.Values(infos[i].References)) {
			if j := byPath[r]; j != i {
				out = append(out, j)
			}
		}
		return out
	}
	idx := make([]int, len(infos))
	for i := range idx {
		idx[i] = i
	}
	if c := dag.Cycle(idx, refs); c != nil {
		return nil, fmt.Errorf("closure: reference cycle through %s", infos[c[0]].Path)
	}
	out := make([]nix.PathInfo, 0, len(infos))
	for _, i := range dag.Order(idx, refs) {
		out = append(out, infos[i])
	}
	return out, nil
}

// session is an open daemon-protocol session on the host.
type session struct {
	s    *remote.Session
	conn *daemonConn
	wd   *watchdog // nil: no stall limit
}

// daemonCmd is the command line of the host's daemon: on its own store,
// or with root on the store under root (Options.Root), an argument its
// command line passes on to nix-daemon.
func daemonCmd(root string) string {
	if root == "" {
		return daemonCommand
	}
	return daemonCommand + " " + remote.Quote("--store") + " " + remote.Quote(root)
}

// open starts the host's daemon and greets it. A host whose daemon never
// answers must not hang the deploy: the context's end closes the session,
// which ends the greeting's read.
func open(ctx context.Context, c *remote.Client, root string, wd *watchdog) (*session, error) {
	s, err := c.Start(daemonCmd(root))
	if err != nil {
		return nil, err
	}
	se := &session{s: s, wd: wd, conn: &daemonConn{wireConn: &wireConn{w: bufio.NewWriterSize(wd.writer(s.Stdin), 1<<20), r: bufio.NewReaderSize(wd.reader(s.Stdout), 64<<10)}}}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if err := se.conn.greet(); err != nil {
		if ctx.Err() != nil {
			s.Close()
			return nil, fmt.Errorf("copy to %s: the host's nix-daemon did not answer: %w", s.Target(), ctx.Err())
		}
		return nil, se.fail("greeting", err)
	}
	return se, nil
}

// close waits for the daemon to exit after the copy, no longer than ctx.
func (se *session) close(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { se.s.Close() })
	defer stop()
	err := se.s.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
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
		return fmt.Errorf("copy to %s: %s: %s", target, what, tail.LastLines(msg, 3))
	}
	return fmt.Errorf("copy to %s: %s: %v", target, what, err)
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
func Copy(ctx context.Context, n *nix.Nix, c *remote.Client, opt Options, roots ...string) (rep Report, err error) {
	t0 := time.Now()
	if opt.Present && opt.Infos != nil {
		rep.Closure = len(opt.Infos)
		for _, pi := range opt.Infos {
			rep.ClosureBytes += pi.NarSize
		}
		rep.Duration = time.Since(t0)
		return rep, nil
	}
	var infos []nix.PathInfo
	if opt.Infos != nil {
		infos, err = topoSort(opt.Infos)
	} else {
		infos, err = List(ctx, n, roots...)
	}
	if err != nil {
		return rep, err
	}
	// The stall clock starts with the session: listing a large closure on
	// this machine may take a while and moves no byte to the host.
	ctx, wd := watch(ctx, opt.Stall, c.Config().Name(), func() { c.Close() })
	defer func() { err = wd.stop(ctx, err) }()
	paths := make([]string, len(infos))
	for i, pi := range infos {
		paths[i] = pi.Path
		rep.ClosureBytes += pi.NarSize
	}
	rep.Closure = len(infos)
	se, err := open(ctx, c, opt.Root, wd)
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
	sent, bytesSent, err := se.send(ctx, send, rep.MissingBytes, opt)
	rep.Sent, rep.Bytes = sent, bytesSent
	if err != nil {
		rep.Duration = time.Since(t0)
		return rep, err
	}
	if err := se.close(ctx); err != nil {
		return rep, fmt.Errorf("copy to %s: remote nix-daemon: %v", c.Config().Name(), err)
	}
	rep.Duration = time.Since(t0)
	return rep, nil
}

// send streams the NARs, pipelined, and counts the daemon's answers. The
// first path the daemon refuses ends the copy.
func (se *session) send(ctx context.Context, infos []nix.PathInfo, total int64, opt Options) (int, int64, error) {
	stop := context.AfterFunc(ctx, func() { se.s.Close() })
	defer stop()
	var sentBytes atomic.Int64
	acks := make(chan error, 1)
	var acked atomic.Int64
	var refused atomic.Bool
	go func() {
		for range infos {
			if err := se.conn.result(); err != nil {
				refused.Store(true)
				acks <- err
				return
			}
			acked.Add(1)
			se.wd.pathAcked()
		}
		acks <- nil
	}()
	tap := func(w io.Writer) io.Writer {
		return &countingWriter{w: w, n: &sentBytes, total: total, progress: opt.Progress}
	}
	var werr error
	for _, pi := range infos {
		if refused.Load() {
			break
		}
		var sigs []string
		if sigs, werr = opt.Signer.signatures(pi); werr != nil {
			break
		}
		if werr = se.conn.writeAddToStoreNar(pi, sigs, opt.CheckSigs, tap); werr != nil {
			break
		}
		se.wd.pathSent()
	}
	if werr == nil {
		werr = se.conn.w.Flush()
	}
	if werr != nil {
		se.s.Close()
	}
	rerr := <-acks
	if ctx.Err() != nil {
		return int(acked.Load()), sentBytes.Load(), fmt.Errorf("copy to %s: %w", se.s.Target(), ctx.Err())
	}
	var de *DaemonError
	if errors.As(rerr, &de) {
		se.s.Close()
		return int(acked.Load()), sentBytes.Load(), refusal(se.s.Target(), de, opt.Signer)
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

// refusal explains a path the host's daemon would not import; a missing
// trusted signature gets the fix.
func refusal(target string, de *DaemonError, s *Signer) error {
	if !strings.Contains(de.Message, "signature") {
		return fmt.Errorf("copy to %s: the host refused a path: %s", target, de.Message)
	}
	key := "the fleet's public key"
	if s != nil {
		key += " (" + s.Public() + ")"
	}
	return fmt.Errorf("copy to %s: the host does not trust the paths it received (%s); put %s into its nix.settings.trusted-public-keys (a lab host trusts the lab's key from its creation)", target, de.Message, key)
}

func isPipe(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "EOF")
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
