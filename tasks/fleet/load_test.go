package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// testLoader has its own cache directory and an in-memory stat cache, so
// tests never see each other's (or the user's) cached evaluations.
func testLoader(tb testing.TB) *Loader {
	n := nixtest.New(tb)
	return &Loader{Nix: n, Cache: cache.NewLocal(tb.TempDir()), Hasher: digest.NewHasher("")}
}

// repoLab is the repository's lab flake directory.
func repoLab(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "lab"))
	assert.NilError(tb, err)
	return dir
}

// copyTree copies src into dst (regular files and directories).
func copyTree(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	assert.NilError(tb, err)
}

// copyFlake copies a testdata flake to a fresh directory outside git.
func copyFlake(tb testing.TB, name string) string {
	tb.Helper()
	dst := tb.TempDir()
	copyTree(tb, filepath.Join("testdata", "flakes", name), dst)
	return dst
}

// copyLab copies the lab flake with its data (lab/, modules/_fleet/) into a
// fresh git repository, lets mutate edit it, and commits nothing but adds
// every file (nix reads a git flake's tracked files). It returns the lab
// directory of the copy.
func copyLab(tb testing.TB, mutate func(root string)) string {
	tb.Helper()
	root := tb.TempDir()
	repo := filepath.Join(repoLab(tb), "..")
	copyTree(tb, filepath.Join(repo, "lab", "flake.nix"), filepath.Join(root, "lab", "flake.nix"))
	copyTree(tb, filepath.Join(repo, "lab", "nix"), filepath.Join(root, "lab", "nix"))
	copyTree(tb, filepath.Join(repo, "lab", "keys", "deploy_ed25519.pub"), filepath.Join(root, "lab", "keys", "deploy_ed25519.pub"))
	copyTree(tb, filepath.Join(repo, "modules", "_fleet"), filepath.Join(root, "modules", "_fleet"))
	// the lab's terraform output imports the GCP instance shape it shares with the real fleet
	copyTree(tb, filepath.Join(repo, "modules", "terranix"), filepath.Join(root, "modules", "terranix"))
	if mutate != nil {
		mutate(root)
	}
	treetest.GitAdd(tb, root)
	return filepath.Join(root, "lab")
}

