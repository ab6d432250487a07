// Package sshdtest starts a real OpenSSH sshd on a loopback port for tests
// that need a host at the other end of tasks/remote: one client key per
// login, each with its own forced command (authorized_keys `command=`), so
// a test decides what a "host" runs whatever the client asks for (a
// nix-daemon on a private store, one whose input is cut short). It is a
// test place: only tests import it.
package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/nettest"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// Server is a running sshd, stopped by the test's cleanup, pass or fail.
type Server struct {
	port int
	dir  string
}

// Start runs sshd with one login per entry of commands (name -> the
// command forced on that login's sessions; "" leaves the client's). It
// ends the test as nettest.NeedSSHD says where sshd cannot run.
func Start(t testing.TB, commands map[string]string) *Server {
	t.Helper()
	nettest.NeedSSHD(t)
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
	port := nettest.FreePort(t)
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o644))
	nettest.SSHD(t, dir, port)
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
