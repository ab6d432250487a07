// Package activate switches a machine to a system toplevel that is already
// in its store, with deploy-rs style "magic rollback".
//
// NixOS class: the system profile (/nix/var/nix/profiles/system) is set to
// the toplevel with nix-env, then <toplevel>/bin/switch-to-configuration
// runs with the action (switch, boot, test, dry-activate). Darwin class, as
// nix-darwin's darwin-rebuild switch does it: the same system profile, then
// <toplevel>/activate-user (only a system that still has a real one: older
// nix-darwin) and <toplevel>/activate as root. Rollback is nix-env
// --rollback on the profile and the activation of what it then points at
// (darwin: the profile's systemConfig, as darwin-rebuild --rollback reads).
//
// Magic rollback. The activation does not run in the SSH session itself:
// the session starts a detached agent on the host (nohup sh, stdio
// closed; no setsid, which a Mac lacks), which
//  1. takes the machine's lock, sets the profile and activates;
//  2. if activation fails, rolls back at once (profile back to the previous
//     generation, previous system re-activated);
//  3. otherwise waits up to Timeout (default 30 s) for a confirmation file
//     that only the deployer creates, over a NEW SSH connection, after the
//     machine's health checks passed (Confirm). No confirmation — because
//     the new system broke sshd, the network, the deployer's key, or the
//     deployer was killed — and the agent rolls back by itself.
//
// The agent holds the machine's lock (/run/vanixiets/deploy/lock, a
// symbolic link naming its pid: no flock on a Mac) until it has confirmed
// or rolled back, so a second deployment of the same machine waits for the
// verdict of the first; a lock whose holder died is broken by the next.
// Every activation, confirmation and rollback is appended to
// /var/lib/vanixiets/deploy.log on the host. The scripts are POSIX sh with
// macOS's utilities only (scripts.go, package hostsh).
package activate

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// Actions are what switch-to-configuration accepts.
var Actions = []string{"switch", "boot", "test", "dry-activate"}

// DefaultTimeout is how long the host waits for confirmation.
const DefaultTimeout = 30 * time.Second

// Request is one activation.
type Request struct {
	Class    string // "nixos" or "darwin"
	Action   string // switch (default), boot, test, dry-activate
	Toplevel string
	// Timeout is the confirmation window; 0 means DefaultTimeout, negative
	// disables magic rollback (the activation is final when it succeeds).
	Timeout time.Duration
	// LockWait is how long to wait for another deployment's lock (default
	// Timeout + 30 s: long enough for a pending agent to decide).
	LockWait time.Duration
	// Log receives the activation's output as the host printed it.
	Log io.Writer
}

// Result describes a finished activation.
type Result struct {
	Token        string
	PrevGen      int
	NewGen       int
	PrevToplevel string
	// Pending is true when the host waits for Confirm.
	Pending bool
	Output  string
}

// RollbackError says the host went back to its previous generation.
type RollbackError struct {
	Target string
	Reason string
	Output string
}

func (e *RollbackError) Error() string {
	msg := fmt.Sprintf("%s rolled back: %s", e.Target, e.Reason)
	if e.Output != "" {
		msg += "; activation output: " + lastLines(e.Output, 3)
	}
	return msg + " (host log: /var/lib/vanixiets/deploy.log)"
}

// State is a machine's current system.
type State struct {
	Toplevel   string // what runs now (/run/current-system)
	Generation int    // the system profile's generation
	Profile    string // the toplevel that generation points at (what boots)
	// Activated is when /run/current-system was last set: read by
	// Observe only, zero when the host has no running system or no tar.
	Activated time.Time
}

// Runs says whether the host is already where action would take it to
// top: switch needs it both running and in the profile (a `test` leaves
// the profile behind), test only running, boot only in the profile.
func (s State) Runs(top, action string) bool {
	switch action {
	case "switch":
		return s.Toplevel == top && s.Profile == top
	case "test":
		return s.Toplevel == top
	case "boot":
		return s.Profile == top
	}
	return false
}

func (r *Request) timeout() time.Duration {
	if r.Timeout == 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	s := int((d + time.Second - 1) / time.Second)
	return s
}

func newToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

