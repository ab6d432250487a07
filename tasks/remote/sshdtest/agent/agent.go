// Package agent runs a real ssh-agent (Debian's openssh-client) for tests
// that reach hosts the way a laptop owner does, the key in an agent and
// not in a file. It is a test place: only tests import it. It imports
// nothing of the suite, so that tasks/remote's own tests can use it
// (sshdtest imports tasks/remote, which a test of that package cannot
// import back).
package agent

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Start runs ssh-agent on a socket in the test's directory holding keys
// (each added with the real ssh-add) and returns the socket; the agent
// stops when the test ends. It skips the test when ssh-agent is not
// installed.
func Start(t testing.TB, keys ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("needs ssh-agent (openssh-client)")
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait until the agent accepts a connection, not merely until the
	// socket file exists: ssh-agent binds (making the file) before it
	// listens, and a client in between is refused (a loaded machine's
	// ssh-add saw "Connection refused" there).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not accept connections on %s within 5s: %v", sock, err)
		}
	}
	for _, k := range keys {
		add := exec.Command("ssh-add", k)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v: %s", k, err, out)
		}
	}
	return sock
}
