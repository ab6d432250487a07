//go:build e2e

package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// TestMageDeployFlags runs the deploy targets as a user types them, against
// a private lab: --dry-run, --mode, --timeout, trailing fleet selectors,
// and the errors for bad input.
func TestMageDeployFlags(t *testing.T) {
	labtest.NeedRoot(t)
	root := labtest.Repo()
	cfg := labtest.Config(t, lab.Config{})
	home := t.TempDir()
	cfg.Dir = filepath.Join(home, "lab", cfg.Name)
	labtest.Open(t, cfg) // taken down even when a target fails
	env := append(adminkeystest.Env(os.Environ()), "VANIXIETS_HOME="+home, "VANIXIETS_LAB_NAME="+cfg.Name, "VANIXIETS_LAB_RANGE="+cfg.Range.String(),
		"VANIXIETS_FLAKE=",
		"VANIXIETS_TF_STATE="+filepath.Join(home, "tf", "terraform.tfstate.age"), "VANIXIETS_TF_STATE_NEW=1", "VANIXIETS_YES=",
		"VANIXIETS_TOOLS="+paths.Tools()) // terraform and the hcloud provider from scripts/install-terraform.sh
	mage := func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "mage")}, args...)...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := mage("deploy:machine", "cinnabar", "--dry-run")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "planned"))
	assert.Check(t, is.Contains(out, "would copy"))

	out, err = mage("deploy:fleet", "@server", "stibnite", "--dry-run", "--flake", filepath.Join(root, "lab"))
	assert.NilError(t, err, out)
	for _, m := range []string{"cinnabar", "electrum", "galena", "scheelite", "stibnite"} {
		assert.Check(t, is.Contains(out, m+" "), out)
	}
	assert.Check(t, !strings.Contains(out, "argentum "), out)

	// cinnabar is a Hetzner machine with no server yet: without a terminal
	// and without --yes the deploy stops before changing anything.
	out, err = mage("deploy:machine", "cinnabar")
	assert.Check(t, err != nil, out)
	assert.Check(t, is.Contains(out, "pass --yes"), out)

	// With --yes it is provisioned (terraform + the fake Hetzner API make
	// its lab host), then deployed: provision -> install -> deploy.
	out, err = mage("deploy:machine", "cinnabar", "--mode", "test", "--timeout", "10s", "--yes")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "cinnabar: created at"), out)
	assert.Check(t, is.Contains(out, "3/3"), out)
	assert.Check(t, is.Contains(out, " ok"), out)

	// Now it exists: no terraform change, no question.
	out, err = mage("deploy:machine", "cinnabar")
	assert.NilError(t, err, out)
	assert.Check(t, !strings.Contains(out, "created at"), out)
	assert.Check(t, is.Contains(out, " ok"), out)

	// --no-provision never runs terraform: stibnite is no cloud machine
	// anyway, electrum is disabled (deployed to its lab host as it is).
	out, err = mage("deploy:fleet", "electrum", "stibnite", "--no-provision")
	assert.NilError(t, err, out)
	out, err = mage("deploy:machine", "electrum")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "cloud machine disabled in the fleet"), out)

	for _, bad := range [][]string{
		{"deploy:machine", "nosuch"},
		{"deploy:machine", "cinnabar", "--mode", "reboot"},
		{"deploy:machine", "cinnabar", "--timeout", "soon"},
		{"deploy:fleet", "@nosuchtag"},
	} {
		out, err = mage(bad...)
		assert.Check(t, err != nil, "%v: %s", bad, out)
		last := strings.TrimSpace(out)
		if i := strings.LastIndex(last, "\n"); i >= 0 {
			last = last[i+1:]
		}
		t.Logf("%v -> %s", bad, last)
	}
	assert.Check(t, is.Contains(out, `no machine has tag "nosuchtag"`))
}
