package vars

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/sops"
)

// TestMachineWithoutOpensshGetsClanAgeKey: a machine with no openssh
// generator gets clan's generated age key: sops/secrets/m-age.key (for its
// admin, linked users/admin), its public half in sops/machines/m/key.json,
// and its secrets are encrypted to it; the key decrypts them, the tree
// checks clean, and a second generate creates nothing.
func TestMachineWithoutOpensshGetsClanAgeKey(t *testing.T) {
	admin, _ := age.GenerateX25519Identity()
	f := parseFleet(t, fleetJSON(`{`+gen("lonely", `printf s3cret > "$out/x"`, nil, "x")+`}`, admin.Recipient().String()))
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": admin}, nil)
	mustGenerate(t, v, GenerateOptions{})
	sopsDir := filepath.Join(filepath.Dir(v.Dir), "sops")
	keyDir := filepath.Join(sopsDir, "secrets", "m-age.key")
	target, err := os.Readlink(filepath.Join(keyDir, "users", "admin"))
	assert.NilError(t, err)
	assert.Equal(t, target, "../../../users/admin")
	rs, err := secretRecipients(mustRead(t, filepath.Join(keyDir, "secret")))
	assert.NilError(t, err)
	assert.DeepEqual(t, rs, []string{admin.Recipient().String()})

	key, ok, err := newVarsAt(t, v).MachineAgeKey("m")
	assert.NilError(t, err)
	assert.Assert(t, ok)
	id, err := age.ParseX25519Identity(string(key[:len(key)-1]))
	assert.NilError(t, err)
	keys, err := readKeyJSON(filepath.Join(sopsDir, "machines", "m", "key.json"))
	assert.NilError(t, err)
	assert.DeepEqual(t, keys, []string{id.Recipient().String()})
	pt, err := sops.Decrypt(sops.Binary, mustRead(t, filepath.Join(v.Dir, "per-machine/m/lonely/x/secret")), []age.Identity{id})
	assert.NilError(t, err)
	assert.Equal(t, string(pt), "s3cret")
	assertCheckClean(t, newVarsAt(t, v))

	before := mustRead(t, filepath.Join(keyDir, "secret"))
	mustGenerate(t, newVarsAt(t, v), GenerateOptions{Regenerate: true})
	assert.DeepEqual(t, mustRead(t, filepath.Join(keyDir, "secret")), before)
}

// TestOpensshMachineWithClanKeyKeepsIt: the user's cinnabar has an openssh
// generator and clan's generated age key both, and clan encrypts its vars
// to the generated key (sops/machines/cinnabar/key.json), not to the host
// key's age form. A machine that has the generated key keeps it as its
// recipient when an openssh generator joins: every secret, the host key's
// own included, is encrypted to it; the tree checks clean; and the upload
// before activation carries the key to sops-nix's key file, since that is
// what decrypts the machine's secrets on the host.
func TestOpensshMachineWithClanKeyKeepsIt(t *testing.T) {
	admin, _ := age.GenerateX25519Identity()
	ids := map[string]*age.X25519Identity{"admin": admin}
	v := newVars(t, parseFleet(t, fleetJSON(`{`+gen("app", `printf s3cret > "$out/x"`, nil, "x")+`}`, admin.Recipient().String())), ids, nil)
	mustGenerate(t, v, GenerateOptions{})
	key, ok, err := newVarsAt(t, v).MachineAgeKey("m")
	assert.NilError(t, err)
	assert.Assert(t, ok)
	machine, err := age.ParseX25519Identity(strings.TrimSpace(string(key)))
	assert.NilError(t, err)

	both := New(parseFleet(t, fleetJSON(`{`+opensshGen+`,`+gen("app", `printf s3cret > "$out/x"`, nil, "x")+`}`, admin.Recipient().String())), v.Dir)
	both.TmpDir, both.Identities, both.Prompter = v.TmpDir, v.Identities, v.Prompter
	mustGenerate(t, both, GenerateOptions{})
	for _, f := range []string{"per-machine/m/openssh/ssh.id_ed25519/secret", "per-machine/m/app/x/secret"} {
		rs, err := secretRecipients(mustRead(t, filepath.Join(v.Dir, f)))
		assert.NilError(t, err)
		want := []string{machine.Recipient().String(), admin.Recipient().String()}
		slices.Sort(rs)
		slices.Sort(want)
		assert.Check(t, is.DeepEqual(rs, want), f)
	}
	keys, err := readKeyJSON(filepath.Join(filepath.Dir(v.Dir), "sops", "machines", "m", "key.json"))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(keys, []string{machine.Recipient().String()}))
	pt, err := sops.Decrypt(sops.Binary, mustRead(t, filepath.Join(v.Dir, "per-machine/m/app/x/secret")), []age.Identity{machine})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(pt), "s3cret"))
	assertCheckClean(t, newVarsAt(t, both))
	before, _, err := newVarsAt(t, both).DeploySecrets("m")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(before, machineKeyItem))
}
