package vars

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestKnownHosts(t *testing.T) {
	f, ids := labFleet(t)
	f.Machines["galena"].Deploy.TargetHost = "root@10.1.2.3:2222"
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{Machines: []string{"cinnabar", "galena"}})
	kh, err := v.KnownHosts()
	assert.NilError(t, err)
	lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
	// The shared admin password of cinnabar and galena is also encrypted to
	// electrum and scheelite, so their host keys were generated too.
	assert.Equal(t, len(lines), 4)
	assert.Assert(t, is.Contains(lines[2], "galena,[10.1.2.3]:2222 ssh-ed25519 "))
	// ssh-keygen agrees it is a known_hosts file naming galena's key.
	p := filepath.Join(t.TempDir(), "known_hosts")
	assert.NilError(t, os.WriteFile(p, kh, 0o644))
	out, err := exec.Command("ssh-keygen", "-F", "[10.1.2.3]:2222", "-f", p).Output()
	assert.NilError(t, err)
	pub, _ := v.Get("galena", "openssh/ssh.id_ed25519.pub")
	assert.Assert(t, bytes.Contains(out, bytes.Fields(pub)[1]))
}
