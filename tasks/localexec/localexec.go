// Package localexec runs the deploy's host-side shell scripts on the
// machine the deployer runs on, the way tasks/remote runs them over SSH:
// the same command lines (activation, confirmation, secrets upload,
// status), the same streams, the same kind of error. It is what lets a
// deploy of the machine you are sitting at use the very activation and
// magic-rollback code a remote deploy uses (tasks/activate), with no SSH
// and no closure copy (the store is this machine's).
//
// Escalation. The scripts need root (system profile, /run, secrets owned
// by root). When the deployer is root they run as `/bin/sh -c <command>`;
// otherwise as `sudo -n /bin/sh -c <command>`, as darwin-rebuild switch
// escalates. `-n` because the deploy runs in the background of a progress
// display and must never stop at a hidden password prompt: Ready asks
// sudo once up front, on the terminal when there is one (sudo -v, after
// which sudo's cached credential serves the -n calls), and otherwise fails
// with a SudoError saying what to do. /bin/sh is named by its absolute path
// so that a sudoers rule can allow exactly it (NOPASSWD: /bin/sh).
//
// Every Run is a new process (and, through sudo, a new sudo session): a
// confirmation of a pending activation therefore comes from a fresh
// process, not from the one that activated, which is what magic rollback
// asks of a local deploy in place of a new SSH connection.
package localexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vanixiets/vanixiets/tasks/hostexec"
	"github.com/vanixiets/vanixiets/tasks/tail"
)

// Sh is the shell every command line runs in; sudoers rules name it.
const Sh = "/bin/sh"

// Shell runs command lines on this machine.
type Shell struct {
	// Sudo runs each command through `sudo -n` (New sets it when the
	// process is not root).
	Sudo bool
	// Label names the machine in messages, e.g. "stibnite (this machine)".
	Label string
	// SudoBin is the sudo to run (default "sudo", found on PATH).
	SudoBin string
}

// New returns a Shell for this machine, escalating with sudo when the
// process is not root.
func New(label string) *Shell {
	return &Shell{Sudo: os.Geteuid() != 0, Label: label}
}

// Name names the machine in messages (tasks/activate's Host).
func (s *Shell) Name() string {
	if s.Label == "" {
		return "this machine"
	}
	return s.Label
}

func (s *Shell) sudo() string {
	if s.SudoBin != "" {
		return s.SudoBin
	}
	return "sudo"
}

// Argv is the process a command line runs as.
func (s *Shell) Argv(command string) []string {
	if s.Sudo {
		return []string{s.sudo(), "-n", Sh, "-c", command}
	}
	return []string{Sh, "-c", command}
}

// ExitError is a command that ran and failed: the same type tasks/remote
// returns, so a deploy reads a local failure as it reads a remote one.
type ExitError = hostexec.ExitError

// Run runs command (a POSIX sh command line) with stdin (may be nil),
// streaming its output to stdout and stderr (nil discards). Cancelling ctx
// sends SIGTERM to the command (sudo passes it on to its command); what it
// started in the background may keep its output open, which is given up
// 5 s later. A non-zero exit is an *ExitError.
func (s *Shell) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	argv := s.Argv(command)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Its own process group, as a command of an SSH session is in its own
	// session: a Ctrl-C on the deployer's terminal reaches the deployer,
	// which cancels, and not the host-side script directly. A cancel then
	// signals the command alone (sudo passes it on to its own command), as
	// an SSH session's signal does, never its group: the activation's
	// agent, started in the background by the script, must outlive the
	// deployer and decide by itself (magic rollback).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	errTail := &tail.Buffer{Max: 2048}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, io.MultiWriter(stderr, errTail)
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %q: %w", s.Name(), short(command), ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		e := &ExitError{Target: s.Name(), Command: command, Code: ee.ExitCode(), Stderr: tail.LastLine(errTail.String())}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Named as SSH names it (RFC 4254: "TERM"), as tasks/remote
			// reports a remote command's signal.
			e.Code, e.Signal = -1, strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
		}
		return e
	}
	return fmt.Errorf("%s: run %s: %w", s.Name(), argv[0], err)
}

// Output runs command and returns its stdout; stderr goes into the error.
func (s *Shell) Output(ctx context.Context, command string, stdin io.Reader) ([]byte, error) {
	var out bytes.Buffer
	err := s.Run(ctx, command, stdin, &out, nil)
	return out.Bytes(), err
}

// SudoError is a sudo that would not run the activation's shell without a
// password that nobody can type.
type SudoError struct {
	User   string
	Sudo   string // what sudo said
	Denied bool   // sudo refuses the command outright (no rule), password or not
}

func (e *SudoError) Error() string {
	rule := fmt.Sprintf("%s ALL=(root) NOPASSWD: %s", e.User, Sh)
	if e.Denied {
		return fmt.Sprintf("deploying this machine as %s needs root, and sudo does not let %s run %s as root (sudo -n %s: %s); "+
			"run the deploy as root, or give %s the sudoers rule %q (the activation runs as sudo -n %s -c ...)",
			e.User, e.User, Sh, Sh, e.Sudo, e.User, rule, Sh)
	}
	return fmt.Sprintf("deploying this machine as %s needs root, and sudo asks for a password with no terminal to ask on (sudo -n %s: %s); "+
		"run the deploy from a terminal (sudo asks once), or let %s run the activation without a password: the sudoers rule %q (the activation runs as sudo -n %s -c ...)",
		e.User, Sh, e.Sudo, e.User, rule, Sh)
}

// Ready makes sure the commands will run: for a root process, at once; for
// any other, sudo must run Sh as root without asking (sudo -n). When it
// would ask and term is a terminal, sudo asks there once (sudo -v) and the
// check is made again; with no terminal (term nil) the answer is a
// *SudoError naming the fix.
func (s *Shell) Ready(ctx context.Context, term *os.File) error {
	if !s.Sudo {
		return nil
	}
	if _, err := exec.LookPath(s.sudo()); err != nil {
		return fmt.Errorf("deploying this machine as %s needs root, and there is no sudo (%v); run the deploy as root, or install sudo", currentUser(), err)
	}
	msg, err := s.probe(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if term != nil && !denied(msg) {
		v := exec.CommandContext(ctx, s.sudo(), "-v", "-p", fmt.Sprintf("[sudo] deploying %s: password for %%p: ", s.Name()))
		v.Stdin, v.Stdout, v.Stderr = term, term, term
		if err := v.Run(); err == nil {
			if msg, err = s.probe(ctx); err == nil {
				return nil
			}
		}
	}
	return &SudoError{User: currentUser(), Sudo: msg, Denied: denied(msg)}
}

// probe runs `sudo -n Sh -c :` and returns what sudo said when it refused.
func (s *Shell) probe(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.sudo(), "-n", Sh, "-c", ":")
	cmd.Stderr = &stderr
	err := cmd.Run()
	msg := strings.Join(strings.Fields(strings.TrimSpace(stderr.String())), " ")
	if msg == "" && err != nil {
		msg = err.Error()
	}
	return msg, err
}

// denied tells sudo's "you may not" from its "I need a password": sudo's
// own words, which have been stable across its releases ("is not in the
// sudoers file", "is not allowed to execute", "may not run sudo").
func denied(msg string) bool {
	for _, s := range []string{"not in the sudoers", "is not allowed to", "may not run sudo"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Geteuid())
}

func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
