package nettest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FreePort returns a loopback port the kernel just handed out and took
// back, for a server that must be told its port before it starts (an
// sshd_config, a machine's targetHost written into vars).
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sshdConfig is the part of every test sshd's configuration that does not
// depend on the test: key logins only, no PAM, root allowed (the lab's
// hosts are reached as root), and StrictModes off because a test's
// temporary directory is not root's home.
const sshdConfig = `HostKey %[1]s/host_key
AuthorizedKeysFile %[1]s/authorized_keys
PidFile none
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
`

// NeedSSHD returns the path of OpenSSH's sshd, or ends the test: sshd
// needs root, so a test run by another user is skipped; a missing sshd
// skips the test on a developer's machine and fails it under CI (the
// variable CI set), where a skipped test would prove nothing. A test that
// prepares keys before it calls SSHD calls this first, so that it is
// skipped before it does any work.
func NeedSSHD(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to run sshd")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("CI without sshd: %v", err)
		}
		tb.Skip("sshd not installed (scripts/setup.sh, part lab)")
	}
	return sshd
}

// SSHD runs OpenSSH's sshd on 127.0.0.1:port until the test's cleanup
// stops it, pass or fail. dir must already hold the host's private key
// (host_key) and the logins' keys (authorized_keys): the caller decides
// who the host is and who may log in, SSHD only runs it. It writes
// dir/sshd_config (the lines above, then extra), waits until the port
// accepts a connection, and returns the path of sshd's log, which the
// test's log also shows when the test fails. It ends the test as NeedSSHD
// does where sshd cannot run.
func SSHD(tb testing.TB, dir string, port int, extra ...string) (log string) {
	tb.Helper()
	sshd := NeedSSHD(tb)
	// sshd refuses to start without its privilege-separation directory.
	_ = os.MkdirAll("/run/sshd", 0o755)
	cfg := fmt.Sprintf("ListenAddress 127.0.0.1:%d\n", port) + fmt.Sprintf(sshdConfig, dir)
	if len(extra) > 0 {
		cfg += strings.Join(extra, "\n") + "\n"
	}
	config := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	log = filepath.Join(dir, "sshd.log")
	cmd := exec.Command(sshd, "-D", "-E", log, "-f", config)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start sshd: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			b, _ := os.ReadFile(log)
			tb.Logf("sshd's log:\n%s", b)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return log
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			tb.Fatalf("sshd did not start on %s: %s", addr, b)
		}
	}
}
