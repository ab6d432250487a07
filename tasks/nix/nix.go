// Package nix is a typed driver for the nix command line: one method per
// command the suite needs (eval, build, flake check, flake metadata,
// path-info, copy, version), each returning decoded Go values.
//
// It works with Debian's Nix 2.8 (what CI runs) and current Nix alike: it
// never uses flags newer than 2.8 (no --print-out-paths; builds are read from
// `nix build --json --no-link`), and it decodes both shapes of
// `path-info --json` (2.8 prints an array, newer Nix an object keyed by path).
//
// Every command runs with NIX_CONFIG enabling flakes and disabling
// substituters and the sandbox (see DefaultConfig), because the suite runs
// offline as root without a daemon. Failures keep Nix's own message and add
// what was being done; evaluation failures (exit 1) and build failures
// (exit 100, or Nix's build-failure message) are distinct types, so a caller
// can tell a broken expression from a broken builder.
package nix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
)

// DefaultConfig is the NIX_CONFIG every command runs with. Empty substituters
// matter: without them every operation retries DNS for seconds on an offline
// machine. VANIXIETS_NIX_CONFIG, when set, is appended (later lines win), so
// a user with network access can turn substituters back on.
//
// The suite runs Nix as root without a daemon, and Debian's root-only Nix
// has no nixbld users to build as, so builds run unsandboxed as root
// (sandbox = false, empty build-users-group). That makes evaluation the
// place where a flake could run code: import-from-derivation builds a
// derivation while evaluating, so even a read-only command (check:fleet,
// vars:check, deploy --dry-run) would run the flake's builder as root.
// allow-import-from-derivation = false keeps evaluation free of building;
// a flake that needs IFD fails with ifdHint's explanation. See
// docs/security.md.
const DefaultConfig = "experimental-features = nix-command flakes\n" +
	"substituters =\n" +
	"sandbox = false\n" +
	"build-users-group =\n" +
	"allow-import-from-derivation = false"

// InstallHint is what to do when nix is missing.
const InstallHint = "run scripts/install-nix.sh (installs Debian's nix-bin)"

// ErrNotFound is returned (wrapped) when no nix binary can be found.
var ErrNotFound = errors.New("nix not found: " + InstallHint)

var invocations atomic.Int64

var ansiRe = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// StripANSI removes the colour codes Nix puts into its messages (also the
// ones a nix-daemon sends over its protocol).
func StripANSI(s string) string { return ansiRe.ReplaceAllString(s, "") }

// Invocations returns how many nix processes this process has started. Tests
// and benchmarks use it to prove a warm, cached path starts none.
func Invocations() int64 { return invocations.Load() }

// Nix runs one nix binary. The zero value is not usable; call New.
type Nix struct {
	// Bin is the absolute path of the nix binary.
	Bin string
	// Config is the NIX_CONFIG content (DefaultConfig plus
	// $VANIXIETS_NIX_CONFIG by default).
	Config string
	// ExtraEnv is appended to the process environment (e.g. NIX_SSHOPTS).
	ExtraEnv []string
	// Dir is the working directory of every command ("" = current).
	Dir string
	// Progress, when set, receives nix's stderr as it is written (build
	// logs); stderr is captured for errors either way.
	Progress io.Writer
}

// New finds nix ($VANIXIETS_NIX: a path, or a tested version's name, 2.8
// or 2.26, see ResolveVersion; else PATH, else /usr/bin/nix and the
// single-user profile) and returns a driver for it.
func New() (*Nix, error) {
	bin, err := find()
	if err != nil {
		return nil, err
	}
	return &Nix{Bin: bin, Config: Config()}, nil
}

func find() (string, error) {
	if v := os.Getenv("VANIXIETS_NIX"); v != "" {
		p, err := ResolveVersion(v)
		if err != nil {
			return "", fmt.Errorf("VANIXIETS_NIX=%s: %w", v, err)
		}
		return p, nil
	}
	return machineNix()
}

// Env returns the environment nix commands run with: the process environment
// with NIX_CONFIG replaced and ExtraEnv appended.
func (n *Nix) Env() []string {
	env := make([]string, 0, len(os.Environ())+2+len(n.ExtraEnv))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NIX_CONFIG=") {
			env = append(env, kv)
		}
	}
	env = append(env, "NIX_CONFIG="+n.Config)
	return append(env, n.ExtraEnv...)
}

