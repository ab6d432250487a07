package fleet

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func readFleet(t *testing.T, name string) *Fleet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	assert.NilError(t, err)
	f, err := Parse(b)
	assert.NilError(t, err)
	return f
}

// Each malformed fleet fails with its own message: which machine (or
// instance, user), which field, what is wrong.
func TestMalformedFleets(t *testing.T) {
	for _, tc := range []struct {
		file  string
		shape bool // a decoding (shape) error rather than a validation error
		want  string
	}{
		{"machines-is-a-list", true, `fleet: field "machines": want an attribute set, got a JSON array`},
		{"no-machines", true, `fleet: missing attribute "machines" (want machines.<name> = { machineClass, system, ... })`},
		{"not-json", true, `fleet: truncated JSON`},
		{"system-is-a-number", true, `fleet: machine "quartz": field "system": want a string, got a JSON number`},
		{"tags-is-a-string", true, `fleet: machine "quartz": field "tags": want a list, got a JSON string`},
		{"typo-target-host", true, `fleet: machine "opal": unknown field "target_host"`},
		{"file-mode-is-a-number", true, `fleet: machine "quartz" generator "openssh" file "ssh.id_ed25519": field "mode": want a string, got a JSON number`},
		{"unknown-machine-in-role", false, `instance "zerotier" role "peer": unknown machine "jade" (known machines: opal, quartz)`},
		{"no-zerotier-controller", false, `instance "zerotier": no zerotier controller (want exactly one machine in roles.controller)`},
		{"two-zerotier-controllers", false, `instance "zerotier": 2 zerotier controllers opal, quartz (want exactly one)`},
		{"darwin-with-linux-system", false, `machine "opal": darwin machine with non-darwin system "x86_64-linux" (want e.g. "aarch64-darwin")`},
		{"cloud-without-provider", false, `machine "quartz": cloud machine without provider (want cloud.provider = "hetzner" or "gcp")`},
		{"user-on-missing-machine", false, `instance "user-ann" role "default": user "ann" is assigned to missing machine "beryl" (known machines: opal, quartz)`},
		{"duplicate-host", false, `machine "quartz": duplicate host: deploy.targetHost "root@quartz" reaches the same host as machine "opal"`},
		{"unknown-generator-dependency", false, `machine "quartz" generator "openssh": unknown generator dependency "zerotier" (machine's generators: openssh)`},
		{"generator-dependency-cycle", false, `machine "quartz": generator dependency cycle a -> b -> a`},
		{"undeclared-user", false, `instance "user-ann" role "default": settings.user "bob" is not a declared user (known users: ann)`},
		{"unknown-class", false, `machine "quartz": unknown machineClass "windows" (want "nixos" or "darwin")`},
		{"secrets-without-admin", false, `machine "quartz": generator "openssh" makes secrets but the machine has no admin with ageKeys to encrypt them to (give it a users instance role with settings.admin = true whose user has ageKeys)`},
		{"unknown-build-on", false, `machine "opal": unknown deploy.buildOn "remote" (want "local": build on the deployer, or "target": build on the machine itself)`},
		{"bad-needed-for", false, `machine "quartz" generator "openssh" file "ssh.id_ed25519": neededFor "boot" (want one of partitioning, activation, users, services)`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "malformed", tc.file+".json"))
			assert.NilError(t, err)
			f, err := Parse(b)
			if tc.shape {
				var se *ShapeError
				assert.Assert(t, errors.As(err, &se), "want a ShapeError, got %v", err)
				assert.Equal(t, err.Error(), tc.want)
				return
			}
			assert.NilError(t, err)
			err = f.Validate()
			var ve *ValidationError
			assert.Assert(t, errors.As(err, &ve), "want a ValidationError, got %v", err)
			assert.Assert(t, is.Contains(ve.Problems, tc.want), "problems:\n%s", strings.Join(ve.Problems, "\n"))
			assert.Equal(t, len(ve.Problems), 1, "problems:\n%s", strings.Join(ve.Problems, "\n"))
		})
	}
}

