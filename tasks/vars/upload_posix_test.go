package vars

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
)

// TestUploadScriptIsPOSIX: the upload is a host script (package hostsh):
// every script an upload sends (both phases, a first upload, nothing
// changed, a file removed) and Pending's read parses in posh and dash and uses nothing a Mac
// lacks, and posh as the host's sh installs, skips, removes and reads as
// the other shells do.
func TestUploadScriptIsPOSIX(t *testing.T) {
	posh, err := exec.LookPath("posh")
	assert.NilError(t, err, "posh is not installed: apt-get install posh (scripts/setup.sh installs it)")
	dir := t.TempDir()
	assert.NilError(t, os.Symlink(posh, filepath.Join(dir, "sh")))
	e := newUploadEnv(t)
	r := &shellRemote{binDir: dir}
	ctx := context.Background()

	e.uploadBoth(t, r)
	for _, n := range []string{"boot/pw", "app/a", "cfg/b", "old/c"} {
		got, err := os.ReadFile(filepath.Join(e.root, n))
		assert.NilError(t, err, n)
		want, err := e.v.Get("m", n)
		assert.NilError(t, err)
		assert.DeepEqual(t, got, want)
	}
	res, err := e.v.Upload(ctx, r, "m", AfterActivation, e.root)
	assert.NilError(t, err)
	assert.DeepEqual(t, orNone(res.Sent), []string{})
	assert.DeepEqual(t, res.Skipped, []string{"app/a", "cfg/b", "old/c"})

	delete(e.f.Machines["m"].Generators, "old")
	e.replan()
	res, err = e.v.Upload(ctx, r, "m", AfterActivation, e.root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Removed, []string{"old/c"})
	_, err = os.Stat(filepath.Join(e.root, "old", "c"))
	assert.Assert(t, os.IsNotExist(err))

	// Pending's read-only script too.
	pend, err := e.v.Pending(ctx, r, "m", e.root)
	assert.NilError(t, err)
	assert.DeepEqual(t, orNone(pend.Pending), []string{})

	assert.Equal(t, len(r.stdins), 5)
	for i, s := range r.stdins {
		assert.Check(t, hostsh.Syntax(ctx, string(s)), "upload %d", i)
		assert.Check(t, is.Len(hostsh.Lint(string(s)), 0), "upload %d", i)
	}
}
