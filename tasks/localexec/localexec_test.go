package localexec

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/hostexec/hostexectest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestRun: this machine's shell passes the test every runner of host-side
// commands passes, so a local deploy fails as a remote one does.
func TestRun(t *testing.T) {
	s := &Shell{Label: "test (this machine)"}
	hostexectest.Conform(t, "test (this machine)", s.Run)
}

func TestOutput(t *testing.T) {
	s := &Shell{}
	out, err := s.Output(context.Background(), "cat; echo done", strings.NewReader("in\n"))
	assert.NilError(t, err)
	assert.Equal(t, string(out), "in\ndone\n")
	assert.Equal(t, s.Name(), "this machine")
}

// TestEveryRunIsANewProcess: the confirmation of a local deploy must come
// from a process other than the one that activated.
func TestEveryRunIsANewProcess(t *testing.T) {
	s := &Shell{}
	a, err := s.Output(context.Background(), "echo $$", nil)
	assert.NilError(t, err)
	b, err := s.Output(context.Background(), "echo $$", nil)
	assert.NilError(t, err)
	assert.Assert(t, strings.TrimSpace(string(a)) != strings.TrimSpace(string(b)), "pid %s twice", a)
}

// TestRunCancelled: a cancel stops the command; a child it put in the
// background lives on (the activation's agent must), and the call still
// returns.
func TestRunCancelled(t *testing.T) {
	s := &Shell{}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := s.Run(ctx, "exec sleep 30", nil, nil, nil)
	assert.Assert(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Assert(t, time.Since(t0) < 10*time.Second, "the command was not stopped")

	// The background child (stdio closed, as the agent's) outlives it.
	mark := filepath.Join(t.TempDir(), "alive")
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = s.Run(ctx, "(sleep 0.5; echo yes > "+mark+") </dev/null >/dev/null 2>&1 & exec sleep 30", nil, nil, nil)
	assert.Assert(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(mark); err == nil && strings.TrimSpace(string(b)) == "yes" {
			break
		}
		assert.Assert(t, time.Now().Before(deadline), "the background child did not survive the cancel")
		time.Sleep(50 * time.Millisecond)
	}
}

func TestArgv(t *testing.T) {
	tests := []struct {
		sh   Shell
		want []string
	}{
		{Shell{}, []string{"/bin/sh", "-c", "true"}},
		{Shell{Sudo: true}, []string{"sudo", "-n", "/bin/sh", "-c", "true"}},
		{Shell{Sudo: true, SudoBin: "/usr/bin/sudo"}, []string{"/usr/bin/sudo", "-n", "/bin/sh", "-c", "true"}},
	}
	for _, tc := range tests {
		assert.DeepEqual(t, tc.sh.Argv("true"), tc.want)
	}
	assert.Equal(t, New("x").Sudo, os.Geteuid() != 0)
}

func TestSudoErrorSaysTheFix(t *testing.T) {
	tests := []struct {
		err  SudoError
		want []string
	}{
		{SudoError{User: "kim", Sudo: "sudo: a password is required"},
			[]string{"sudo asks for a password with no terminal", "sudo: a password is required", "run the deploy from a terminal", `"kim ALL=(root) NOPASSWD: /bin/sh"`}},
		{SudoError{User: "kim", Sudo: "Sorry, user kim is not allowed to execute '/bin/sh -c :' as root on m.", Denied: true},
			[]string{"sudo does not let kim run /bin/sh as root", "is not allowed to execute", "run the deploy as root", `"kim ALL=(root) NOPASSWD: /bin/sh"`}},
	}
	for _, tc := range tests {
		for _, w := range tc.want {
			assert.Check(t, is.Contains(tc.err.Error(), w))
		}
	}
	for msg, want := range map[string]bool{
		"sudo: a password is required":                                      false,
		"kim is not in the sudoers file.":                                   true,
		"Sorry, user kim is not allowed to execute '/bin/sh -c :' as root.": true,
		"Sorry, user nobody may not run sudo on vm.":                        true,
	} {
		assert.Equal(t, denied(msg), want, msg)
	}
}

// TestSudoAsRoot runs the sudo path for real: root may run anything
// without a password under every sudoers this suite meets.
func TestSudoAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (sudo without a password)")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("no sudo (scripts/install-lab-deps.sh installs it)")
	}
	s := &Shell{Sudo: true}
	assert.NilError(t, s.Ready(context.Background(), nil))
	out, err := s.Output(context.Background(), "id -u", nil)
	assert.NilError(t, err)
	assert.Equal(t, strings.TrimSpace(string(out)), "0")
}

func TestNoSudo(t *testing.T) {
	s := &Shell{Sudo: true, SudoBin: "/nonexistent/sudo"}
	err := s.Ready(context.Background(), nil)
	assert.ErrorContains(t, err, "there is no sudo")
	assert.ErrorContains(t, err, "run the deploy as root, or install sudo")
}
