package vars

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// stepFleet is machine m with its host key, a public generator a and a
// public generator b that reads a's output.
func stepFleet(t *testing.T, bScript string) (*fleet.Fleet, map[string]*age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	gens := `{` + opensshGen + `,` +
		gen("a", `head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$out/a.pub"`, nil, "a.pub") + `,` +
		gen("b", bScript, []string{"a"}, "b.pub") + `}`
	return parseFleet(t, fleetJSON(gens, id.Recipient().String())), map[string]*age.X25519Identity{"admin": id}
}

const bScript = `cat "$in/a/a.pub" > "$out/b.pub"`

// runGeneration runs a fresh Generation of v recording in store and
// returns each unit's status and whether its key was a hit.
func runGeneration(t *testing.T, v *Vars, opts GenerateOptions, store cache.Store) (map[string]pipeline.Result, *Report) {
	t.Helper()
	g, err := newVarsAt(t, v).NewGeneration(opts)
	assert.NilError(t, err)
	res, err := g.Pipeline(store).Run(context.Background())
	assert.NilError(t, err)
	out := map[string]pipeline.Result{}
	for _, r := range res {
		out[r.Name] = r
	}
	return out, g.Report()
}

const (
	unitSSH = "per-machine/m/openssh"
	unitA   = "per-machine/m/a"
	unitB   = "per-machine/m/b"
)

func TestGenerationStepsMissThenHit(t *testing.T) {
	f, ids := stepFleet(t, bScript)
	v := newVars(t, f, ids, nil)
	store := cache.NewLocal(t.TempDir())

	res, rep := runGeneration(t, v, GenerateOptions{}, store)
	// Plan order: the public generators need no host key first.
	assert.DeepEqual(t, rep.Generated, []string{unitA, unitB, unitSSH})
	for _, u := range []string{unitSSH, unitA, unitB} {
		assert.Equal(t, res[u].Status, pipeline.Succeeded, u)
		assert.Equal(t, res[u].Hit, false, u)
	}

	before := treetest.Snapshot(t, v.Dir)
	res, rep = runGeneration(t, v, GenerateOptions{}, store)
	for _, u := range []string{unitSSH, unitA, unitB} {
		assert.Equal(t, res[u].Status, pipeline.Cached, u)
	}
	assert.Equal(t, len(rep.Generated), 0)
	assert.Equal(t, rep.UpToDate, 3)
	assert.DeepEqual(t, treetest.Snapshot(t, v.Dir), before)
}

// The committed directory is the source of truth: with no record at all
// (a fresh machine, an empty cache) a current unit runs its step, which
// finds the stamp current and generates nothing.
func TestGenerationStepsEmptyCacheRegeneratesNothing(t *testing.T) {
	f, ids := stepFleet(t, bScript)
	v := newVars(t, f, ids, nil)
	mustGenerate(t, v, GenerateOptions{})
	before := treetest.Snapshot(t, v.Dir)

	res, rep := runGeneration(t, v, GenerateOptions{}, cache.NewLocal(t.TempDir()))
	for _, u := range []string{unitSSH, unitA, unitB} {
		assert.Equal(t, res[u].Status, pipeline.Succeeded, u)
		assert.Equal(t, res[u].Hit, false, u)
	}
	assert.Equal(t, len(rep.Generated), 0)
	assert.Equal(t, rep.UpToDate, 3)
	assert.DeepEqual(t, treetest.Snapshot(t, v.Dir), before)
}

// A record never skips a unit whose committed files changed under it:
// Verify says no, the step runs and regenerates it and its dependent.
func TestGenerationStepsVerifyFalseOnChangedWorld(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		opts   GenerateOptions
		want   []string // generated
		cached []string // taken on the record
	}{
		{
			name: "value removed",
			change: func(t *testing.T, dir string) {
				assert.NilError(t, os.Remove(filepath.Join(dir, unitA, "a.pub", "value")))
			},
			want: []string{unitA, unitB},
		},
		{
			name: "stamp of another key",
			change: func(t *testing.T, dir string) {
				assert.NilError(t, os.WriteFile(filepath.Join(dir, unitA, ".validation-hash"), newStamp("other", "0"), 0o644))
			},
			want: []string{unitA, unitB},
		},
		{
			name: "stamp rewritten by another generation",
			change: func(t *testing.T, dir string) {
				p := filepath.Join(dir, unitB, ".validation-hash")
				b, err := os.ReadFile(p)
				assert.NilError(t, err)
				assert.NilError(t, os.WriteFile(p, newStamp(stampKey(b), "elsewhere"), 0o644))
			},
			// b's stamp is current but not the recorded one: b runs, finds
			// itself current and generates nothing.
			want:   nil,
			cached: []string{unitA},
		},
		{
			name: "regenerate",
			opts: GenerateOptions{Generators: []string{"a"}, Regenerate: true},
			want: []string{unitA, unitB},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ids := stepFleet(t, bScript)
			v := newVars(t, f, ids, nil)
			store := cache.NewLocal(t.TempDir())
			runGeneration(t, v, GenerateOptions{}, store)
			if tc.change != nil {
				tc.change(t, v.Dir)
			}
			res, rep := runGeneration(t, v, tc.opts, store)
			assert.DeepEqual(t, rep.Generated, tc.want)
			for _, u := range []string{unitA, unitB} {
				want := pipeline.Succeeded
				if slices.Contains(tc.cached, u) {
					want = pipeline.Cached
				}
				assert.Equal(t, res[u].Status, want, u)
			}
			assertCheckClean(t, v)
		})
	}
}

// Plan says which units would run, running none.
func TestGenerationStepsPlan(t *testing.T) {
	f, ids := stepFleet(t, bScript)
	v := newVars(t, f, ids, nil)
	store := cache.NewLocal(t.TempDir())

	hits := func(v *Vars) map[string]bool {
		g, err := newVarsAt(t, v).NewGeneration(GenerateOptions{})
		assert.NilError(t, err)
		pl, err := g.Pipeline(store).Plan(context.Background())
		assert.NilError(t, err)
		out := map[string]bool{}
		for _, p := range pl {
			out[p.Name] = p.Hit
		}
		assert.Equal(t, len(g.Report().Generated), 0)
		return out
	}
	assert.DeepEqual(t, hits(v), map[string]bool{unitSSH: false, unitA: false, unitB: false})
	_, err := os.Stat(v.Dir)
	assert.Assert(t, os.IsNotExist(err), "Plan wrote the vars directory")

	runGeneration(t, v, GenerateOptions{}, store)
	assert.DeepEqual(t, hits(v), map[string]bool{unitSSH: true, unitA: true, unitB: true})

	// b's script changed: its key is new, so b would run, and so would
	// the steps after it in plan order (openssh), whose keys take b's
	// outputs: the order is a dependency of each step (NewGeneration).
	f2, _ := stepFleet(t, `cat "$in/a/a.pub" "$in/a/a.pub" > "$out/b.pub"`)
	f2.Users = v.Fleet.Users
	v2 := newVarsAt(t, v)
	v2.Fleet = f2
	assert.DeepEqual(t, hits(v2), map[string]bool{unitSSH: false, unitA: true, unitB: false})
}
