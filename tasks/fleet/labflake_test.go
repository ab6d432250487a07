package fleet

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// buildLab builds every machine's toplevel of the lab flake at dir.
func buildLab(tb testing.TB, l *Loader, f *Fleet, dir string) map[string]string {
	tb.Helper()
	tops, err := l.BuildToplevels(context.Background(), dir, f)
	assert.NilError(tb, err)
	assert.Equal(tb, len(tops), len(f.Machines))
	return tops
}

func TestLabClosures(t *testing.T) {
	l := testLoader(t)
	f := readFleet(t, "lab-fleet.json")
	tops := buildLab(t, l, f, repoLab(t))
	seen := map[string]string{}
	for name, top := range tops {
		m := f.Machines[name]
		if other, dup := seen[top]; dup {
			t.Fatalf("%s and %s share the toplevel %s", name, other, top)
		}
		seen[top] = name
		closure, err := l.Nix.Closure(context.Background(), top)
		assert.NilError(t, err)
		assert.Assert(t, len(closure) >= 3, "%s: closure of %d paths", name, len(closure))

		host, err := os.ReadFile(filepath.Join(top, "etc", "hostname"))
		assert.NilError(t, err)
		assert.Equal(t, strings.TrimSpace(string(host)), name)
		var rec map[string]any
		b, err := os.ReadFile(filepath.Join(top, "etc", "machine.json"))
		assert.NilError(t, err)
		assert.NilError(t, json.Unmarshal(b, &rec))
		assert.Equal(t, rec["system"], m.System)

		_, errSwitch := os.Stat(filepath.Join(top, "bin", "switch-to-configuration"))
		_, errActivate := os.Stat(filepath.Join(top, "activate"))
		assert.NilError(t, errActivate, name)
		if m.MachineClass == ClassNixOS {
			assert.NilError(t, errSwitch, name)
		} else {
			assert.Assert(t, os.IsNotExist(errSwitch), "%s: darwin with switch-to-configuration", name)
		}
	}
}

// activate runs a toplevel's entry point against a host state rooted at root.
func activate(t *testing.T, root string, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "VANIXIETS_ROOT="+root)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type hostState struct {
	current    string
	generation string
	log        []string
}

func readState(t *testing.T, root string) hostState {
	t.Helper()
	var s hostState
	s.current, _ = os.Readlink(filepath.Join(root, "run", "current-system"))
	b, _ := os.ReadFile(filepath.Join(root, "var", "lib", "vanixiets", "generation"))
	s.generation = strings.TrimSpace(string(b))
	b, _ = os.ReadFile(filepath.Join(root, "var", "lib", "vanixiets", "activations.log"))
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			s.log = append(s.log, l)
		}
	}
	return s
}

