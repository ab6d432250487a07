package fleet

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func labSnapshot(t *testing.T) *Fleet {
	t.Helper()
	b, err := os.ReadFile("testdata/lab-fleet.json")
	assert.NilError(t, err)
	f, err := Parse(b)
	assert.NilError(t, err)
	assert.NilError(t, f.Validate())
	return f
}

// TestValidateWhatReachesTheHost covers issue 16 part 7 (modes, owners and
// groups reach chmod/chown on a host; a secret may not be world-readable)
// and part 2 (a placeholder admin key fails with how to set one; the lab
// declaration is well formed).
func TestValidateWhatReachesTheHost(t *testing.T) {
	zt := func(f *Fleet) *File {
		return f.Machines["cinnabar"].Generators["zerotier"].Files["zerotier-identity-secret"]
	}
	tests := []struct {
		name   string
		change func(f *Fleet)
		want   string // "" = valid
	}{
		{name: "lab as is"},
		{name: "symbolic mode", change: func(f *Fleet) { zt(f).Mode = "u+s" }, want: `mode "u+s" is not a plain octal permission`},
		{name: "setuid octal", change: func(f *Fleet) { zt(f).Mode = "4755" }, want: `mode "4755" is not a plain octal permission`},
		{name: "setgid with leading zero", change: func(f *Fleet) { zt(f).Mode = "02440" }, want: `mode "02440" is not a plain octal permission`},
		{name: "world-readable secret", change: func(f *Fleet) { zt(f).Mode = "0644" }, want: `secret file with mode "0644" gives every user of the host access`},
		{name: "group-readable secret", change: func(f *Fleet) { zt(f).Mode = "0440"; zt(f).Group = "zerotier-one" }},
		{name: "numeric owner", change: func(f *Fleet) { zt(f).Owner = "998" }},
		{name: "owner with a colon", change: func(f *Fleet) { zt(f).Owner = "root:root" }, want: `owner "root:root" is not a user or group name`},
		{name: "owner with a space", change: func(f *Fleet) { zt(f).Owner = "a b" }, want: `owner "a b" is not a user or group name`},
		{name: "group like an option", change: func(f *Fleet) { zt(f).Group = "--reference=/etc" }, want: `group "--reference=/etc" is not a user or group name`},
		{name: "placeholder admin key", change: func(f *Fleet) { f.Users["crs58"].AgeKeys = []string{"PLACEHOLDER-crs58"} },
			want: "age-keygen -y ~/.config/sops/age/keys.txt"},
		{name: "lab without identities", change: func(f *Fleet) { f.Lab = &Lab{} }, want: "lab: declares no identities"},
		{name: "lab identity outside the flake", change: func(f *Fleet) { f.Lab.Identities = []string{"../keys/x.agekey"} }, want: `lab: identity "../keys/x.agekey" must be a clean path`},
		{name: "reads a public file", change: func(f *Fleet) {
			g := f.Machines["cinnabar"].Generators["openssh-fingerprint"]
			g.Reads = []string{"openssh/ssh.id_ed25519.pub"}
		}, want: `reads "openssh/ssh.id_ed25519.pub", which is not a secret file`},
		{name: "reads a non-dependency", change: func(f *Fleet) {
			g := f.Machines["cinnabar"].Generators["openssh-fingerprint"]
			g.Reads = []string{"zerotier/zerotier-identity-secret"}
		}, want: `"zerotier" is not one of its dependencies`},
		{name: "reads a dependency's secret", change: func(f *Fleet) {
			g := f.Machines["cinnabar"].Generators["openssh-fingerprint"]
			g.Reads = []string{"openssh/ssh.id_ed25519"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := labSnapshot(t)
			if tc.change != nil {
				tc.change(f)
			}
			err := f.Validate()
			if tc.want == "" {
				assert.NilError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLabIdentityFiles(t *testing.T) {
	f := labSnapshot(t)
	assert.Assert(t, f.IsLab())
	assert.DeepEqual(t, f.LabIdentityFiles("/repo/lab"), []string{"/repo/lab/keys/cameron.agekey", "/repo/lab/keys/crs58.agekey"})
	f.Lab = nil
	assert.Assert(t, !f.IsLab())
	assert.Check(t, is.Len(f.LabIdentityFiles("/repo/lab"), 0))
}

// TestRealFleetHasPlaceholders: the real fleet's users data (evaluated by
// nix from modules/_fleet/users.nix) carries no key at all, only
// placeholders, and a fleet with them fails validation saying how to set
// one. Before, it held the lab's published keys.
func TestRealFleetHasPlaceholders(t *testing.T) {
	n := nixtest.New(t)
	cmd := exec.Command(n.Bin, "eval", "--json", "--file", "../../modules/_fleet/users.nix")
	cmd.Env = n.Env()
	out, err := cmd.Output()
	assert.NilError(t, err)
	var users map[string]*User
	assert.NilError(t, json.Unmarshal(out, &users))
	f := labSnapshot(t)
	admins := 0
	for name, u := range users {
		for _, k := range u.AgeKeys {
			assert.Assert(t, is.Contains(k, "PLACEHOLDER"), "user %s has a real key %q in the real fleet's data", name, k)
			admins++
		}
		u.Name = name
		f.Users[name] = u
	}
	assert.Assert(t, admins > 0)
	err = f.Validate()
	assert.ErrorContains(t, err, `user "crs58" ageKeys[0] is a placeholder`)
	assert.ErrorContains(t, err, "age-keygen -o ~/.config/sops/age/keys.txt")
}
