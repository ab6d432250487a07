package closure

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/nix"
)

// The worker protocol of `nix-daemon --stdio`, the one `nix copy --to
// ssh-ng://` speaks. Why this and not `nix-store --serve`: the daemon
// imports a path only after checking its signatures against the host's
// trusted-public-keys when the client asks it to (AddToStoreNar with
// dontCheckSigs = false), even for a trusted root client. One process on
// the host so answers which paths are missing, imports the NARs and checks
// their signatures; the serve protocol imports without checking, which
// took a second process (`nix store verify`) per host. On a small machine
// deploying eight hosts at once, every nix process on a host (25-35 ms of
// CPU, mostly dynamic linking) shows in the fleet's wall time.
//
// Only what a copy needs is implemented: the greeting, QueryValidPaths and
// AddToStoreNar with framed NAR data (protocol 1.23, Nix 2.4) and
// structured errors (1.26).
const (
	workerMagic1 = 0x6e697863
	workerMagic2 = 0x6478696f
	// clientMinor is the newest protocol minor this client speaks; what
	// each Nix version announces and how the two meet is decided in
	// tasks/nix (DaemonMinor), with the other version differences.
	clientMinor = nix.DaemonClientMinor

	opQueryValidPaths = 31
	opAddToStoreNar   = 39

	stderrNext          = 0x6f6c6d67
	stderrRead          = 0x64617461
	stderrWrite         = 0x64617416
	stderrLast          = 0x616c7473
	stderrError         = 0x63787470
	stderrStartActivity = 0x53545254
	stderrStopActivity  = 0x53544f50
	stderrResult        = 0x52534c54

	// frameSize is how much NAR data one frame carries: big enough that
	// the 8-byte frame headers cost nothing, small enough to stream.
	frameSize = 64 << 10
)

// daemonScript runs the daemon protocol on the host's own store. As root
// it opens the local store directly (no daemon needs to be running) and
// trusts the client, so it honours our request to check signatures.
// "$@" are extra daemon arguments (Options.Root's --store).
const daemonScript = `exec nix-daemon --stdio "$@"`

// daemonCommand runs daemonScript as every host script runs (POSIX sh,
// Nix's directories on PATH: a Mac's sshd gives root a PATH without them),
// sh exec'ing into the daemon.
var daemonCommand = hostsh.Command(daemonScript)

// daemonConn is a greeted connection; minor is the negotiated protocol
// minor version.
type daemonConn struct {
	*wireConn
	minor uint64
}

// DaemonError is an error the daemon reported for an operation.
type DaemonError struct{ Message string }

func (e *DaemonError) Error() string { return e.Message }

