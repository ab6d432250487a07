//go:build e2e

package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// TestMageFreshDefaultRun is what a user types on a fresh clone, through
// the mage binary with the default flake and the default (lab-backed) fake
// API: tf:plan shows cinnabar to create, tf:apply --yes creates it as a lab
// host, tf:provision finds it, tf:destroy --yes removes it. Only the lab
// (VANIXIETS_LAB_NAME/RANGE/DIR) and the state (VANIXIETS_TF_STATE) are
// moved to the test's own places, so the shared default lab and the
// repository's state are not touched.
func TestMageFreshDefaultRun(t *testing.T) {
	needAll(t)
	root := repoRoot(t)
	cfg := labtest.Config(t, lab.Config{})
	l := labtest.Open(t, cfg) // down even when a target fails
	state := filepath.Join(t.TempDir(), "terraform", "terraform.tfstate.age")
	t.Cleanup(func() { os.RemoveAll(terraform.DefaultWorkDir(state)) })
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "VANIXIETS_FLAKE", "VANIXIETS_YES", "VANIXIETS_FAKE_BACKEND", "HCLOUD_ENDPOINT", "HCLOUD_TOKEN", "VANIXIETS_TF_STATE",
			"GOOGLE_COMPUTE_CUSTOM_ENDPOINT", "GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "VANIXIETS_LAB_NAME="+cfg.Name, "VANIXIETS_LAB_RANGE="+cfg.Range.String(), "VANIXIETS_LAB_DIR="+cfg.Dir,
		"VANIXIETS_TF_STATE="+state, "VANIXIETS_TF_STATE_NEW=1") // a new state, on purpose
	mage := func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "mage")}, args...)...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := mage("tf:plan")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "machine cinnabar (hcloud_server.cinnabar): create"))
	assert.Check(t, is.Contains(out, "machine galena (google_compute_instance.galena): create"))
	assert.Check(t, !strings.Contains(out, "machine electrum"), out)
	out, err = mage("tf:apply", "--yes")
	assert.NilError(t, err, out)
	m := regexp.MustCompile(`cinnabar_ipv4 = "?([0-9.]+)`).FindStringSubmatch(out)
	assert.Assert(t, m != nil, out)
	addr := m[1]

	g := regexp.MustCompile(`galena_ipv4 = "?([0-9.]+)`).FindStringSubmatch(out)
	assert.Assert(t, g != nil, out)

	// Both clouds' machines are lab hosts at the addresses terraform reports.
	hs, err := l.Hosts()
	assert.NilError(t, err)
	assert.Equal(t, len(hs), 2)
	assert.Equal(t, hs[0].Name, "cinnabar")
	assert.Equal(t, hs[0].Addr.String(), addr)
	assert.Equal(t, hs[1].Name, "galena")
	assert.Equal(t, hs[1].Addr.String(), g[1])
	for _, target := range []string{"root@cinnabar", "root@galena"} {
		ssh, err := exec.Command("ssh", "-F", l.SSHConfigPath(), "-o", "BatchMode=yes", target, "true").CombinedOutput()
		assert.NilError(t, err, string(ssh))
	}

	out, err = mage("tf:provision", "cinnabar")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "cinnabar exists: "+addr))
	out, err = mage("tf:provision", "galena")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "galena exists: "+g[1]))
	// The GCP instance terraform made is deployed like any machine; a
	// second deploy copies nothing.
	out, err = mage("deploy:machine", "galena", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, regexp.MustCompile(`galena\s+0 -> 1\s+\d+ paths.*\sok\n`).MatchString(out), out)
	out, err = mage("deploy:machine", "galena", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, regexp.MustCompile(`galena\s+1 -> 1\s+0 paths, 0 B.*\sunchanged\n`).MatchString(out), out)
	out, err = mage("tf:provision", "stibnite")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "stibnite is not a cloud machine"))
	out, err = mage("tf:provision", "electrum")
	assert.Check(t, err != nil, out)
	assert.Check(t, is.Contains(out, "electrum is disabled in the fleet (cloud.enabled = false); enable it and run tf:apply"))
	out, err = mage("tf:plan")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "no changes"))

	out, err = mage("tf:destroy", "--yes")
	assert.NilError(t, err, out)
	hs, err = l.Hosts()
	assert.NilError(t, err)
	assert.Equal(t, len(hs), 0, "the servers' lab hosts went with them")
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
