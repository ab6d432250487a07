//go:build e2e

package deploy

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/closurediff"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix"
)

// setSWVersion sets the lab copy's one package version.
func setSWVersion(t testing.TB, flake, v string) {
	t.Helper()
	p := filepath.Join(flake, "nix", "system.nix")
	b, err := os.ReadFile(p)
	assert.NilError(t, err)
	s := string(b)
	i := strings.Index(s, `swVersion = "`)
	assert.Assert(t, i >= 0, "no swVersion in %s", p)
	j := strings.Index(s[i+len(`swVersion = "`):], `"`)
	s = s[:i] + `swVersion = "` + v + s[i+len(`swVersion = "`)+j:]
	assert.NilError(t, os.WriteFile(p, []byte(s), 0o644))
}

// labHostState is what a deployment changes on a lab host, read on the
// machine's side: the generation, the profile links, /run/current-system
// and the set of store paths.
type labHostState struct {
	Generation string
	Current    string
	Profiles   map[string]string
	Store      []string
}

func (e *testEnv) labState(machine string) labHostState {
	e.t.Helper()
	h := e.host(machine)
	var s labHostState
	b, _ := os.ReadFile(filepath.Join(h.StateDir, "generation"))
	s.Generation = strings.TrimSpace(string(b))
	s.Current, _ = os.Readlink(filepath.Join(h.RunDir, "current-system"))
	s.Profiles = map[string]string{}
	es, _ := os.ReadDir(filepath.Join(h.StoreDir, "var", "nix", "profiles"))
	for _, en := range es {
		s.Profiles[en.Name()], _ = os.Readlink(filepath.Join(h.StoreDir, "var", "nix", "profiles", en.Name()))
	}
	es, err := os.ReadDir(filepath.Join(h.StoreDir, "store"))
	assert.NilError(e.t, err)
	for _, en := range es {
		if !strings.HasPrefix(en.Name(), ".") {
			s.Store = append(s.Store, en.Name())
		}
	}
	sort.Strings(s.Store)
	return s
}

// TestDryRunDiff: cinnabar of a copy of the lab flake runs sw 1.0; the
// flake moves to 1.1. A dry run names the changed package with both
// versions, the three paths (and their NAR bytes) it would copy, the
// closure's size change, and says the units cannot be known yet (the new
// system is not on the host). After 1.1 was deployed and rolled back, so
// that the host's store has it, a dry run copies nothing and names the
// units the lab system's own dry-activate says would restart. Neither
// dry run changes the host's generation, profile links, running system
// or store.
func TestDryRunDiff(t *testing.T) {
	adminkeystest.Unset(t)
	e := newEnv(t)
	flake := labtest.CopyLabFlake(t)
	withFlake := func(dry bool) func(*Options) {
		return func(o *Options) { o.Flake = flake; o.DryRun = dry }
	}
	rows, err := e.deploy(withFlake(false), "cinnabar")
	assert.NilError(t, err)
	v1 := rows[0].Toplevel
	setSWVersion(t, flake, "1.1")

	before := e.labState("cinnabar")
	rows, err = e.deploy(withFlake(true), "cinnabar")
	assert.NilError(t, err)
	assert.DeepEqual(t, e.labState("cinnabar"), before)
	dr := rows[0].DryRun
	assert.Assert(t, dr != nil)
	t.Log("\n" + DryRunText(rows))
	v2 := dr.Toplevel
	assert.Assert(t, v2 != v1)
	assert.Equal(t, dr.Running, v1)
	assert.Assert(t, dr.Diff != nil)
	assert.DeepEqual(t, dr.Diff.Changed, []closurediff.Package{{Name: "vanixiets-lab-sw-nixos", Old: []string{"1.0"}, New: []string{"1.1"}, SizeDelta: dr.Diff.Changed[0].SizeDelta}})
	assert.DeepEqual(t, dr.Diff.Rebuilt, []string{"nixos-system-cinnabar-lab", "vanixiets-lab-etc-cinnabar"})
	assert.Equal(t, len(dr.Diff.Added)+len(dr.Diff.Removed), 0)
	// The three new paths (sw, etc, toplevel) and exactly their NAR bytes.
	n, err := nix.New()
	assert.NilError(t, err)
	infos, err := n.Closure(context.Background(), v2)
	assert.NilError(t, err)
	var want int64
	var names []string
	for _, pi := range infos {
		if !strings.HasSuffix(pi.Path, "-vanixiets-lab-base") {
			want += pi.NarSize
			names = append(names, closurediff.Name(pi.Path))
		}
	}
	assert.Equal(t, dr.CopyPaths, 3, "%v", names)
	assert.Equal(t, dr.CopyBytes, want)
	assert.Equal(t, dr.ClosurePaths, 4)
	assert.Equal(t, dr.Diff.NewSize-dr.Diff.OldSize, dr.Diff.SizeDelta())
	assert.Assert(t, dr.Units == nil)
	assert.Assert(t, is.Contains(dr.UnitsNote, "not in the host's store"))
	text := DryRunText(rows)
	for _, s := range []string{"cinnabar: would switch " + v2 + " (now " + v1 + ")", "copy      3 of 4 paths", "changed   vanixiets-lab-sw-nixos 1.0 -> 1.1"} {
		assert.Assert(t, is.Contains(text, s))
	}

	// 1.1 in the host's store, 1.0 running.
	rows, err = e.deploy(withFlake(false), "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Toplevel, v2)
	d, err := New(e.options(withFlake(false)))
	assert.NilError(t, err)
	_, _, err = d.Rollback(context.Background(), "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, e.current("cinnabar"), v1)

	before = e.labState("cinnabar")
	rows, err = e.deploy(withFlake(true), "cinnabar")
	assert.NilError(t, err)
	assert.DeepEqual(t, e.labState("cinnabar"), before)
	dr = rows[0].DryRun
	t.Log("\n" + DryRunText(rows))
	assert.Equal(t, dr.CopyPaths, 0)
	assert.Equal(t, dr.CopyBytes, int64(0))
	assert.Assert(t, dr.Units != nil, dr.UnitsNote)
	assert.DeepEqual(t, dr.Units.Restart, []string{"user-cameron-default.service", "vanixiets-hello.service", "zerotier-controller.service"})
	assert.Equal(t, len(dr.Units.Stop)+len(dr.Units.Start), 0)
	assert.Assert(t, is.Contains(DryRunText(rows), "units     would restart user-cameron-default.service, vanixiets-hello.service, zerotier-controller.service"))
}
