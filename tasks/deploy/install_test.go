package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
)

const testTop = "/nix/store/0c4jv1b8kqf8dr4bhnvsmsw5xzqn5p2h-nixos-system-cinnabar-lab"

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want hostState
	}{
		{"bare image", "", hostState{}},
		{"installed", "VANIXIETS-NIX yes\n", hostState{Nix: true}},
		{"installer, nothing done", "VANIXIETS-NIX yes\nVANIXIETS-KEXEC yes\nVANIXIETS-DISK yes\n",
			hostState{Nix: true, Kexec: true, Disk: true}},
		{"installer without a disk", "VANIXIETS-NIX yes\nVANIXIETS-KEXEC yes\n", hostState{Nix: true, Kexec: true}},
		{"installer, copied and profile set",
			"VANIXIETS-NIX yes\nVANIXIETS-KEXEC yes\nVANIXIETS-DISK yes\nVANIXIETS-copied " + testTop + "\nVANIXIETS-profile " + testTop + "\n",
			hostState{Nix: true, Kexec: true, Disk: true, Copied: testTop, Profile: testTop}},
		{"login banner and blank lines ignored", "Welcome to Debian\n\nVANIXIETS-NIX yes\r\n", hostState{Nix: true}},
		{"damaged marker: its phase runs again", "VANIXIETS-KEXEC yes\nVANIXIETS-copied /nix/store/abc def\nVANIXIETS-profile garbage\n",
			hostState{Kexec: true}},
		{"a marker climbing out of the store", "VANIXIETS-copied /nix/store/../../etc/passwd\n", hostState{}},
		{"unknown keys", "VANIXIETS-NIX no\nVANIXIETS-OTHER yes\n", hostState{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.DeepEqual(t, parseProbe(tc.out), tc.want)
		})
	}
}

func FuzzParseProbe(f *testing.F) {
	f.Add("VANIXIETS-NIX yes\nVANIXIETS-KEXEC yes\nVANIXIETS-DISK yes\nVANIXIETS-copied " + testTop + "\n")
	f.Add("VANIXIETS-profile /nix/store/x y\n")
	f.Add("\x00VANIXIETS-")
	f.Fuzz(func(t *testing.T, out string) {
		st := parseProbe(out)
		for _, p := range []string{st.Copied, st.Profile} {
			if p == "" {
				continue
			}
			if !strings.HasPrefix(p, "/nix/store/") || strings.ContainsAny(p, " \t\n\x00") || strings.Contains(p, "/../") {
				t.Fatalf("marker %q accepted as a store path", p)
			}
		}
	})
}

// TestInstallStepOnlyForCloudMachines: only a cloud machine's host is
// probed for Nix, before anything else reaches it.
func TestInstallStepOnlyForCloudMachines(t *testing.T) {
	n := nixtest.New(t)
	d := &Deployer{opt: Options{Action: "switch", Nix: n}, flake: "/fleet", conns: map[string]*connEntry{}}
	laptop := &fleet.Machine{Name: "stibnite", MachineClass: "darwin"}
	assert.Assert(t, d.installStep(laptop) == nil)

	server := &fleet.Machine{Name: "cinnabar", MachineClass: "nixos", Cloud: &fleet.Cloud{Enabled: true}}
	st := d.installStep(server)
	assert.Assert(t, st != nil)
	assert.Equal(t, st.Name, "cinnabar:install")
	assert.DeepEqual(t, st.Deps, []string{"build"})
	assert.Assert(t, st.NoCache)

	var names []string
	for _, s := range d.steps([]*fleet.Machine{server, laptop}) {
		names = append(names, s.Name)
		switch s.Name {
		case "cinnabar:copy", "cinnabar:activate":
			assert.Assert(t, slices.Contains(s.Deps, "cinnabar:install"), "%s: %v", s.Name, s.Deps)
		}
	}
	assert.Assert(t, slices.Contains(names, "cinnabar:install"))
	assert.Assert(t, !slices.Contains(names, "stibnite:install"))
}

// TestInstallScriptsArePOSIX: the install's host scripts parse in strict
// POSIX shells and use nothing hostsh rules out.
func TestInstallScriptsArePOSIX(t *testing.T) {
	for name, script := range map[string]string{"probe": probeScript, "mark": markScript, "profile": profileScript,
		"host key": hostKeyScript, "machine key": machineKeyScript} {
		t.Run(name, func(t *testing.T) {
			assert.NilError(t, hostsh.Syntax(context.Background(), script))
			assert.Check(t, len(hostsh.Lint(script)) == 0, "%v", hostsh.Lint(script))
		})
	}
}

// The machine key lands whole, root-only, with no temporary file beside it,
// in a directory the disk may not have yet; a second write replaces it.
func TestMachineKeyScript(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "var", "lib", "sops-nix", "key.txt")
	for _, key := range []string{"AGE-SECRET-KEY-1FIRST\n", "AGE-SECRET-KEY-1SECOND\n"} {
		cmd := exec.Command("sh", "-c", hostsh.Command(machineKeyScript, dest))
		cmd.Stdin = strings.NewReader(key)
		out, err := cmd.CombinedOutput()
		assert.NilError(t, err, "%s", out)
		b, err := os.ReadFile(dest)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(b), key))
		fi, err := os.Stat(dest)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o600)))
		ents, err := os.ReadDir(filepath.Dir(dest))
		assert.NilError(t, err)
		assert.Check(t, is.Len(ents, 1), "a temporary file stayed beside the key")
	}
}