// greet exchanges the protocol greeting.
func (c *daemonConn) greet() error {
	if err := c.u64(workerMagic1); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	magic, err := c.readU64()
	if err != nil {
		return err
	}
	if magic != workerMagic2 {
		return fmt.Errorf("nix daemon protocol: bad magic %#x (is the remote shell printing something at login?)", magic)
	}
	ver, err := c.readU64()
	if err != nil {
		return err
	}
	if c.minor, err = nix.DaemonMinor(ver); err != nil {
		return err
	}
	for _, v := range []uint64{1<<8 | c.minor, 0 /* no CPU affinity (obsolete) */, 0 /* reserveSpace (obsolete) */} {
		if err := c.u64(v); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.result()
}

// result reads the daemon's log messages up to the end of an operation:
// nil on success, a *DaemonError when the operation failed. Log lines are
// kept for the error; activities are skipped.
func (c *daemonConn) result() error {
	var logs []string
	for {
		kind, err := c.readU64()
		if err != nil {
			return err
		}
		switch kind {
		case stderrLast:
			return nil
		case stderrError:
			msg, err := c.readError()
			if err != nil {
				return err
			}
			if len(logs) > 0 {
				msg = strings.Join(logs, " | ") + " | " + msg
			}
			return &DaemonError{Message: msg}
		case stderrNext:
			s, err := c.readStr()
			if err != nil {
				return err
			}
			if s = strings.TrimSpace(s); s != "" {
				logs = append(logs, s)
				if len(logs) > 5 {
					logs = logs[1:]
				}
			}
		case stderrStartActivity:
			// id, level, type, text, fields, parent
			if err := c.skip("u64", "u64", "u64", "str", "fields", "u64"); err != nil {
				return err
			}
		case stderrStopActivity:
			if err := c.skip("u64"); err != nil {
				return err
			}
		case stderrResult:
			if err := c.skip("u64", "u64", "fields"); err != nil {
				return err
			}
		case stderrWrite:
			if err := c.skip("str"); err != nil {
				return err
			}
		case stderrRead:
			return errors.New("nix daemon protocol: the daemon asked for data the old way (STDERR_READ); framed data was expected")
		default:
			return fmt.Errorf("nix daemon protocol: unknown message %#x", kind)
		}
	}
}

// readError reads an error: structured since 1.26 (type, level, name,
// message, position, traces).
func (c *daemonConn) readError() (string, error) {
	if err := c.skip("str", "u64", "str"); err != nil {
		return "", err
	}
	msg, err := c.readStr()
	if err != nil {
		return "", err
	}
	if err := c.skip("u64"); err != nil { // position: always 0
		return "", err
	}
	n, err := c.readU64()
	if err != nil {
		return "", err
	}
	if n > 1<<16 {
		return "", fmt.Errorf("nix daemon protocol: %d error traces", n)
	}
	for i := uint64(0); i < n; i++ {
		if err := c.skip("u64", "str"); err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(nix.StripANSI(msg)), nil
}

// skip reads and drops values of the given kinds.
func (c *daemonConn) skip(kinds ...string) error {
	for _, k := range kinds {
		var err error
		switch k {
		case "u64":
			_, err = c.readU64()
		case "str":
			_, err = c.readStr()
		case "fields":
			err = c.skipFields()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *daemonConn) skipFields() error {
	n, err := c.readU64()
	if err != nil {
		return err
	}
	if n > 1<<16 {
		return fmt.Errorf("nix daemon protocol: %d fields", n)
	}
	for i := uint64(0); i < n; i++ {
		t, err := c.readU64()
		if err != nil {
			return err
		}
		switch t {
		case 0:
			_, err = c.readU64()
		case 1:
			_, err = c.readStr()
		default:
			err = fmt.Errorf("nix daemon protocol: field of type %d", t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// queryValid asks which of paths are valid on the host: one round trip.
func (c *daemonConn) queryValid(paths []string) ([]string, error) {
	if err := c.u64(opQueryValidPaths); err != nil {
		return nil, err
	}
	if err := c.strs(paths); err != nil {
		return nil, err
	}
	if c.minor >= 27 {
		if err := c.u64(0); err != nil { // substitute: no
			return nil, err
		}
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	if err := c.result(); err != nil {
		return nil, err
	}
	return c.readStrs()
}

// writeAddToStoreNar writes one AddToStoreNar request: the path's info,
// its signatures, whether the daemon must check them, and the NAR in
// frames. It does not wait for the answer (see result): requests pipeline.
// tap, when set, wraps the NAR stream (to count bytes as they go).
func (c *daemonConn) writeAddToStoreNar(pi nix.PathInfo, sigs []string, checkSigs bool, tap func(io.Writer) io.Writer) error {
	if pi.NarSize <= 0 || pi.NarHash == "" {
		return fmt.Errorf("%s: path-info has no narSize/narHash", pi.Path)
	}
	dontCheck := uint64(1)
	if checkSigs {
		dontCheck = 0
	}
	for _, step := range []func() error{
		func() error { return c.u64(opAddToStoreNar) },
		func() error { return c.str(pi.Path) },
		func() error { return c.str(pi.Deriver) },
		func() error { return c.str(pi.NarHash) },
		func() error { return c.strs(pi.References) },
		func() error { return c.u64(0) }, // registrationTime: now
		func() error { return c.u64(uint64(pi.NarSize)) },
		func() error { return c.u64(0) }, // ultimate: no, it was built elsewhere
		func() error { return c.strs(sigs) },
		func() error { return c.str("") }, // content address: input-addressed
		func() error { return c.u64(0) },  // repair: no
		func() error { return c.u64(dontCheck) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	fw := &frameWriter{w: c.w}
	var nar io.Writer = fw
	if tap != nil {
		nar = tap(fw)
	}
	n, err := DumpNAR(nar, pi.Path)
	if err != nil {
		return err
	}
	if err := fw.close(); err != nil {
		return err
	}
	if n != pi.NarSize {
		return fmt.Errorf("%s: %w (%d != %d): the local store path changed since it was registered", pi.Path, errShortNAR, n, pi.NarSize)
	}
	return nil
}

// frameWriter cuts a stream into the protocol's frames: a length, then
// that many bytes (no padding); a zero length ends the stream.
type frameWriter struct {
	w   io.Writer
	buf []byte
	hdr [8]byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if f.buf == nil {
			f.buf = make([]byte, 0, frameSize)
		}
		k := min(len(p), frameSize-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == frameSize {
			if err := f.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (f *frameWriter) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	putU64(f.hdr[:], uint64(len(f.buf)))
	if _, err := f.w.Write(f.hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:0]
	return err
}

func (f *frameWriter) close() error {
	if err := f.flush(); err != nil {
		return err
	}
	putU64(f.hdr[:], 0)
	_, err := f.w.Write(f.hdr[:])
	return err
}
