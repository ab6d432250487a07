//go:build e2e

package lab_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// TestMageSecondFleet runs the suite's compiled targets on the second
// fleet (testdata/fleets/grove: 13 machines with other names, users and
// tags, cloud machines at admin@<name>.grove.test, one disabled), as a user
// of any clan-shaped flake would: check:fleet, lab:up, vars:generate and
// vars:check, deploy:fleet @edge @desk (provisioning the enabled cloud
// machines through the fake API), the same deploy again with nothing to
// copy, tf:plan and tf:apply with nothing left to do, and lab:down. Only
// the lab, the vars and the state are moved to the test's own places; the
// flake is the committed one.
func TestMageSecondFleet(t *testing.T) {
	before := snapshot(t)
	root := repoRoot(t)
	flake := filepath.Join(root, "testdata", "fleets", "grove")
	cfg := labtest.Config(t, lab.Config{Machines: []lab.Machine{}})
	l := labtest.Open(t, cfg) // down even when a target fails
	varsDir := filepath.Join(t.TempDir(), "vars")
	assert.NilError(t, os.Mkdir(varsDir, 0o755))
	state := filepath.Join(t.TempDir(), "terraform", "terraform.tfstate.age")
	var env []string
	for _, kv := range adminkeystest.Env(os.Environ()) {
		k, _, _ := strings.Cut(kv, "=")
		keep := k == "VANIXIETS_HOME" || k == "VANIXIETS_TOOLS" || k == "VANIXIETS_CACHE_DIR" // the machine's tools and caches
		if !keep && (strings.HasPrefix(k, "VANIXIETS_") || strings.HasPrefix(k, "HCLOUD_")) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "VANIXIETS_LAB_DIR="+cfg.Dir, "VANIXIETS_LAB_NAME="+cfg.Name, "VANIXIETS_LAB_RANGE="+cfg.Range.String(),
		"VANIXIETS_FLAKE="+flake, "VANIXIETS_VARS_DIR="+varsDir, "VANIXIETS_TF_STATE="+state, "VANIXIETS_TF_STATE_NEW=1")
	bin := labtest.CompiledTargets(t)
	mage := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ssh := func(target string) {
		t.Helper()
		out, err := exec.Command("ssh", "-F", l.SSHConfigPath(), target, "id -u; cat /var/lib/vanixiets/generation 2>/dev/null || echo none").CombinedOutput()
		assert.NilError(t, err, "%s: %s", target, out)
	}

	out, err := mage("check:fleet")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "13 machines, 4 instances, 3 users: valid"))

	out, err = mage("lab:up")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "13 hosts up"))
	// Each host answers at its machine's targetHost, user and name.
	for _, target := range []string{"admin@ash.grove.test", "root@oak.grove.test", "kim@juniper.local", "lee@hazel.local"} {
		ssh(target)
	}

	out, err = mage("vars:generate")
	assert.NilError(t, err, out)
	out, err = mage("vars:check")
	assert.NilError(t, err, out)

	// @edge: ash and birch (enabled cloud: provisioned first, their lab
	// hosts kept) and willow (disabled: deployed as it is); @desk: the
	// darwin machines, reached as kim and lee.
	out, err = mage("deploy:fleet", "@edge", "@desk", "--yes")
	assert.NilError(t, err, out)
	t.Log(out)
	rows := labtest.SummaryRows(out)
	assert.DeepEqual(t, slices.Sorted(maps.Keys(rows)), []string{"ash", "birch", "hazel", "juniper", "maple", "willow"})
	for m, row := range rows {
		assert.Check(t, is.Contains(row, " ok"), "%s: %s", m, row)
		assert.Check(t, !strings.Contains(row, " 0 paths"), "%s copied nothing on its first deploy: %s", m, row)
	}
	assert.Check(t, is.Contains(out, "willow: cloud machine disabled in the fleet"))

	out, err = mage("deploy:fleet", "@edge", "@desk", "--yes")
	assert.NilError(t, err, out)
	t.Log(out)
	assert.Equal(t, len(labtest.SummaryRows(out)), 6, out)
	for m, row := range labtest.SummaryRows(out) {
		assert.Check(t, is.Contains(row, " 0 paths"), "%s: a redeploy with nothing changed copied: %s", m, row)
	}

	// The deploy created ash and birch through terraform: nothing is left
	// to plan, and willow (disabled) is not in the configuration.
	out, err = mage("tf:plan")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "no changes"))
	assert.Check(t, !strings.Contains(out, "willow"), out)
	out, err = mage("tf:apply", "--yes")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "no changes"))
	out, err = mage("tf:output")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "ash_ipv4 = "))
	assert.Check(t, is.Contains(out, "birch_ipv4 = "))
	// The provisioned server still answers at the fleet's targetHost.
	ssh("admin@ash.grove.test")

	assertMageDown(t, mage, before, l)
}
