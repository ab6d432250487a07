package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
)

// hermeticGit makes every git this test starts (its own and the runner's)
// independent of the machine: no global or system config (a brand-new
// machine has none, another may have hooks, templates or a different default
// branch), and an identity for commits given here rather than found in
// $HOME. Test repositories live in the test's own temp dirs, owned by the
// user running it, so git's safe.directory check passes without settings.
func hermeticGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed: the CI runner keys jobs by the files git tracks or would track; install git (scripts/setup.sh does)")
	}
	empty := filepath.Join(t.TempDir(), "gitconfig")
	assert.NilError(t, os.WriteFile(empty, nil, 0o644))
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   empty,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "vanixiets test",
		"GIT_AUTHOR_EMAIL":    "test@vanixiets.invalid",
		"GIT_COMMITTER_NAME":  "vanixiets test",
		"GIT_COMMITTER_EMAIL": "test@vanixiets.invalid",
	} {
		t.Setenv(k, v)
	}
}

// git runs git in dir and fails the test with its output on error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, "git %v: %s", args, out)
	return string(out)
}

// gitRepo turns dir into a repository with everything in it committed.
func gitRepo(t *testing.T, dir string) {
	t.Helper()
	hermeticGit(t)
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "init")
}
