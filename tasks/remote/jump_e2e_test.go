//go:build e2e

package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/nettest"
	"github.com/vanixiets/vanixiets/tasks/remote/sshdtest/agent"
)

// jumpConfig writes an ssh_config reaching "target" through "jump", both
// real sshds on loopback, each checked against its own known_hosts.
func jumpConfig(t *testing.T, jumpPort int, target *testSSHD, extra string) *SSHConfig {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	cfg := fmt.Sprintf(`Host jump
  HostName 127.0.0.1
  Port %d
  User root
  HostKeyAlias testhost
  IdentitiesOnly no

Host target
  HostName 127.0.0.1
  Port %d
  HostKeyAlias testhost
  ProxyJump jump

%s
`, jumpPort, target.port, extra)
	assert.NilError(t, os.WriteFile(p, []byte(cfg), 0o644))
	c, err := LoadSSHConfig(p)
	assert.NilError(t, err)
	return c
}

// TestDialThroughJumpWithAgent: the machine is reached through a jump
// host with keys held only by a real ssh-agent (no key file the deployer
// could read), the way a laptop behind the zerotier controller is; both
// hops' host keys are checked.
func TestDialThroughJumpWithAgent(t *testing.T) {
	jump := startSSHD(t, "LogLevel DEBUG1")
	target := startSSHD(t)
	sock := agent.Start(t, jump.clientKey, target.clientKey)
	t.Setenv("SSH_AUTH_SOCK", sock)
	// The key files go: only the agent has the keys now.
	assert.NilError(t, os.Remove(jump.clientKey))
	assert.NilError(t, os.Remove(target.clientKey))
	cfg := jumpConfig(t, jump.port, target, "Host *\n  UserKnownHostsFile "+jump.knownHosts+" "+target.knownHosts)
	rc, err := Resolve("root@target", cfg, nil)
	assert.NilError(t, err)
	assert.Equal(t, len(rc.Jump), 1)
	c, err := Dial(context.Background(), rc)
	assert.NilError(t, err)
	out, err := c.Output(context.Background(), "echo through", nil)
	assert.NilError(t, err)
	assert.Equal(t, string(out), "through\n")
	assert.NilError(t, c.Close())
	// The jump host's sshd opened the connection to the target for us.
	b, err := os.ReadFile(jump.log)
	assert.NilError(t, err)
	assert.Assert(t, strings.Contains(string(b), fmt.Sprintf("target 127.0.0.1 port %d", target.port)), "jump host's log:\n%s", b)
}

// TestJumpHostKeyStrict: the jump host's key is checked as strictly as the
// machine's: a jump host whose key is not the recorded one is refused.
func TestJumpHostKeyStrict(t *testing.T) {
	jump := startSSHD(t)
	target := startSSHD(t)
	sock := agent.Start(t, jump.clientKey, target.clientKey)
	t.Setenv("SSH_AUTH_SOCK", sock)
	other := filepath.Join(t.TempDir(), "other")
	_, otherPub := writeKey(t, other)
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	assert.NilError(t, os.WriteFile(wrong, []byte(fmt.Sprintf("[testhost]:%d %s", jump.port, ssh.MarshalAuthorizedKey(otherPub))), 0o644))
	cfg := jumpConfig(t, jump.port, target, "Host *\n  UserKnownHostsFile "+wrong+" "+target.knownHosts)
	rc, err := Resolve("root@target", cfg, nil)
	assert.NilError(t, err)
	_, err = Dial(context.Background(), rc)
	t.Log(err)
	var hk *HostKeyError
	assert.Assert(t, errors.As(err, &hk), "%v", err)
	assert.ErrorContains(t, err, "host key of jump host root@jump (127.0.0.1:")
	assert.ErrorContains(t, err, "CHANGED")
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(jump.hostPub))
}