func checkRequest(r *Request) error {
	if r.Action == "" {
		r.Action = "switch"
	}
	ok := false
	for _, a := range Actions {
		ok = ok || a == r.Action
	}
	if !ok {
		return fmt.Errorf("activation action %q: use one of %s", r.Action, strings.Join(Actions, ", "))
	}
	switch r.Class {
	case "nixos":
	case "darwin":
		if r.Action != "switch" && r.Action != "dry-activate" {
			return fmt.Errorf("darwin machines only switch (nix-darwin has no %q)", r.Action)
		}
	default:
		return fmt.Errorf("machine class %q: want nixos or darwin", r.Class)
	}
	if !strings.HasPrefix(r.Toplevel, "/nix/store/") {
		return fmt.Errorf("toplevel %q is not a store path", r.Toplevel)
	}
	return nil
}

// Host runs shell command lines on the machine being activated: an SSH
// connection (*remote.Client) for a remote machine, or this machine itself
// (*localexec.Shell, through sudo when not root) for a deploy of the
// machine the deployer runs on. Every function here takes one, so a local
// deploy has exactly the activation, confirmation and rollback of a
// remote one; only the transport differs.
type Host interface {
	// Run runs a POSIX sh command line with stdin, streaming its output;
	// a non-zero exit is an error.
	Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error
	// Output runs a command line and returns its stdout.
	Output(ctx context.Context, command string, stdin io.Reader) ([]byte, error)
	// Name names the machine in messages.
	Name() string
}

// Activate runs the activation on the host behind c. On success with magic
// rollback the host is Pending: call Confirm (over a new connection) within
// the timeout. A failed activation returns *RollbackError when the host
// went back, or another error when it could not start.
func Activate(ctx context.Context, c Host, req Request) (Result, error) {
	if err := checkRequest(&req); err != nil {
		return Result{}, err
	}
	tmo := req.timeout()
	lockWait := req.LockWait
	if lockWait <= 0 {
		lockWait = tmo + 30*time.Second
	}
	res := Result{Token: newToken()}
	magic := 0
	if tmo > 0 {
		magic = seconds(tmo)
	}
	args := []string{res.Token, req.Class, req.Action, req.Toplevel, strconv.Itoa(magic), strconv.Itoa(seconds(lockWait))}
	var out bytes.Buffer
	w := io.Writer(&out)
	if req.Log != nil {
		w = io.MultiWriter(&out, filterWriter(req.Log))
	}
	var stderr bytes.Buffer
	err := c.Run(ctx, shScript(activateScript, args), nil, w, io.MultiWriter(&stderr, logOrDiscard(req.Log)))
	res.Output = out.String()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return res, fmt.Errorf("activate %s on %s: %s", req.Toplevel, c.Name(), lastLines(msg, 3))
	}
	if req.Action == "dry-activate" {
		return res, nil
	}
	kv := markers(res.Output)
	state := kv["STATE"]
	if g := strings.Fields(kv["GEN"]); len(g) == 2 {
		res.PrevGen, _ = strconv.Atoi(g[0])
		res.NewGen, _ = strconv.Atoi(g[1])
	}
	res.PrevToplevel = kv["PREV"]
	switch {
	case strings.HasPrefix(state, "activated"):
		res.Pending = true
		return res, nil
	case strings.HasPrefix(state, "confirmed"):
		return res, nil
	case strings.HasPrefix(state, "rolledback"):
		return res, &RollbackError{Target: c.Name(), Reason: strings.TrimSpace(strings.TrimPrefix(state, "rolledback")), Output: logPart(res.Output)}
	default:
		return res, fmt.Errorf("activate %s on %s: %s; output: %s", req.Toplevel, c.Name(), state, lastLines(logPart(res.Output), 3))
	}
}

// Confirm runs the health checks on the host (over c, which must be a new
// connection: reaching the host again is the first check) and confirms the
// pending activation; a failing check makes the host roll back now instead
// of at the timeout. For a local deploy c is a new process rather than a new
// connection: what matters is that the confirmation does not come from the
// process that activated. It returns *RollbackError whenever the host rolled back.
func Confirm(ctx context.Context, c Host, res Result, healthChecks []string, timeout time.Duration) error {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return verdict(ctx, c, res, healthChecks, timeout, "")
}

// Abort tells the host to roll a pending activation back now (or reads the
// verdict it already reached) and returns the *RollbackError it reports.
func Abort(ctx context.Context, c Host, res Result, reason string, timeout time.Duration) error {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return verdict(ctx, c, res, nil, timeout, reason)
}