// deploy.buildOn: absent (built on the deployer), "local" or "target".
func TestBuildOn(t *testing.T) {
	for _, tc := range []struct {
		value    string
		onTarget bool
	}{{"", false}, {"local", false}, {"target", true}} {
		f := readFleet(t, "valid-small.json")
		f.Machines["opal"].Deploy.BuildOn = tc.value
		assert.NilError(t, f.Validate(), "buildOn %q", tc.value)
		assert.Equal(t, f.Machines["opal"].BuildsOnTarget(), tc.onTarget, "buildOn %q", tc.value)
	}
}

func TestValidSmallFleet(t *testing.T) {
	f := readFleet(t, "valid-small.json")
	assert.NilError(t, f.Validate())
	assert.Equal(t, f.Machines["quartz"].Name, "quartz")
	assert.Equal(t, f.Machines["quartz"].Generators["openssh"].Files["ssh.id_ed25519"].Name, "ssh.id_ed25519")
	assert.Assert(t, f.Machines["quartz"].Generators["openssh"].Validation == nil)
}

// The lab fleet as nix renders it (testdata/lab-fleet.json is checked against
// a real evaluation in TestLoadLab) answers every query the other steps ask.
func TestLabQueries(t *testing.T) {
	f := readFleet(t, "lab-fleet.json")
	assert.NilError(t, f.Validate())
	assert.DeepEqual(t, f.MachineNames(), []string{"argentum", "blackphos", "cinnabar", "electrum", "galena", "rosegold", "scheelite", "stibnite"})
	assert.Equal(t, f.ZerotierController(), "cinnabar")
	assert.DeepEqual(t, f.MachinesOf("zerotier", "peer"), []string{"argentum", "blackphos", "electrum", "galena", "rosegold", "scheelite", "stibnite"})
	assert.Assert(t, f.MachinesOf("zerotier", "nope") == nil)
	assert.Assert(t, f.MachinesOf("nope", "peer") == nil)
	// cameron reaches the servers through the tag "server"
	assert.DeepEqual(t, f.MachinesOf("user-cameron", "default"), []string{"argentum", "cinnabar", "electrum", "galena", "rosegold", "scheelite"})

	admins := func(m string) []string {
		var out []string
		for _, u := range f.Admins(m) {
			out = append(out, u.Name)
		}
		return out
	}
	assert.DeepEqual(t, admins("stibnite"), []string{"crs58"})
	assert.DeepEqual(t, admins("blackphos"), []string{"crs58"})
	assert.DeepEqual(t, admins("cinnabar"), []string{"cameron"})
	assert.DeepEqual(t, admins("rosegold"), []string{"cameron"})
	assert.DeepEqual(t, f.UsersOf("blackphos"), []string{"crs58", "raquel"})
	assert.DeepEqual(t, f.UsersOf("argentum"), []string{"cameron", "christophersmith"})
	assert.DeepEqual(t, f.Recipients("stibnite"), f.Users["crs58"].AgeKeys)

	for m, want := range map[string]bool{"cinnabar": true, "electrum": false, "galena": true, "scheelite": false, "stibnite": false} {
		assert.Equal(t, f.Machines[m].CloudEnabled(), want, m)
	}
	assert.Equal(t, f.Machines["scheelite"].Cloud.Provider, ProviderGCP)

	_, err := f.ByName("cinnabr")
	var ue *UnknownMachineError
	assert.Assert(t, errors.As(err, &ue))
	assert.Error(t, err, `unknown machine "cinnabr": known machines are argentum, blackphos, cinnabar, electrum, galena, rosegold, scheelite, stibnite`)

	// generators: per machine openssh, openssh-fingerprint (depends on
	// openssh), zerotier; NixOS machines share admin-password
	g := f.Machines["galena"].Generators
	assert.DeepEqual(t, sortedKeys(g), []string{"admin-password", "openssh", "openssh-fingerprint", "zerotier"})
	assert.Assert(t, g["admin-password"].Share)
	assert.DeepEqual(t, g["openssh-fingerprint"].Dependencies, []string{"openssh"})
	assert.Assert(t, !g["openssh"].Files["ssh.id_ed25519.pub"].Secret)
	assert.Equal(t, g["openssh"].Files["ssh.id_ed25519"].Mode, "0400")
	assert.Equal(t, f.Machines["stibnite"].Generators["openssh"].Files["ssh.id_ed25519"].Group, "wheel")
	assert.Assert(t, f.Machines["stibnite"].Generators["admin-password"] == nil)
}

