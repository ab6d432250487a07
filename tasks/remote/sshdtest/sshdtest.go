// Package sshdtest starts a real OpenSSH sshd on a loopback port for tests
// that need a host at the other end of tasks/remote: one client key per
// login, each with its own forced command (authorized_keys `command=`), so
// a test decides what a "host" runs whatever the client asks for (a
// nix-daemon on a private store, one whose input is cut short). It is a
// test place: only tests import it.
package sshdtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/remote"
)

// Server is a running sshd, stopped by the test's cleanup, pass or fail.
type Server struct {
	port int
	dir  string
}

// Start runs sshd with one login per entry of commands (name -> the
// command forced on that login's sessions; "" leaves the client's). It
// skips the test when not root or when sshd is not installed.
func Start(t testing.TB, commands map[string]string) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sshd")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Skip("sshd not installed (scripts/setup.sh, part lab)")
	}
	_ = os.MkdirAll("/run/sshd", 0o755)
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	keygen(t, filepath.Join(dir, "host_key"))
	var auth strings.Builder
	for name, cmd := range commands {
		keygen(t, filepath.Join(dir, name+".key"))
		pub, err := os.ReadFile(filepath.Join(dir, name+".key.pub"))
		must(t, err)
		if cmd != "" {
			fmt.Fprintf(&auth, "command=%q ", cmd)
		}
		auth.Write(pub)
	}
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(auth.String()), 0o600))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf("ListenAddress 127.0.0.1:%d\nHostKey %s/host_key\nPidFile none\nUsePAM no\nPermitRootLogin prohibit-password\nAuthorizedKeysFile %s/authorized_keys\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n", port, dir, dir)
	must(t, os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o644))
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd's log:\n%s", log.String())
		}
	})
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o644))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start: %s", log.String())
		}
	}
	return &Server{port: port, dir: dir}
}

// Config is how tasks/remote reaches the server as login name.
func (s *Server) Config(name string) remote.Config {
	return remote.Config{Addr: "127.0.0.1", Port: s.port, KnownHosts: []string{filepath.Join(s.dir, "known_hosts")},
		KeyFiles: []string{filepath.Join(s.dir, name+".key")}, NoAgent: true, ConnectTimeout: 5 * time.Second}
}

func keygen(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
