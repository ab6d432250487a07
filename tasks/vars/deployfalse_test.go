package vars

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// diskGen is a generator with a deploy = false secret (an install-time
// partitioning key) beside a deploy = true one.
const diskGen = `"disk":{"files":{"part.key":{"secret":true,"deploy":false,"owner":"root","group":"root","mode":"0400","neededFor":"partitioning"},"svc.key":{"secret":true,"deploy":true,"owner":"root","group":"root","mode":"0400","neededFor":"services"}},"prompts":{},"dependencies":[],"script":"printf p > \"$out/part.key\"; printf s > \"$out/svc.key\"","share":false,"validation":null}`

// machineKey returns machine m's age recipient from sops/machines/m/key.json.
func machineKey(t *testing.T, v *Vars, m string) string {
	t.Helper()
	keys, err := readKeyJSON(filepath.Join(v.sopsDir(), "machines", m, keyJSON))
	assert.NilError(t, err)
	assert.Equal(t, len(keys), 1)
	return keys[0]
}

func links(t *testing.T, fileDir string) []string {
	t.Helper()
	l, probs := readLinks(fileDir)
	assert.Equal(t, len(probs), 0, "%v", probs)
	return slices.Sorted(maps.Keys(l))
}

// TestDeployFalseSecretIsForAdminsOnly: as in clan, a deploy = false
// secret is encrypted to the machine's admins only, without the machine's
// key or a machines/ link, while a deploy = true file of the same
// generator keeps the machine; for both kinds of machine key (ssh host
// key, clan's generated age key). A tree written before (machine on the
// deploy = false file) fails vars:check, vars:rekey fixes exactly that
// file, and the tree then checks clean.
func TestDeployFalseSecretIsForAdminsOnly(t *testing.T) {
	for _, tc := range []struct {
		name, gens string
	}{
		{name: "ssh host key", gens: `{` + opensshGen + `,` + diskGen + `}`},
		{name: "clan age key", gens: `{` + diskGen + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin, _ := age.GenerateX25519Identity()
			adminKey := admin.Recipient().String()
			f := parseFleet(t, fleetJSON(tc.gens, adminKey))
			part := f.Machines["m"].Generators["disk"].Files["part.key"]

			// Generated now: admins only on part.key.
			v := newVars(t, f, map[string]*age.X25519Identity{"admin": admin}, nil)
			mustGenerate(t, v, GenerateOptions{})
			mk := machineKey(t, v, "m")
			dir := filepath.Join(v.Dir, "per-machine", "m", "disk")
			assertRecipients := func(file string, want ...string) {
				t.Helper()
				rs, err := secretRecipients(mustRead(t, filepath.Join(dir, file, secretName)))
				assert.NilError(t, err)
				slices.Sort(want)
				slices.Sort(rs)
				assert.DeepEqual(t, rs, want)
			}
			assertRecipients("part.key", adminKey)
			assert.DeepEqual(t, links(t, filepath.Join(dir, "part.key")), []string{"users/admin"})
			assertRecipients("svc.key", adminKey, mk)
			assert.DeepEqual(t, links(t, filepath.Join(dir, "svc.key")), []string{"machines/m", "users/admin"})
			assertCheckClean(t, newVarsAt(t, v))
			rep := mustGenerate(t, newVarsAt(t, v), GenerateOptions{})
			assert.Equal(t, len(rep.StaleRecipients), 0, "%v", rep.StaleRecipients)

			// Written as deploy = true, then declared deploy = false.
			part.Deploy = true
			mustGenerate(t, newVarsAt(t, v), GenerateOptions{Regenerate: true})
			mk = machineKey(t, v, "m") // a new host key when it is one
			assertRecipients("part.key", adminKey, mk)
			part.Deploy = false
			v2 := newVarsAt(t, v)
			rep = mustGenerate(t, v2, GenerateOptions{})
			assert.DeepEqual(t, rep.StaleRecipients, []string{"per-machine/m/disk/part.key"})
			probs, err := newVarsAt(t, v).Check(CheckOptions{})
			assert.NilError(t, err)
			var msgs []string
			for _, p := range probs {
				msgs = append(msgs, p.String())
			}
			assert.Assert(t, len(probs) > 0)
			for _, m := range msgs {
				assert.Assert(t, is.Contains(m, "part.key"))
			}
			assert.Assert(t, slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, mk) }), "%v", msgs)
			done, err := newVarsAt(t, v).Rekey()
			assert.NilError(t, err)
			assert.DeepEqual(t, done, []string{"per-machine/m/disk/part.key"})
			assertRecipients("part.key", adminKey)
			assertRecipients("svc.key", adminKey, mk)
			assert.DeepEqual(t, links(t, filepath.Join(dir, "part.key")), []string{"users/admin"})
			assertCheckClean(t, newVarsAt(t, v))
			done, err = newVarsAt(t, v).Rekey()
			assert.NilError(t, err)
			assert.Equal(t, len(done), 0)
		})
	}
}

// TestForFile: the recipients of a file by its deploy flag.
func TestForFile(t *testing.T) {
	unit := []Recipient{{Key: "k1", Who: "machine:m"}, {Key: "k2", Who: "user:a"}, {Key: "k3", Who: "machine:n,user:b"}}
	for _, tc := range []struct {
		name   string
		deploy bool
		want   []Recipient
	}{
		{name: "deploy = true keeps machines", deploy: true, want: unit},
		{name: "deploy = false drops machines", deploy: false, want: []Recipient{{Key: "k2", Who: "user:a"}, {Key: "k3", Who: "user:b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.DeepEqual(t, forFile(&fleet.File{Secret: true, Deploy: tc.deploy}, unit), tc.want)
		})
	}
}