func TestRecordJSON(t *testing.T) {
	f := readFleet(t, "lab-fleet.json")
	b, err := f.ShowJSON("blackphos")
	assert.NilError(t, err)
	var r map[string]any
	assert.NilError(t, json.Unmarshal(b, &r))
	assert.Equal(t, r["name"], "blackphos")
	assert.Equal(t, r["machineClass"], "darwin")
	assert.DeepEqual(t, r["users"], []any{"crs58", "raquel"})
	assert.DeepEqual(t, r["admins"], []any{"crs58"})
	_, err = f.ShowJSON("nope")
	assert.ErrorContains(t, err, "known machines are argentum")
}

func TestTable(t *testing.T) {
	f := readFleet(t, "lab-fleet.json")
	var sb strings.Builder
	assert.NilError(t, f.Table(&sb))
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	assert.Equal(t, len(lines), 9)
	assert.Assert(t, is.Contains(lines[0], "MACHINE"))
	for _, l := range lines {
		if strings.HasPrefix(l, "scheelite ") {
			assert.Assert(t, is.Contains(l, " gcp "))
			assert.Assert(t, is.Contains(l, " false "))
			assert.Assert(t, is.Contains(l, "zerotier/peer"))
		}
		if strings.HasPrefix(l, "cinnabar ") {
			assert.Assert(t, is.Contains(l, "zerotier/controller"))
		}
	}
}

func TestStringSetForms(t *testing.T) {
	for _, in := range []string{`{"a":{},"b":{}}`, `["b","a"]`} {
		var s StringSet
		assert.NilError(t, json.Unmarshal([]byte(in), &s))
		assert.DeepEqual(t, sortedKeys(s), []string{"a", "b"})
	}
	var s StringSet
	assert.ErrorContains(t, json.Unmarshal([]byte(`"a"`), &s), "want a list of names or an attribute set")
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"valid-small.json", "lab-fleet.json", "malformed/typo-target-host.json", "malformed/generator-dependency-cycle.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fleet: ") {
				t.Fatalf("error without the fleet: prefix: %v", err)
			}
			return
		}
		// whatever parses must validate or fail without panicking, and
		// every query must work on it
		_ = fl.Validate()
		for _, m := range fl.MachineNames() {
			_ = fl.RolesOf(m)
			_ = fl.Admins(m)
			_, _ = fl.ShowJSON(m)
		}
		var sb strings.Builder
		_ = fl.Table(&sb)
	})
}

// The contract's toplevel attribute per machine class (it was deploy.Attr's
// test when deploy had its own copy).
func TestToplevelAttr(t *testing.T) {
	tests := []struct {
		m    Machine
		want string
	}{
		{Machine{Name: "a", MachineClass: "nixos"}, "nixosConfigurations.a.config.system.build.toplevel"},
		{Machine{Name: "b", MachineClass: "darwin"}, "darwinConfigurations.b.system"},
	}
	for _, tc := range tests {
		assert.Equal(t, ToplevelAttr(&tc.m), tc.want)
	}
}

// TestSortedKeysNeverNil: an empty set is an empty JSON list, as
// fleet:show --json prints a machine without users.
func TestSortedKeysNeverNil(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]int
		want string
	}{
		{nil, "[]"},
		{map[string]int{}, "[]"},
		{map[string]int{"b": 1, "a": 2}, `["a","b"]`},
	} {
		b, err := json.Marshal(sortedKeys(tc.in))
		assert.NilError(t, err)
		assert.Equal(t, string(b), tc.want)
	}
}
