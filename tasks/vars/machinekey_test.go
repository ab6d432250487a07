package vars

import (
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

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