func verdict(ctx context.Context, c Host, res Result, healthChecks []string, timeout time.Duration, abort string) error {
	verdict, reason := "confirm", ""
	if abort != "" {
		verdict, reason = "abort", abort
	}
	for _, hc := range healthChecks {
		var stderr bytes.Buffer
		if err := c.Run(ctx, "sh -c "+remote.Quote(hc), nil, nil, &stderr); err != nil {
			verdict, reason = "abort", fmt.Sprintf("health check %q failed: %s", hc, lastLines(strings.TrimSpace(stderr.String()+" "+err.Error()), 1))
			break
		}
	}
	if !res.Pending {
		if verdict == "abort" {
			return fmt.Errorf("%s: %s (the activation was final: no magic rollback)", c.Name(), reason)
		}
		return nil
	}
	args := []string{res.Token, verdict, reason, strconv.Itoa(seconds(timeout) + 30)}
	out, err := c.Output(ctx, shScript(confirmScript, args), nil)
	if err != nil {
		return fmt.Errorf("confirm on %s: %v", c.Name(), err)
	}
	state := markers(string(out))["STATE"]
	switch {
	case strings.HasPrefix(state, "confirmed"):
		return nil
	case strings.HasPrefix(state, "rolledback"):
		return &RollbackError{Target: c.Name(), Reason: strings.TrimSpace(strings.TrimPrefix(state, "rolledback"))}
	case state == "":
		return fmt.Errorf("confirm on %s: activation %s is unknown to the host (rebooted?)", c.Name(), res.Token)
	default:
		return fmt.Errorf("confirm on %s: host says %q", c.Name(), state)
	}
}

// Rollback switches the machine back one generation of its system profile.
func Rollback(ctx context.Context, c Host, class string, lockWait time.Duration) (from, to State, err error) {
	if lockWait <= 0 {
		lockWait = DefaultTimeout + 30*time.Second
	}
	var stderr bytes.Buffer
	var out bytes.Buffer
	err = c.Run(ctx, shScript(rollbackScript, []string{class, strconv.Itoa(seconds(lockWait))}), nil, &out, &stderr)
	if err != nil {
		return from, to, fmt.Errorf("rollback %s: %s", c.Name(), lastLines(strings.TrimSpace(stderr.String()+" "+err.Error()), 2))
	}
	kv := markers(out.String())
	if g := strings.Fields(kv["GEN"]); len(g) == 2 {
		from.Generation, _ = strconv.Atoi(g[0])
		to.Generation, _ = strconv.Atoi(g[1])
	}
	from.Toplevel, to.Toplevel = kv["PREV"], kv["TOP"]
	return from, to, nil
}

// Current reads the machine's running system and profile generation.
func Current(ctx context.Context, c Host) (State, error) {
	out, err := c.Output(ctx, shScript(statusScript, nil), nil)
	if err != nil {
		return State{}, fmt.Errorf("read the current system of %s: %v", c.Name(), err)
	}
	return stateOf(out), nil
}

// stateOf reads statusScript's marker lines.
func stateOf(out []byte) State {
	kv := markers(string(out))
	st := State{Toplevel: kv["TOP"], Profile: kv["PROFILE"]}
	st.Generation, _ = strconv.Atoi(kv["GEN"])
	return st
}

// Observe reads what Current reads and, in the same session, when the
// running system was activated. fleet:status asks this of every host at
// once, and each session costs the host a login shell and a sh: one
// session where there were two takes that share off every probe.
func Observe(ctx context.Context, c Host) (State, error) {
	out, err := c.Output(ctx, shScript(observedScript, nil), nil)
	if err != nil {
		return State{}, fmt.Errorf("read the current system of %s: %v", c.Name(), err)
	}
	text, archive, _ := bytes.Cut(out, []byte(tarMarker))
	st := stateOf(text)
	if st.Toplevel != "" {
		st.Activated = linkTime(archive)
	}
	return st, nil
}

// linkTime reads the mtime of current-system from observedScript's
// archive (zero when it holds none).
func linkTime(archive []byte) time.Time {
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			return time.Time{}
		}
		if h.Name == "current-system" && h.Typeflag == tar.TypeSymlink && h.ModTime.Unix() > 0 {
			return h.ModTime.UTC()
		}
	}
}

// shScript is the command line running script with args as "$@".
func shScript(script string, args []string) string { return hostsh.Command(script, args...) }

// markers reads the "VANIXIETS-KEY value" lines the scripts print.
func markers(out string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VANIXIETS-"); ok {
			k, v, _ := strings.Cut(rest, " ")
			kv[k] = v
		}
	}
	return kv
}

func logPart(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "VANIXIETS-") {
			keep = append(keep, l)
		}
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func logOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// filterWriter hides the marker lines from a human log.
func filterWriter(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		for _, l := range strings.SplitAfter(string(p), "\n") {
			if l != "" && !strings.HasPrefix(l, "VANIXIETS-") {
				io.WriteString(w, l)
			}
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
