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
	mage, l := freshMage(t)
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
	// Each boots its cloud's bare image: sshd and a shell, no Nix.
	for _, h := range hs {
		assert.Equal(t, h.Boot, lab.BootImage, h.Name)
		assertNoNix(t, l, h.Target)
	}

	out, err = mage("tf:provision", "cinnabar")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "cinnabar exists: "+addr))
	out, err = mage("tf:provision", "galena")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "galena exists: "+g[1]))
	// The GCP instance terraform made is installed by its first deploy,
	// then deployed like any machine; a second deploy copies nothing.
	out, err = mage("deploy:machine", "galena", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "no Nix on the host (a bare image): kexec into the installer"))
	assert.Check(t, regexp.MustCompile(`galena\s+0 -> 1\s+[1-9]\d* paths.*\sinstalled\n`).MatchString(out), out)
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

// freshMage runs the mage targets as a user on a fresh clone types them:
// the default flake and the default (lab-backed) fake APIs, with only the
// lab (VANIXIETS_LAB_NAME/RANGE/DIR, taken down after the test) and the
// state (VANIXIETS_TF_STATE, a new one) moved to the test's own places,
// so the shared default lab and the repository's state are not touched.
func freshMage(t *testing.T) (mage func(args ...string) (string, error), l *lab.Lab) {
	needAll(t)
	root := repoRoot(t)
	cfg := labtest.Config(t, lab.Config{})
	l = labtest.Open(t, cfg) // down even when a target fails
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
	return func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "mage")}, args...)...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}, l
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// assertNoNix checks over real ssh that the host at target has no Nix
// command and an empty /nix: a cloud image, not a lab host.
func assertNoNix(t *testing.T, l *lab.Lab, target string) {
	t.Helper()
	out, err := exec.Command("ssh", "-F", l.SSHConfigPath(), "-o", "BatchMode=yes", target,
		"command -v nix-daemon || command -v nix || ls -A /nix; echo end").CombinedOutput()
	assert.NilError(t, err, string(out))
	assert.Equal(t, strings.TrimSpace(string(out)), "end", "%s has Nix", target)
}

// TestMageInstallFromNothing: tf:provision then deploy:machine take a
// cloud machine from nothing to running its system (the deploy installs
// the bare image), a second deploy copies nothing; deploy:fleet of the
// four cloud machines, none existing, creates and installs the enabled
// ones (cinnabar and galena, at once) and deploys the disabled ones to
// their lab hosts as they are; once more, nothing is copied anywhere.
func TestMageInstallFromNothing(t *testing.T) {
	mage, l := freshMage(t)
	out, err := mage("tf:provision", "cinnabar", "--yes")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "cinnabar: created at"), out)
	assertNoNix(t, l, "root@cinnabar")

	out, err = mage("deploy:machine", "cinnabar", "--timeout", "10s")
	assert.NilError(t, err, out)
	for _, line := range []string{"kexec into the installer", "copying the closure to the disk", "rebooting into the installed system"} {
		assert.Check(t, is.Contains(out, line))
	}
	assert.Check(t, regexp.MustCompile(`cinnabar\s+0 -> 1\s+[1-9]\d* paths.*\sinstalled\n`).MatchString(out), out)
	out, err = mage("deploy:machine", "cinnabar", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, regexp.MustCompile(`cinnabar\s+1 -> 1\s+0 paths, 0 B.*\sunchanged\n`).MatchString(out), out)

	out, err = mage("tf:destroy", "--yes")
	assert.NilError(t, err, out)
	out, err = mage("deploy:fleet", "@hetzner,@gcp", "--yes", "--timeout", "10s")
	assert.NilError(t, err, out)
	for _, m := range []string{"cinnabar", "galena"} {
		assert.Check(t, is.Contains(out, m+": created at"), out)
		assert.Check(t, regexp.MustCompile(m+`\s+0 -> 1\s+[1-9]\d* paths.*\sinstalled\n`).MatchString(out), out)
	}
	for _, m := range []string{"electrum", "scheelite"} {
		assert.Check(t, is.Contains(out, m+": cloud machine disabled in the fleet"), out)
		assert.Check(t, regexp.MustCompile(m+`\s+0 -> 1\s+[1-9]\d* paths.*\sok\n`).MatchString(out), out)
	}
	hs, err := l.Hosts()
	assert.NilError(t, err)
	boots := map[string]string{}
	for _, h := range hs {
		boots[h.Name] = h.Boot
	}
	assert.DeepEqual(t, boots, map[string]string{"cinnabar": lab.BootInstalled, "galena": lab.BootInstalled, "electrum": "", "scheelite": ""})

	out, err = mage("deploy:fleet", "@hetzner,@gcp", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, !strings.Contains(out, "created at"), out)
	assert.Equal(t, len(regexp.MustCompile(`\s0 paths, 0 B.*\sunchanged\n`).FindAllString(out, -1)), 4, out)
}
