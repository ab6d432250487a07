package vars

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/sops"
)

// TestUploadInstallsClanMachineKey: a machine without an openssh generator
// has its clan-generated age identity in the before-activation upload,
// installed at the sops-nix key path (root, 0600) in the same one session
// as the other secrets and compared with the host's manifest like them:
// unchanged, it is skipped and its file untouched; after activation its
// manifest line is kept; deleted on the host, it is sent again. The key
// installed decrypts the machine's secrets. A machine with an openssh
// generator gets no key item.
// machineKeyHost is a machine "m" with one generated secret (its admin's
// identity returned), and the
// secrets root and machine key path of a host directory of the test's
// own. The upload installs root-owned files: the test needs root.
func machineKeyHost(t *testing.T) (v *Vars, admin *age.X25519Identity, root, keyPath string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("installs root-owned files: run as root")
	}
	admin, _ = age.GenerateX25519Identity()
	gens := `{` + gen("app", `printf s3cret > "$out/x"`, nil, "x") + `}`
	v = newVars(t, parseFleet(t, fleetJSON(gens, admin.Recipient().String())), map[string]*age.X25519Identity{"admin": admin}, nil)
	mustGenerate(t, v, GenerateOptions{})
	hostDir := t.TempDir()
	return v, admin, filepath.Join(hostDir, "run", "secrets", "vars"), filepath.Join(hostDir, "var", "lib", "sops-nix", "key.txt")
}

func TestUploadInstallsClanMachineKey(t *testing.T) {
	v, admin, root, keyPath := machineKeyHost(t)
	want, ok, err := newVarsAt(t, v).MachineAgeKey("m")
	assert.NilError(t, err)
	assert.Assert(t, ok)

	before, after, err := newVarsAt(t, v).DeploySecrets("m")
	assert.NilError(t, err)
	assert.DeepEqual(t, before, []string{machineKeyItem})
	assert.DeepEqual(t, after, []string{"app/x"})

	var ino uint64
	steps := []struct {
		name          string
		change        func(t *testing.T)
		phase         Phase
		sent, skipped []string
		// keyWritten: the key file is written in this step; otherwise it
		// stays the same file (same inode).
		keyWritten bool
	}{
		{name: "first before activation", phase: BeforeActivation, sent: []string{machineKeyItem}, keyWritten: true},
		{name: "first after activation", phase: AfterActivation, sent: []string{"app/x"}},
		{name: "no change before activation", phase: BeforeActivation, skipped: []string{machineKeyItem}},
		{name: "no change after activation", phase: AfterActivation, skipped: []string{"app/x"}},
		{name: "key deleted on the host", phase: BeforeActivation, sent: []string{machineKeyItem}, keyWritten: true,
			change: func(t *testing.T) { assert.NilError(t, os.Remove(keyPath)) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				st.change(t)
			}
			r := &shellRemote{}
			vv := newVarsAt(t, v)
			vv.MachineKeyPath = keyPath
			res, err := vv.Upload(context.Background(), r, "m", st.phase, root)
			assert.NilError(t, err)
			assert.Equal(t, len(r.cmds), 1, "one session")
			assert.DeepEqual(t, orNone(res.Sent), orNone(st.sent))
			assert.DeepEqual(t, orNone(res.Skipped), orNone(st.skipped))
			assert.DeepEqual(t, orNone(res.Removed), []string{})

			got, err := os.ReadFile(keyPath)
			assert.NilError(t, err)
			assert.DeepEqual(t, got, want)
			fi, err := os.Stat(keyPath)
			assert.NilError(t, err)
			assert.Equal(t, fi.Mode().Perm(), os.FileMode(0o600))
			sys := fi.Sys().(*syscall.Stat_t)
			assert.Equal(t, sys.Uid, uint32(0))
			assert.Equal(t, sys.Gid, uint32(0))
			if !st.keyWritten {
				// A rewrite renames a new file over it: another inode.
				assert.Equal(t, sys.Ino, ino, "key file rewritten")
			}
			ino = sys.Ino
			ents, err := os.ReadDir(filepath.Dir(keyPath))
			assert.NilError(t, err)
			assert.Equal(t, len(ents), 1, "no temporary file left beside the key")
			lines := manifestLines(t, root)
			assert.Assert(t, slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " "+machineKeyItem) }), "%v", lines)
			_, err = os.Stat(filepath.Join(root, machineKeyItem))
			assert.Assert(t, os.IsNotExist(err), "the key is not under the secrets root")
		})
	}

	// The installed key opens the machine's secret.
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(want)))
	assert.NilError(t, err)
	pt, err := sops.Decrypt(sops.Binary, mustRead(t, filepath.Join(v.Dir, "per-machine/m/app/x/secret")), []age.Identity{id})
	assert.NilError(t, err)
	assert.Equal(t, string(pt), "s3cret")

	// A machine whose key is its ssh host key: no key item.
	vs := newVars(t, parseFleet(t, fleetJSON(`{`+opensshGen+`,`+gen("app", `printf s > "$out/x"`, nil, "x")+`}`, admin.Recipient().String())), map[string]*age.X25519Identity{"admin": admin}, nil)
	mustGenerate(t, vs, GenerateOptions{})
	before, _, err = newVarsAt(t, vs).DeploySecrets("m")
	assert.NilError(t, err)
	assert.Assert(t, !slices.Contains(before, machineKeyItem), "%v", before)
	vs.MachineKeyPath = filepath.Join(t.TempDir(), "key.txt")
	res, err := vs.Upload(context.Background(), &shellRemote{}, "m", BeforeActivation, filepath.Join(t.TempDir(), "vars"))
	assert.NilError(t, err)
	assert.Assert(t, !slices.Contains(res.Sent, machineKeyItem), "%v", res.Sent)
	_, err = os.Stat(vs.MachineKeyPath)
	assert.Assert(t, os.IsNotExist(err))
}