// A switch, a test, a boot and a roll back are observable in the host state.
func TestLabActivation(t *testing.T) {
	l := testLoader(t)
	f := readFleet(t, "lab-fleet.json")
	tops := buildLab(t, l, f, repoLab(t))
	root := t.TempDir()
	a, b := tops["cinnabar"], tops["galena"]
	stc := func(top string) string { return filepath.Join(top, "bin", "switch-to-configuration") }

	_, err := activate(t, root, stc(a), "switch")
	assert.NilError(t, err)
	s := readState(t, root)
	assert.Equal(t, s.current, a)
	assert.Equal(t, s.generation, "1")
	assert.Equal(t, len(s.log), 1)
	assert.Assert(t, strings.HasSuffix(s.log[0], " switch "+a), s.log[0])

	// the same toplevel again: no new generation, one more log line
	_, err = activate(t, root, stc(a), "switch")
	assert.NilError(t, err)
	assert.Equal(t, readState(t, root).generation, "1")

	// test: current system changes, the generation does not
	_, err = activate(t, root, stc(b), "test")
	assert.NilError(t, err)
	s = readState(t, root)
	assert.Equal(t, s.current, b)
	assert.Equal(t, s.generation, "1")

	// boot: a new generation, the running system stays
	_, err = activate(t, root, stc(b), "boot")
	assert.NilError(t, err)
	s = readState(t, root)
	assert.Equal(t, s.current, b)
	assert.Equal(t, s.generation, "2")
	gen2, _ := os.Readlink(filepath.Join(root, "var", "lib", "vanixiets", "generations", "2"))
	assert.Equal(t, gen2, b)

	// roll back: switch to generation 1's toplevel
	gen1, _ := os.Readlink(filepath.Join(root, "var", "lib", "vanixiets", "generations", "1"))
	assert.Equal(t, gen1, a)
	_, err = activate(t, root, stc(gen1), "switch")
	assert.NilError(t, err)
	s = readState(t, root)
	assert.Equal(t, s.current, a)
	assert.Equal(t, len(s.log), 5)

	// dry-activate writes nothing
	out, err := activate(t, root, stc(b), "dry-activate")
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(out, "would activate "+b))
	assert.Equal(t, len(readState(t, root).log), 5)

	out, err = activate(t, root, stc(b), "bogus")
	assert.Assert(t, err != nil)
	assert.Assert(t, is.Contains(out, "usage: switch-to-configuration switch|boot|test|dry-activate"))

	// darwin: activate
	darwinRoot := t.TempDir()
	_, err = activate(t, darwinRoot, filepath.Join(tops["stibnite"], "activate"))
	assert.NilError(t, err)
	s = readState(t, darwinRoot)
	assert.Equal(t, s.current, tops["stibnite"])
	assert.Equal(t, s.generation, "1")
	assert.Assert(t, strings.Contains(s.log[0], " activate "+tops["stibnite"]))
}

// terraform renders exactly the enabled cloud machines, with their sizing.
func TestLabTerraform(t *testing.T) {
	l := testLoader(t)
	f := readFleet(t, "lab-fleet.json")
	res, err := l.Nix.Build(context.Background(), nix.Installable(repoLab(t), "packages.x86_64-linux.terraform"))
	assert.NilError(t, err)
	b, err := os.ReadFile(res[0].Out())
	assert.NilError(t, err)
	var tf struct {
		Provider map[string]json.RawMessage `json:"provider"`
		Resource struct {
			SSHKey  map[string]json.RawMessage `json:"hcloud_ssh_key"`
			Hcloud  map[string]map[string]any  `json:"hcloud_server"`
			Compute map[string]map[string]any  `json:"google_compute_instance"`
		} `json:"resource"`
		Output map[string]struct {
			Value string `json:"value"`
		} `json:"output"`
	}
	assert.NilError(t, json.Unmarshal(b, &tf))
	assert.Assert(t, is.Contains(tf.Provider, "hcloud"))
	assert.Assert(t, is.Contains(tf.Provider, "google"))
	assert.Equal(t, len(tf.Resource.SSHKey), 1)
	assert.DeepEqual(t, sortedKeys(tf.Resource.Hcloud), []string{"cinnabar"})
	assert.DeepEqual(t, sortedKeys(tf.Resource.Compute), []string{"galena"})
	c := f.Machines["cinnabar"].Cloud
	assert.Equal(t, tf.Resource.Hcloud["cinnabar"]["server_type"], c.ServerType)
	assert.Equal(t, tf.Resource.Hcloud["cinnabar"]["location"], c.Location)
	assert.Equal(t, tf.Resource.Compute["galena"]["machine_type"], f.Machines["galena"].Cloud.ServerType)
	assert.Equal(t, tf.Resource.Compute["galena"]["zone"], f.Machines["galena"].Cloud.Location)
	assert.DeepEqual(t, sortedKeys(tf.Output), []string{"cinnabar_ipv4", "galena_ipv4"})
	assert.Equal(t, tf.Output["cinnabar_ipv4"].Value, "${hcloud_server.cinnabar.ipv4_address}")
}
