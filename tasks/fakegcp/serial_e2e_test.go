//go:build e2e

package fakegcp

import (
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// TestSerialPortReportsLabHostKey: on the lab backend, the key the
// instance's console reports is the key its sshd presents on the wire
// (ssh-keyscan at the instance's NAT address, with no known_hosts), so a
// deployer that checks its first connection against the console checks
// it against the host itself.
func TestSerialPortReportsLabHostKey(t *testing.T) {
	labtest.NeedRoot(t)
	l := labtest.Open(t, lab.Config{})
	f, err := New(Config{Backend: &fakehcloud.LabBackend{Lab: l}, OpWait: -1})
	assert.NilError(t, err)
	code, op := call(t, f, "POST", instancesPath("us-central1-a"), instanceBody("scheelite", "us-central1-a", "g2-standard-4", gpu("", 0, "TERMINATE")))
	assert.Equal(t, code, 200, "%v", op)
	f.Wait()
	in, ok := f.Instance("scheelite")
	assert.Assert(t, ok)

	code, out := call(t, f, "GET", instancesPath("us-central1-a")+"/scheelite/serialPort", "")
	assert.Equal(t, code, 200, "%v", out)
	contents := out["contents"].(string)
	_, block, ok := strings.Cut(contents, HostKeysBegin+"\n")
	assert.Assert(t, ok, "no host keys on the console: %q", contents)
	block, _, ok = strings.Cut(block, HostKeysEnd)
	assert.Assert(t, ok, "no end of the host keys: %q", contents)
	console, _, _, _, err := ssh.ParseAuthorizedKey([]byte(block))
	assert.NilError(t, err)

	scan, err := exec.Command("ssh-keyscan", "-T", "5", "-t", "ed25519", in.NatIP).Output()
	assert.NilError(t, err)
	fields := strings.Fields(string(scan))
	assert.Assert(t, len(fields) >= 3, "ssh-keyscan %s: %q", in.NatIP, scan)
	wire, _, _, _, err := ssh.ParseAuthorizedKey([]byte(fields[1] + " " + fields[2]))
	assert.NilError(t, err)
	assert.Equal(t, ssh.FingerprintSHA256(console), ssh.FingerprintSHA256(wire))
}
