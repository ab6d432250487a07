package terranix

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// The render, the fleet's evaluation and the flake check key on one file
// set (fleet.FilesOf), so the same content is the same input to each: for
// a flake in a subdirectory of a git repository, the tracked files of the
// whole repository (what nix reads: here a sibling directory the flake
// imports), and no untracked file.
func TestStepsShareTheFlakesFiles(t *testing.T) {
	ctx := context.Background()
	repo := t.TempDir()
	flake := filepath.Join(repo, "fleet")
	copyDir(t, "testdata/flake", flake)
	copyDir(t, "testdata/flake", filepath.Join(repo, "shared"))
	treetest.GitAdd(t, repo)
	assert.NilError(t, os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("untracked\n"), 0o644))

	render, err := (&Renderer{Flake: flake}).Step(ctx)
	assert.NilError(t, err)
	l := &fleet.Loader{Cache: cache.NewLocal(t.TempDir())}
	eval, err := l.EvalStep(ctx, flake)
	assert.NilError(t, err)
	check, err := l.CheckStep(ctx, flake)
	assert.NilError(t, err)

	h := digest.NewHasher("")
	want, err := render.Manifest(h)
	assert.NilError(t, err)
	paths := want.Paths()
	assert.Assert(t, is.Contains(paths, "fleet/flake.nix"))
	assert.Assert(t, is.Contains(paths, "shared/toggle.nix"), "a tracked file beside the flake, which it may import")
	assert.Assert(t, !slices.Contains(paths, "notes.txt"), "an untracked file, which nix never sees")
	assert.Equal(t, render.Params["dir"], "fleet")
	for _, tc := range []struct {
		name string
		step *pipeline.Step
	}{{"fleet evaluation", eval}, {"flake check", check}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.step.Manifest(h)
			assert.NilError(t, err)
			assert.Equal(t, got.Root, want.Root)
			assert.DeepEqual(t, got.Files, want.Files)
			assert.Equal(t, tc.step.Params["dir"], render.Params["dir"])
		})
	}
}
