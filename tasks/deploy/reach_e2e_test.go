//go:build e2e

package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/nettest"
	"github.com/vanixiets/vanixiets/tasks/remote"
	"github.com/vanixiets/vanixiets/tasks/remote/sshdtest/agent"
)

// Reaching laptops the way their owners do (docs/deploy.md, "Reaching
// machines"): gamma, a darwin-class machine, is hidden behind alpha (the
// zerotier controller) in the lab; the deployer finds the way in a
// ~/.ssh/config with a Host pattern, an Include and ProxyJump, and the
// only key is in a real ssh-agent.

// reachLab brings alpha and gamma up, hides gamma behind alpha and checks
// that the machine cannot reach gamma by itself.
func reachLab(t *testing.T, e *testEnv) (alpha, gamma string) {
	t.Helper()
	_, err := e.lab.Up(context.Background(), []string{"alpha", "gamma"})
	assert.NilError(t, err)
	assert.NilError(t, e.lab.HideBehind(context.Background(), "gamma", "alpha"))
	a, g := e.host("alpha").Addr.String(), e.host("gamma").Addr.String()
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(g, "22"), time.Second); err == nil {
		c.Close()
		t.Fatalf("gamma (%s) answers the machine directly; it should be behind alpha only", g)
	}
	return a, g
}

// reachChildEnv carries a deployment to a child process of this test
// binary that sees another home directory (TestHelperReach).
const reachChildEnv = "VANIXIETS_TEST_REACH_CHILD"

type reachChild struct {
	Flake, Cache, Dir, Home, Machine string
}

