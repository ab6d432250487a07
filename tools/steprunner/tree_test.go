package main

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestCopyTreeKeepsSourceLinks: a relative symlink of the source tree
// (clan's recipient link) is made again in the private copy even when the
// inputs reach it the way Bazel hands them over (absolute symlinks from a
// runfiles tree into the workspace); Bazel's absolute links are resolved.
func TestCopyTreeKeepsSourceLinks(t *testing.T) {
	ws := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(ws, rel)
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	write("lab/sops/machines/m/key.json", "key")
	write("lab/vars/per-machine/m/g/f/secret", "sec")
	assert.NilError(t, os.MkdirAll(filepath.Join(ws, "lab/vars/per-machine/m/g/f/machines"), 0o755))
	assert.NilError(t, os.Symlink("../../../../../../sops/machines/m", filepath.Join(ws, "lab/vars/per-machine/m/g/f/machines/m")))

	// The runfiles tree: real directories, every file an absolute link.
	run := t.TempDir()
	inputs := []string{"lab/sops/machines/m/key.json", "lab/vars/per-machine/m/g/f/secret", "lab/vars/per-machine/m/g/f/machines/m/key.json"}
	for _, f := range inputs {
		assert.NilError(t, os.MkdirAll(filepath.Join(run, filepath.Dir(f)), 0o755))
		assert.NilError(t, os.Symlink(filepath.Join(ws, f), filepath.Join(run, f)))
	}
	wd, err := os.Getwd()
	assert.NilError(t, err)
	assert.NilError(t, os.Chdir(run))
	defer os.Chdir(wd)

	tree, err := copyTree(inputs)
	assert.NilError(t, err)
	defer os.RemoveAll(tree)
	link := filepath.Join(tree, "lab/vars/per-machine/m/g/f/machines/m")
	target, err := os.Readlink(link)
	assert.NilError(t, err, "the recipient link was not made again")
	assert.Check(t, is.Equal(target, "../../../../../../sops/machines/m"))
	b, err := os.ReadFile(filepath.Join(link, "key.json"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "key"))
	st, err := os.Lstat(filepath.Join(tree, "lab/vars/per-machine/m/g/f/secret"))
	assert.NilError(t, err)
	assert.Check(t, st.Mode().IsRegular(), "Bazel's link to a plain file must be resolved")

	// In the checkout itself (no Bazel links) the same link is found; one
	// whose target leaves the inputs' tree (even to come back) is not.
	write("lab/escape/x", "out")
	assert.NilError(t, os.Symlink("../../../"+filepath.Base(ws)+"/lab/escape", filepath.Join(ws, "lab/vars/up")))
	assert.NilError(t, os.Chdir(ws))
	got, _, ok := sourceLink("lab/vars/per-machine/m/g/f/machines/m/key.json")
	assert.Check(t, ok)
	assert.Check(t, is.Equal(got, "lab/vars/per-machine/m/g/f/machines/m"))
	_, err = os.Stat("lab/vars/up/x")
	assert.NilError(t, err)
	_, _, ok = sourceLink("lab/vars/up/x")
	assert.Check(t, !ok, "a link leaving the tree was kept")
}
