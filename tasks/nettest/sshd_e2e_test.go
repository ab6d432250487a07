//go:build e2e

package nettest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestSSHDSpeaksSSH: the sshd SSHD starts answers on its port with an SSH
// banner, writes its configuration with the extra lines last, and logs
// to the file it returns.
func TestSSHDSpeaksSSH(t *testing.T) {
	NeedSSHD(t)
	dir := t.TempDir()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key")).CombinedOutput()
	assert.NilError(t, err, string(out))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), nil, 0o600))
	port := FreePort(t)
	log := SSHD(t, dir, port, "LogLevel DEBUG1")

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	assert.NilError(t, err)
	defer c.Close()
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	banner, err := bufio.NewReader(c).ReadString('\n')
	assert.NilError(t, err)
	assert.Check(t, is.Contains(banner, "SSH-2.0-OpenSSH"))

	cfg, err := os.ReadFile(filepath.Join(dir, "sshd_config"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(cfg), fmt.Sprintf("ListenAddress 127.0.0.1:%d\n", port)))
	assert.Check(t, strings.HasSuffix(string(cfg), "KbdInteractiveAuthentication no\nLogLevel DEBUG1\n"), string(cfg))
	assert.Equal(t, filepath.Dir(log), dir)
	_, err = os.Stat(log)
	assert.NilError(t, err)
}
