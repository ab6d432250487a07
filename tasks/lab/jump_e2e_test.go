//go:build e2e

package lab_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// TestHideBehind: a host hidden behind another answers only through it,
// as a laptop behind the zerotier controller: the machine cannot open a
// TCP connection to it, an SSH connection with the controller as jump host
// lands on it, Status calls it alive, and Up brings it back onto the
// machine's network.
func TestHideBehind(t *testing.T) {
	l, hs := labtest.Up(t, lab.Config{Machines: []lab.Machine{{Name: "ctl"}, {Name: "mac"}}}, "ctl", "mac")
	byName := map[string]lab.Host{}
	for _, h := range hs {
		byName[h.Name] = h
	}
	ctl, mac := byName["ctl"], byName["mac"]
	macSSH := net.JoinHostPort(mac.Addr.String(), "22")
	reachable := func() error {
		c, err := net.DialTimeout("tcp", macSSH, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	assert.NilError(t, reachable(), "before: the machine reaches mac")

	assert.ErrorContains(t, l.HideBehind(ctx, "mac", "mac"), "behind itself")
	assert.ErrorContains(t, l.HideBehind(ctx, "mac", "nope"), "no host nope is up")
	assert.NilError(t, l.HideBehind(ctx, "mac", "ctl"))
	assert.NilError(t, l.HideBehind(ctx, "mac", "ctl"), "hiding again does nothing")
	assert.Equal(t, l.Behind("mac"), "ctl")
	assert.Assert(t, reachable() != nil, "the machine still reaches mac at %s", macSSH)

	// Through the controller, with the lab's key and known_hosts.
	cfgPath := filepath.Join(t.TempDir(), "ssh_config")
	assert.NilError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`Host ctl
  HostName %s
Host mac
  HostName %s
  ProxyJump root@ctl
Host *
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
`, ctl.Addr, mac.Addr, l.ClientKeyPath(), l.KnownHostsPath())), 0o644))
	sc, err := remote.LoadSSHConfig(cfgPath)
	assert.NilError(t, err)
	rc, err := remote.Resolve("root@mac", sc, nil)
	assert.NilError(t, err)
	c, err := remote.Dial(ctx, rc)
	assert.NilError(t, err)
	out, err := c.Output(ctx, "ip -4 -o addr show dev eth0", nil)
	c.Close()
	assert.NilError(t, err)
	assert.Assert(t, strings.Contains(string(out), mac.Addr.String()+"/30"), "landed elsewhere: %s", out)

	st, err := l.Status(ctx)
	assert.NilError(t, err)
	for _, s := range st {
		assert.Assert(t, s.Alive, "%s: %s", s.Name, s.Problem)
	}

	// Up rebuilds the hidden host's link on the machine.
	_, err = l.Up(ctx, []string{"mac"})
	assert.NilError(t, err)
	assert.Equal(t, l.Behind("mac"), "")
	assert.NilError(t, reachable(), "after Up: the machine reaches mac again")
}