// TestJumpBadInput: a jump host that does not answer is named with its
// place in the chain; an agent whose keys the host refuses says where it
// is, how many keys it had and how to add one.
func TestJumpBadInput(t *testing.T) {
	jump := startSSHD(t)
	target := startSSHD(t)
	silent := nettest.Silent(t).Port
	stranger := filepath.Join(t.TempDir(), "stranger")
	_, strangerPub := writeKey(t, stranger)

	t.Run("jump host does not answer", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", agent.Start(t, jump.clientKey, target.clientKey))
		cfg := jumpConfig(t, silent, target, "Host *\n  UserKnownHostsFile "+jump.knownHosts+" "+target.knownHosts)
		rc, err := Resolve("root@target", cfg, nil)
		assert.NilError(t, err)
		rc.ConnectTimeout = 700 * time.Millisecond
		t0 := time.Now()
		_, err = Dial(context.Background(), rc)
		t.Log(err)
		assert.ErrorContains(t, err, fmt.Sprintf("jump host 1 of 1, root@jump (127.0.0.1:%d), handshake did not finish within 700ms", silent))
		assert.ErrorContains(t, err, "ssh root@target (127.0.0.1:")
		assert.Assert(t, time.Since(t0) < 10*time.Second)
	})
	t.Run("second hop of a chain does not answer", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", agent.Start(t, jump.clientKey, target.clientKey))
		p := filepath.Join(t.TempDir(), "config")
		assert.NilError(t, os.WriteFile(p, []byte(fmt.Sprintf(`Host target
  HostName 127.0.0.1
  Port %d
  ProxyJump root@jump,root@silent
Host jump
  HostName 127.0.0.1
  Port %d
Host silent
  HostName 127.0.0.1
  Port %d
Host *
  HostKeyAlias testhost
  UserKnownHostsFile %s %s
`, target.port, jump.port, silent, jump.knownHosts, target.knownHosts)), 0o644))
		cfg, err := LoadSSHConfig(p)
		assert.NilError(t, err)
		rc, err := Resolve("root@target", cfg, nil)
		assert.NilError(t, err)
		rc.ConnectTimeout = 700 * time.Millisecond
		_, err = Dial(context.Background(), rc)
		t.Log(err)
		assert.ErrorContains(t, err, "via root@jump, root@silent")
		assert.ErrorContains(t, err, fmt.Sprintf("jump host 2 of 2, root@silent (127.0.0.1:%d), handshake did not finish within 700ms", silent))
	})
	t.Run("agent with no usable key", func(t *testing.T) {
		sock := agent.Start(t, stranger)
		t.Setenv("SSH_AUTH_SOCK", sock)
		cfg := jumpConfig(t, jump.port, target, "Host *\n  UserKnownHostsFile "+jump.knownHosts+" "+target.knownHosts)
		rc, err := Resolve("root@target", cfg, nil)
		assert.NilError(t, err)
		rc.Jump[0].KeyFiles, rc.KeyFiles = nil, nil
		_, err = Dial(context.Background(), rc)
		t.Log(err)
		assert.ErrorContains(t, err, "jump host 1 of 1, root@jump")
		assert.ErrorContains(t, err, "authentication failed")
		assert.ErrorContains(t, err, fmt.Sprintf("the agent at %s had 1 key (ssh-ed25519 %s) and none was accepted", sock, ssh.FingerprintSHA256(strangerPub)))
		assert.ErrorContains(t, err, "ssh-add <private key file>")
	})
	t.Run("agent without keys", func(t *testing.T) {
		sock := agent.Start(t)
		t.Setenv("SSH_AUTH_SOCK", sock)
		rc := target.config()
		rc.NoAgent, rc.KeyFiles = false, nil
		_, err := Dial(context.Background(), rc)
		t.Log(err)
		assert.ErrorContains(t, err, "no client key")
		assert.ErrorContains(t, err, fmt.Sprintf("the agent at %s had no keys", sock))
		assert.ErrorContains(t, err, "ssh-add")
	})
	t.Run("IdentitiesOnly leaves no agent key", func(t *testing.T) {
		sock := agent.Start(t, target.clientKey)
		t.Setenv("SSH_AUTH_SOCK", sock)
		rc := target.config()
		rc.NoAgent, rc.IdentitiesOnly = false, true
		rc.KeyFiles = []string{stranger + ".pub"}
		assert.NilError(t, os.WriteFile(stranger+".pub", ssh.MarshalAuthorizedKey(strangerPub), 0o644))
		_, err := Dial(context.Background(), rc)
		t.Log(err)
		assert.ErrorContains(t, err, fmt.Sprintf("the agent at %s had 1 key, 0 of them named by IdentityFile (IdentitiesOnly yes); key files: %s (a public key: names an agent key)", sock, stranger+".pub"))
	})
}

// TestAgentBeforeKeyFiles: the agent's keys are offered first and key
// files after, in one method (a refused key file does not hide the
// agent), and a public-key IdentityFile with IdentitiesOnly picks the
// agent's key (1Password's way).
func TestAgentBeforeKeyFiles(t *testing.T) {
	target := startSSHD(t)
	stranger := filepath.Join(t.TempDir(), "stranger")
	_, strangerPub := writeKey(t, stranger)
	sock := agent.Start(t, stranger, target.clientKey)
	t.Setenv("SSH_AUTH_SOCK", "")

	pub := filepath.Join(t.TempDir(), "target.pub")
	b, err := os.ReadFile(target.clientKey)
	assert.NilError(t, err)
	s, err := ssh.ParsePrivateKey(b)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(pub, ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644))
	_ = strangerPub

	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"refused key file, agent has the key", func(c *Config) { c.KeyFiles = []string{stranger} }},
		{"public key names the agent's key", func(c *Config) { c.KeyFiles = []string{pub}; c.IdentitiesOnly = true }},
		{"missing key file skipped", func(c *Config) { c.KeyFiles = []string{filepath.Join(t.TempDir(), "gone")} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := target.config()
			rc.NoAgent, rc.AgentSocket = false, sock
			tc.mod(&rc)
			c, err := Dial(context.Background(), rc)
			assert.NilError(t, err)
			c.Close()
		})
	}
}