func replaceIn(tb testing.TB, path, old, new string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(tb, err)
	assert.Assert(tb, strings.Contains(string(b), old), "%s has no %q", path, old)
	assert.NilError(tb, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// The lab evaluates to exactly testdata/lab-fleet.json, and a second load of
// the unchanged flake comes from the cache without starting nix.
func TestLoadLab(t *testing.T) {
	l := testLoader(t)
	ctx := context.Background()
	raw, hit, err := l.JSON(ctx, repoLab(t))
	assert.NilError(t, err)
	assert.Assert(t, !hit)
	var indented bytes.Buffer
	assert.NilError(t, json.Indent(&indented, raw, "", " "))
	indented.WriteByte('\n')
	// after editing modules/_fleet: go test ./tasks/fleet -run TestLoadLab -update
	golden.Assert(t, indented.String(), "lab-fleet.json")
	f, hit, err := l.LoadUnvalidated(ctx, repoLab(t))
	assert.NilError(t, err)
	assert.Assert(t, hit)
	assert.NilError(t, f.Validate())
	assert.DeepEqual(t, f, readFleet(t, "lab-fleet.json"))

	before := nix.Invocations()
	f2, err := l.Load(ctx, repoLab(t))
	assert.NilError(t, err)
	assert.Equal(t, nix.Invocations(), before, "a warm load started nix")
	assert.DeepEqual(t, f2, f)
}

// The user's real flake only needs to expose `fleet`: a different flake,
// written in clan's style, reads the same way; editing it re-evaluates.
func TestLoadSecondFlake(t *testing.T) {
	l := testLoader(t)
	ctx := context.Background()
	dir := copyFlake(t, "second")
	f, err := l.Load(ctx, dir)
	assert.NilError(t, err)
	assert.DeepEqual(t, f.MachineNames(), []string{"jasper", "obsidian", "quartz"})
	assert.Equal(t, f.ZerotierController(), "quartz")
	assert.DeepEqual(t, f.MachinesOf("zerotier", "peer"), []string{"jasper", "obsidian"})
	assert.Equal(t, len(f.Admins("obsidian")), 1)
	assert.Equal(t, f.Admins("jasper")[0].Name, "dana")
	assert.Assert(t, f.Machines["jasper"].CloudEnabled())
	assert.Equal(t, f.Machines["obsidian"].Generators["openssh"].Files["ssh.id_ed25519.pub"].Secret, false)

	_, hit, err := l.LoadUnvalidated(ctx, dir)
	assert.NilError(t, err)
	assert.Assert(t, hit)

	replaceIn(t, filepath.Join(dir, "flake.nix"), `system = "aarch64-linux";`, `system = "aarch64-linux"; description = "edited";`)
	f, hit, err = l.LoadUnvalidated(ctx, dir)
	assert.NilError(t, err)
	assert.Assert(t, !hit, "an edited flake was served from the cache")
	assert.Equal(t, f.Machines["jasper"].Description, "edited")
}

func TestLoadErrors(t *testing.T) {
	l := testLoader(t)
	ctx := context.Background()
	syntaxDir := copyFlake(t, "syntax-error")
	for _, tc := range []struct {
		name string
		dir  string
		want []string
	}{
		{"syntax-error", syntaxDir, []string{"nix eval ", "#fleet: syntax error", "at " + syntaxDir + "/flake.nix:4:3"}},
		{"no-fleet", copyFlake(t, "no-fleet"), []string{"has no `fleet` output: expose the inventory as outputs.fleet", "does not provide attribute"}},
		{"wrong-shape", copyFlake(t, "wrong-shape"), []string{`fleet: machine "topaz": field "tags": want a list, got a JSON string`}},
		{"missing-path", filepath.Join(t.TempDir(), "nowhere"), []string{"nowhere does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Load(ctx, tc.dir)
			assert.Assert(t, err != nil)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestLoadSyntaxErrorIsEvalError(t *testing.T) {
	_, err := testLoader(t).Load(context.Background(), copyFlake(t, "syntax-error"))
	var ee *nix.EvalError
	assert.Assert(t, errors.As(err, &ee), "got %T: %v", err, err)
}

func TestLoadWithoutNix(t *testing.T) {
	t.Setenv("VANIXIETS_NIX", filepath.Join(t.TempDir(), "no-nix"))
	l := &Loader{Cache: cache.NewLocal(t.TempDir()), Hasher: digest.NewHasher("")}
	_, err := l.Load(context.Background(), copyFlake(t, "second"))
	assert.ErrorContains(t, err, "nix not found: run scripts/install-nix.sh (installs Debian's nix-bin)")
}

// A broken copy of the lab (two zerotier controllers) fails both the Go
// validation and the lab's own `nix flake check`; the intact copy passes,
// and a second check of the same content is served from the cache.
func TestCheckFlake(t *testing.T) {
	l := testLoader(t)
	ctx := context.Background()

	good := copyLab(t, nil)
	res, err := l.CheckFlake(ctx, good)
	assert.NilError(t, err)
	assert.Assert(t, !res.Cached)
	before := nix.Invocations()
	res, err = l.CheckFlake(ctx, good)
	assert.NilError(t, err)
	assert.Assert(t, res.Cached)
	assert.Equal(t, nix.Invocations(), before)

	bad := copyLab(t, func(root string) {
		replaceIn(t, filepath.Join(root, "modules", "_fleet", "instances.nix"),
			"roles.controller.machines.cinnabar = { };", "roles.controller.machines = { cinnabar = { }; galena = { }; };")
	})
	_, err = l.Load(ctx, bad)
	assert.ErrorContains(t, err, `instance "zerotier": 2 zerotier controllers cinnabar, galena (want exactly one)`)
	_, err = l.CheckFlake(ctx, bad)
	assert.ErrorContains(t, err, "zerotier: want exactly one controller, have 2")
	var be *nix.BuildError
	assert.Assert(t, errors.As(err, &be), "got %T", err)
	// failures are not cached: the next check runs (and fails) again
	before = nix.Invocations()
	_, err = l.CheckFlake(ctx, bad)
	assert.Assert(t, err != nil)
	assert.Assert(t, nix.Invocations() > before)
}

func TestSourceKeyCoversFleetData(t *testing.T) {
	lab := copyLab(t, nil)
	l := &Loader{Nix: nixtest.New(t), Cache: cache.NewLocal(t.TempDir()), Hasher: digest.NewHasher("")}
	ff, err := FilesOf(context.Background(), lab)
	assert.NilError(t, err)
	m, err := ff.hash(l.Hasher)
	assert.NilError(t, err)
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	assert.Assert(t, is.Contains(paths, "lab/flake.nix"))
	assert.Assert(t, is.Contains(paths, "modules/_fleet/machines.nix"))
	k1 := evalKey(t, l, lab)
	replaceIn(t, filepath.Join(lab, "..", "modules", "_fleet", "machines.nix"), `serverType = "cx22";`, `serverType = "cx32";`)
	k2 := evalKey(t, l, lab)
	assert.Assert(t, k1 != k2)
	check, err := l.CheckStep(context.Background(), lab)
	assert.NilError(t, err)
	m, err = ff.hash(l.Hasher)
	assert.NilError(t, err)
	assert.Assert(t, pipeline.StepKey(check, m, nil) != k2)
}