// TestDeployThroughJumpHost deploys gamma through alpha with nothing but
// what a laptop owner has: ~/.ssh/config (read by default: no option
// names it), an Include relative to ~/.ssh, a Host pattern with ProxyJump,
// ~/.ssh/known_hosts with both hosts' keys, and the key in an agent, its
// file gone. "~" is the home in the password database, as for OpenSSH, so
// the deploy runs in a child process whose mount namespace binds an
// /etc/passwd giving root the test's home: the machine's own ~/.ssh is
// never touched.
func TestDeployThroughJumpHost(t *testing.T) {
	e := newEnv(t)
	alpha, gamma := reachLab(t, e)

	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh")
	assert.NilError(t, os.MkdirAll(filepath.Join(sshDir, "config.d"), 0o700))
	key := filepath.Join(t.TempDir(), "id_lab")
	b, err := os.ReadFile(e.lab.ClientKeyPath())
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(key, b, 0o600))
	sock := agent.Start(t, key)
	assert.NilError(t, os.Remove(key)) // the agent holds the only copy
	files := map[string]string{
		"config": "Include config.d/*.conf\n\nHost *\n  UserKnownHostsFile ~/.ssh/known_hosts\n",
		"config.d/zerotier.conf": fmt.Sprintf(`# the zerotier controller
Host zt-controller
  HostName %s
  User root

# the laptops behind it
Host gamma *.laptop
  HostName %s
  ProxyJump zt-controller
`, alpha, gamma),
	}
	kh, err := os.ReadFile(e.lab.KnownHostsPath())
	assert.NilError(t, err)
	files["known_hosts"] = string(kh)
	for name, content := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(sshDir, name), []byte(content), 0o600))
	}
	passwd, err := os.ReadFile("/etc/passwd")
	assert.NilError(t, err)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(passwd), "\n"), "\n") {
		if f := strings.Split(l, ":"); len(f) == 7 && f[2] == "0" {
			f[5] = home
			l = strings.Join(f, ":")
		}
		lines = append(lines, l)
	}
	pw := filepath.Join(t.TempDir(), "passwd")
	assert.NilError(t, os.WriteFile(pw, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	spec, err := json.Marshal(reachChild{Flake: e.flake, Cache: filepath.Join(e.dir, "cache"), Dir: filepath.Join(e.lab.Dir(), "deploy"), Home: home, Machine: "gamma"})
	assert.NilError(t, err)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind "$0" /etc/passwd && exec "$@"`,
		pw, os.Args[0], "-test.run", "^TestHelperReach$", "-test.v")
	cmd.Env = append(os.Environ(), reachChildEnv+"="+string(spec), "SSH_AUTH_SOCK="+sock)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	assert.NilError(t, err, "the deploy through alpha failed")
	top := e.current("gamma")
	assert.Assert(t, strings.Contains(top, "-darwin-system-gamma-test"), "gamma runs %q", top)
	assert.Assert(t, strings.Contains(string(out), "read "+filepath.Join(sshDir, "config")), "the child read another ssh_config")
}

// TestHelperReach is TestDeployThroughJumpHost's child: the suite's own
// deploy, with no ssh_config named (the default files) and no lab.
func TestHelperReach(t *testing.T) {
	v := os.Getenv(reachChildEnv)
	if v == "" {
		t.Skip("run by TestDeployThroughJumpHost")
	}
	var c reachChild
	assert.NilError(t, json.Unmarshal([]byte(v), &c))
	assert.Equal(t, remote.Home(), c.Home, "the password database's home, as OpenSSH takes it")
	sc, err := remote.UserSSHConfig()
	assert.NilError(t, err)
	t.Logf("read %s", strings.Join(sc.Files(), ", "))
	d, err := New(Options{Flake: c.Flake, Cache: cache.NewLocal(c.Cache), Dir: c.Dir,
		Timeout: 3 * time.Second, ConnectTimeout: 3 * time.Second, Out: testWriter{t}})
	assert.NilError(t, err)
	rows, err := d.Run(context.Background(), []string{c.Machine})
	t.Log("\n" + Table(rows))
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
}

// TestDeployThroughJumpHostBadInput: a jump host that does not answer is
// named, hop and timeout; an agent whose keys the host refuses is named
// with its keys and the fix. Both leave gamma on the system it had.
func TestDeployThroughJumpHostBadInput(t *testing.T) {
	e := newEnv(t)
	alpha, gamma := reachLab(t, e)
	silentPort := nettest.Silent(t).Port
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		assert.NilError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	common := fmt.Sprintf("Host *\n  UserKnownHostsFile %s\n  IdentityFile %s\n", e.lab.KnownHostsPath(), e.lab.ClientKeyPath())
	good := write("good", fmt.Sprintf("Host zt-controller\n  HostName %s\n  User root\nHost gamma\n  HostName %s\n  ProxyJump zt-controller\n", alpha, gamma)+common)
	deadJump := write("dead-jump", fmt.Sprintf("Host zt-controller\n  HostName 127.0.0.1\n  Port %d\n  User root\nHost gamma\n  HostName %s\n  ProxyJump zt-controller\n", silentPort, gamma)+common)

	// A first deploy through the good way: the generation to stay on.
	t.Setenv("SSH_AUTH_SOCK", "")
	opts := func(cfg string) func(*Options) {
		return func(o *Options) {
			o.Lab, o.SSHConfig, o.Dir = nil, cfg, filepath.Join(e.lab.Dir(), "deploy")
			o.ConnectTimeout = 2 * time.Second
		}
	}
	rows, err := e.deploy(opts(good), "gamma")
	assert.NilError(t, err)
	before := e.current("gamma")
	assert.Equal(t, before, rows[0].Toplevel)
	e.params(`{ version = "2"; }`)

	t.Run("jump host does not answer", func(t *testing.T) {
		_, err := e.deploy(opts(deadJump), "gamma")
		assert.ErrorContains(t, err, fmt.Sprintf("jump host 1 of 1, root@zt-controller (127.0.0.1:%d), handshake did not finish within 2s", silentPort))
		assert.Equal(t, e.current("gamma"), before)
	})
	t.Run("agent with no usable key", func(t *testing.T) {
		stranger := filepath.Join(t.TempDir(), "stranger")
		writeTestKey(t, stranger)
		sock := agent.Start(t, stranger)
		t.Setenv("SSH_AUTH_SOCK", sock)
		// The lab's key is in no file the deployer reads: only the agent's.
		noKey := write("no-key", fmt.Sprintf("Host zt-controller\n  HostName %s\n  User root\nHost gamma\n  HostName %s\n  ProxyJump zt-controller\nHost *\n  UserKnownHostsFile %s\n  IdentityFile %s\n",
			alpha, gamma, e.lab.KnownHostsPath(), filepath.Join(dir, "gone")))
		_, err := e.deploy(opts(noKey), "gamma")
		assert.ErrorContains(t, err, "jump host 1 of 1, root@zt-controller")
		assert.ErrorContains(t, err, fmt.Sprintf("the agent at %s had 1 key (ssh-ed25519 ", sock))
		assert.ErrorContains(t, err, "and none was accepted")
		assert.ErrorContains(t, err, "ssh-add <private key file>")
		assert.Equal(t, e.current("gamma"), before)
	})
}

// writeTestKey writes a new ed25519 private key (0600) for ssh-add.
func writeTestKey(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stranger", "-f", path).CombinedOutput()
	assert.NilError(t, err, "ssh-keygen: %s", out)
	_, err = os.ReadFile(path + ".pub")
	assert.NilError(t, err)
}