// CommandError is a failed nix command: Op is what the suite was doing ("eval",
// "build", "flake check", ...), Target the attribute or flake it was done
// to, Code nix's exit status and Message nix's own error text.
type CommandError struct {
	Op      string
	Target  string
	Args    []string
	Code    int
	Message string
}

func (e *CommandError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("nix %s %s: %s", e.Op, e.Target, msg)
}

// EvalError is a failure to evaluate (nix exit status 1 without a build
// failure in the message): a syntax error, a missing attribute, a thrown
// assertion.
type EvalError struct{ CommandError }

// BuildError is a failed build: exit status 100-107, or exit status 1 with
// Nix's build-failure message (the nix command of Nix 2.8 exits 1 there): a
// builder returned non-zero, a dependency failed, no machine can build the
// derivation's system.
type BuildError struct{ CommandError }

// Unwrap exposes the CommandError (errors.As(err, new(*CommandError))).
func (e *EvalError) Unwrap() error { return &e.CommandError }

// Unwrap exposes the CommandError.
func (e *BuildError) Unwrap() error { return &e.CommandError }

// run starts nix with args and returns its stdout. stdin may be nil.
func (n *Nix) run(ctx context.Context, op, target string, args ...string) ([]byte, error) {
	if n == nil || n.Bin == "" {
		return nil, ErrNotFound
	}
	cmd := exec.CommandContext(ctx, n.Bin, args...)
	cmd.Env = n.Env()
	cmd.Dir = n.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if n.Progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, n.Progress)
	}
	invocations.Add(1)
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("nix %s %s: %w", op, target, ctx.Err())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", n.Bin, ErrNotFound)
		}
		return nil, fmt.Errorf("nix %s %s: %w", op, target, err)
	}
	base := CommandError{Op: op, Target: target, Args: args, Code: ee.ExitCode(), Message: cleanMessage(stderr.String())}
	if strings.Contains(base.Message, "'allow-import-from-derivation' is disabled") {
		base.Message += "\n" + ifdHint
		return nil, &EvalError{base}
	}
	return nil, classify(base)
}

// ifdHint follows Nix's message when a flake tried to build during
// evaluation.
const ifdHint = "the suite evaluates with allow-import-from-derivation = false: it runs Nix as root without a build sandbox, " +
	"so building while evaluating would run the flake's code as root even for read-only commands. " +
	"Make the value a plain Nix expression (or a package to build), not the import of a build result; see docs/security.md"

// buildFailureRe matches Nix's messages for a failed build. They matter
// because the exit status alone does not tell: nix-build and nix-store
// exit 100 (+1 timeout, +2 hash mismatch, +4 check mismatch) for a failed
// build, but the nix command of 2.8 exits 1 for both kinds of failure.
var buildFailureRe = regexp.MustCompile(`builder for '[^']*' failed|dependencies of derivation '[^']*' failed to build|build of '[^']*' failed|is required to build '|hash mismatch in fixed-output derivation|failed due to signal`)

// classify turns a failed command into an *EvalError (evaluation failed) or
// a *BuildError (a derivation failed to build), or leaves it a
// *CommandError (anything else: bad flags, I/O).
func classify(base CommandError) error {
	switch {
	case base.Code >= 100 && base.Code <= 107:
		return &BuildError{base}
	case base.Code == 1 && buildFailureRe.MatchString(base.Message):
		return &BuildError{base}
	case base.Code == 1:
		return &EvalError{base}
	}
	return &base
}

// cleanMessage keeps nix's error from its first "error:" line on, dropping
// warnings (dirty git tree) and progress lines before it, and trims it.
func cleanMessage(stderr string) string {
	s := strings.TrimSpace(StripANSI(stderr))
	if i := strings.Index(s, "error:"); i >= 0 {
		if j := strings.LastIndex(s[:i], "\n"); j >= 0 || i == 0 {
			s = s[j+1:]
		}
	}
	s = strings.TrimPrefix(s, "error: ")
	return strings.TrimSpace(s)
}
