package deploy

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// The deploy's evaluation and build key on the flake's files as every
// other flake step does (fleet.FilesOf): the fleet's evaluation, the flake
// check and the terranix render (tasks/terranix TestStepsShareTheFlakesFiles)
// hash the same set, so one content is one input everywhere.
func TestDeployKeysTheFlakesFiles(t *testing.T) {
	n := nixtest.New(t)
	ctx := context.Background()
	repo := t.TempDir()
	for p, body := range map[string]string{
		"fleet/flake.nix":  "{ outputs = _: { fleet = import ../shared/fleet.nix; }; }\n",
		"shared/fleet.nix": "{ }\n",
		"docs/notes.md":    "tracked, and so read by nix\n",
	} {
		assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(repo, p)), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(repo, p), []byte(body), 0o644))
	}
	treetest.GitAdd(t, repo)
	assert.NilError(t, os.WriteFile(filepath.Join(repo, "untracked.txt"), []byte("nix never sees it\n"), 0o644))
	flake := filepath.Join(repo, "fleet")

	o := Options{Flake: flake, Nix: n, Cache: cache.NewLocal(t.TempDir())}
	assert.NilError(t, o.defaults())
	d := &Deployer{opt: o, flake: flake}
	l := &fleet.Loader{Nix: n, Cache: o.Cache}
	eval, err := l.EvalStep(ctx, flake)
	assert.NilError(t, err)

	h := digest.NewHasher("")
	want, err := eval.Manifest(h)
	assert.NilError(t, err)
	assert.DeepEqual(t, want.Paths(), []string{"docs/notes.md", "fleet/flake.nix", "shared/fleet.nix"})
	for _, tc := range []struct {
		name string
		step *pipeline.Step
	}{{"evaluate", d.evalStep()}, {"build", d.steps(nil)[1]}} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.step.Name, tc.name)
			got, err := tc.step.Manifest(h)
			assert.NilError(t, err)
			assert.Equal(t, got.Root, want.Root)
			assert.DeepEqual(t, got.Files, want.Files)
		})
	}
}
