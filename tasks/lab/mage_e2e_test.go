//go:build e2e

package lab_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// TestMageTargets is the "done when" through the mage targets a
// user types: lab:up, lab:status (8 alive), lab:ssh cinnabar -- nix
// --version, lab:down, with the lab moved to a private home, name and
// range so it never touches the default lab.
func TestMageTargets(t *testing.T) {
	t.Parallel()
	before := snapshot(t)
	root := repoRoot(t)
	cfg := labtest.Config(t, lab.Config{})
	home := t.TempDir()
	cfg.Dir = filepath.Join(home, "lab", cfg.Name)
	env := append(os.Environ(), "VANIXIETS_HOME="+home, "VANIXIETS_LAB_NAME="+cfg.Name, "VANIXIETS_LAB_RANGE="+cfg.Range.String())
	l := labtest.Open(t, cfg) // cleanup even when a target fails
	mage := func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "mage")}, args...)...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := mage("lab:up")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "8 hosts up"))
	out, err = mage("lab:status")
	assert.NilError(t, err, out)
	assert.Equal(t, strings.Count(out, " alive "), 8, out)
	out, err = mage("lab:ssh", "cinnabar", "--", "nix", "--version")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "nix (Nix) "))
	out, err = mage("lab:ssh", "galena", "exit 3")
	assert.Check(t, err != nil, out)
	out, err = mage("lab:up", "nosuch")
	assert.Check(t, err != nil)
	assert.Check(t, is.Contains(out, "unknown machine nosuch"))
	assertMageDown(t, mage, before, l)
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func repoRoot(t testing.TB) string {
	out, err := exec.Command(goBin(), "env", "GOMOD").Output()
	assert.NilError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}
