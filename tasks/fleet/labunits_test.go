package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// unitsOf lists a lab toplevel's systemd units.
func unitsOf(t *testing.T, top string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(top, "etc", "systemd", "system"))
	if os.IsNotExist(err) {
		return nil
	}
	assert.NilError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// dryLines is what the lab's dry-activate says about units, in order.
func dryLines(out string) []string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "would ") && !strings.HasPrefix(l, "would activate") {
			keep = append(keep, l)
		}
	}
	return keep
}

// TestLabDryActivateUnits: a NixOS lab system has a unit for its software
// and one per inventory role; its dry-activate names, in NixOS's words,
// the units a switch from the running system would stop, restart and
// start: all of them started on a host running nothing; the roles'
// difference from cinnabar to galena; every unit restarted when the
// software package's version moves (they run it). It writes nothing.
func TestLabDryActivateUnits(t *testing.T) {
	l := testLoader(t)
	f := readFleet(t, "lab-fleet.json")
	tops := buildLab(t, l, f, repoLab(t))
	c, g := tops["cinnabar"], tops["galena"]
	stc := func(top string) string { return filepath.Join(top, "bin", "switch-to-configuration") }
	assert.DeepEqual(t, unitsOf(t, c), []string{"user-cameron-default.service", "vanixiets-hello.service", "zerotier-controller.service"})
	assert.DeepEqual(t, unitsOf(t, g), []string{"user-cameron-default.service", "vanixiets-hello.service", "zerotier-peer.service"})
	assert.Assert(t, unitsOf(t, tops["stibnite"]) == nil, "darwin has no systemd units")

	bumped := copyLab(t, func(root string) {
		replaceIn(t, filepath.Join(root, "lab", "nix", "system.nix"), `swVersion = "1.0";`, `swVersion = "1.1";`)
	})
	c2 := buildLab(t, l, f, bumped)["cinnabar"]
	assert.Assert(t, c2 != c)

	root := t.TempDir()
	for _, tc := range []struct {
		name, running, top string
		want               []string
	}{
		{"nothing running", "", c, []string{"would start the following units: user-cameron-default.service, vanixiets-hello.service, zerotier-controller.service"}},
		{"the same system", c, c, nil},
		{"another machine's roles", c, g, []string{
			"would stop the following units: zerotier-controller.service",
			"would start the following units: zerotier-peer.service"}},
		{"a new software version", c, c2, []string{"would restart the following units: user-cameron-default.service, vanixiets-hello.service, zerotier-controller.service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := filepath.Join(root, "run", "current-system")
			os.Remove(cs)
			if tc.running != "" {
				assert.NilError(t, os.MkdirAll(filepath.Dir(cs), 0o755))
				assert.NilError(t, os.Symlink(tc.running, cs))
			}
			before := readState(t, root)
			out, err := activate(t, root, stc(tc.top), "dry-activate")
			assert.NilError(t, err, out)
			assert.DeepEqual(t, dryLines(out), tc.want)
			assert.Assert(t, strings.Contains(out, "would activate the configuration..."), out)
			assert.Equal(t, fmt.Sprintf("%+v", readState(t, root)), fmt.Sprintf("%+v", before), "dry-activate wrote nothing")
		})
	}
}
