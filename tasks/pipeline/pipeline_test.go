package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

// counter records how often each step really ran.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) step(name string, deps ...string) *Step {
	return &Step{Name: name, Def: "v1", Deps: deps, Run: func(ctx context.Context, in Input) (Outputs, error) {
		c.mu.Lock()
		if c.runs == nil {
			c.runs = map[string]int{}
		}
		c.runs[name]++
		c.mu.Unlock()
		out := Outputs{"name": name}
		for d, o := range in.Deps {
			out["from-"+d] = o["name"]
		}
		return out, nil
	}}
}

func newPipeline(t *testing.T, steps ...*Step) *Pipeline {
	return &Pipeline{Steps: steps, Cache: cache.NewLocal(t.TempDir()), Hasher: digest.NewHasher("")}
}

func statuses(rs []Result) map[string]Status {
	m := map[string]Status{}
	for _, r := range rs {
		m[r.Name] = r.Status
	}
	return m
}

func TestRunOrderAndOutputs(t *testing.T) {
	var c counter
	p := newPipeline(t, c.step("c", "a", "b"), c.step("a"), c.step("b", "a"))
	rs, err := p.Run(context.Background())
	assert.NilError(t, err)
	assert.DeepEqual(t, rs[0].Outputs, Outputs{"name": "c", "from-a": "a", "from-b": "b"})
	assert.DeepEqual(t, statuses(rs), map[string]Status{"a": Succeeded, "b": Succeeded, "c": Succeeded})
}

func TestSecondRunIsCached(t *testing.T) {
	var c counter
	p := newPipeline(t, c.step("a"), c.step("b", "a"))
	_, err := p.Run(context.Background())
	assert.NilError(t, err)
	rs, err := p.Run(context.Background())
	assert.NilError(t, err)
	assert.DeepEqual(t, statuses(rs), map[string]Status{"a": Cached, "b": Cached})
	assert.Assert(t, rs[0].Hit && rs[1].Hit)
	assert.DeepEqual(t, rs[1].Outputs, Outputs{"name": "b", "from-a": "a"})
	assert.DeepEqual(t, c.runs, map[string]int{"a": 1, "b": 1})
}

// What changes a key, and therefore reruns a step and its dependents.
func TestKeyInputs(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, root string, s *Step)
		rerun  bool
	}{
		{"nothing", func(*testing.T, string, *Step) {}, false},
		{"file content", func(t *testing.T, root string, _ *Step) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "in/a.txt"), []byte("changed"), 0o644))
		}, true},
		{"file mode", func(t *testing.T, root string, _ *Step) {
			assert.NilError(t, os.Chmod(filepath.Join(root, "in/a.txt"), 0o755))
		}, true},
		{"file rename", func(t *testing.T, root string, _ *Step) {
			assert.NilError(t, os.Rename(filepath.Join(root, "in/a.txt"), filepath.Join(root, "in/z.txt")))
		}, true},
		{"unmatched file", func(t *testing.T, root string, _ *Step) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "other.md"), []byte("x"), 0o644))
		}, false},
		{"param", func(_ *testing.T, _ string, s *Step) { s.Params = map[string]string{"machine": "galena"} }, true},
		{"tool version", func(_ *testing.T, _ string, s *Step) { s.Tools = map[string]string{"nix": "2.24"} }, true},
		{"definition", func(_ *testing.T, _ string, s *Step) { s.Def = "v2" }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := fs.NewDir(t, "pipe", fs.WithDir("in", fs.WithFile("a.txt", "a"), fs.WithFile("b.txt", "b")))
			var c counter
			a := c.step("a")
			a.Root, a.Files = dir.Path(), []string{"in/*.txt"}
			a.Params = map[string]string{"machine": "cinnabar"}
			a.Tools = map[string]string{"nix": "2.8.0"}
			p := newPipeline(t, a, c.step("b", "a"))
			first, err := p.Run(context.Background())
			assert.NilError(t, err)
			tc.change(t, dir.Path(), a)
			second, err := p.Run(context.Background())
			assert.NilError(t, err)
			assert.Equal(t, first[0].Key != second[0].Key, tc.rerun)
			want := map[string]int{"a": 1, "b": 1}
			if tc.rerun {
				want = map[string]int{"a": 2, "b": 2}
			}
			assert.DeepEqual(t, c.runs, want)
		})
	}
}

func TestBadGraphs(t *testing.T) {
	var c counter
	tests := []struct {
		name  string
		steps []*Step
		want  string
	}{
		{"cycle", []*Step{c.step("a", "c"), c.step("b", "a"), c.step("c", "b")}, "dependency cycle: a -> c -> b -> a"},
		{"self", []*Step{c.step("a", "a")}, "dependency cycle: a -> a"},
		{"unknown dep", []*Step{c.step("a", "nope")}, `step "a" depends on unknown step "nope"`},
		{"duplicate", []*Step{c.step("a"), c.step("a")}, `two steps are named "a"`},
		{"no run", []*Step{{Name: "x"}}, `step "x" has no Run function`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newPipeline(t, tc.steps...).Run(context.Background())
			assert.ErrorContains(t, err, tc.want)
		})
	}
	assert.Equal(t, len(c.runs), 0, "nothing runs in an invalid graph")
}

func TestRequiredGlobMatchingNothing(t *testing.T) {
	var c counter
	a := c.step("a")
	a.Root, a.Files, a.Required = t.TempDir(), []string{"docs/*.md"}, true
	rs, err := newPipeline(t, a).Run(context.Background())
	assert.ErrorContains(t, err, `input glob "docs/*.md"`)
	assert.ErrorContains(t, err, "matches no file")
	assert.Equal(t, rs[0].Status, Failed)
}

func TestFailureSkipsDependentsOnly(t *testing.T) {
	var c counter
	bad := &Step{Name: "bad", Run: func(context.Context, Input) (Outputs, error) {
		return Outputs{"sent": "3"}, errors.New("boom")
	}}
	p := newPipeline(t, bad, c.step("after", "bad"), c.step("independent"))
	rs, err := p.Run(context.Background())
	assert.ErrorContains(t, err, "bad (failed: boom)")
	assert.DeepEqual(t, statuses(rs), map[string]Status{"bad": Failed, "after": Skipped, "independent": Succeeded})
	// What the step did before it failed is in its result, for a report.
	assert.DeepEqual(t, rs[0].Outputs, Outputs{"sent": "3"})
	// A failure is never recorded: the next run runs it again.
	rs, _ = p.Run(context.Background())
	assert.Equal(t, rs[0].Status, Failed)
	assert.Equal(t, rs[2].Status, Cached)
}

func TestParallelLimit(t *testing.T) {
	var now, peak atomic.Int32
	var steps []*Step
	for i := 0; i < 12; i++ {
		steps = append(steps, &Step{Name: fmt.Sprint(i), NoCache: true, Run: func(context.Context, Input) (Outputs, error) {
			n := now.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			now.Add(-1)
			return nil, nil
		}})
	}
	p := newPipeline(t, steps...)
	p.Parallel = 3
	_, err := p.Run(context.Background())
	assert.NilError(t, err)
	assert.Equal(t, peak.Load(), int32(3))
}

func TestCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var cleaned atomic.Bool
	slow := &Step{Name: "slow", Run: func(ctx context.Context, _ Input) (Outputs, error) {
		close(started)
		<-ctx.Done()
		cleaned.Store(true) // the step got the cancellation and cleaned up
		return nil, ctx.Err()
	}}
	var c counter
	p := newPipeline(t, slow, c.step("after", "slow"))
	go func() { <-started; cancel() }()
	rs, err := p.Run(ctx)
	assert.ErrorContains(t, err, "cancelled")
	assert.DeepEqual(t, statuses(rs), map[string]Status{"slow": Cancelled, "after": Cancelled})
	assert.Assert(t, cleaned.Load())
	assert.Equal(t, c.runs["after"], 0)
	// Nothing was recorded for the cancelled step.
	_, ok, _ := p.Cache.Get(context.Background(), rs[0].Key)
	assert.Assert(t, !ok)
}

func TestGracePeriodExpires(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stuck := &Step{Name: "stuck", Run: func(context.Context, Input) (Outputs, error) {
		defer close(returned)
		close(started)
		<-release // ignores cancellation
		return nil, nil
	}}
	// No cache: the step, abandoned, still records its success after it
	// returns, and that write into the test's temporary directory would
	// race the directory's removal.
	p := &Pipeline{Steps: []*Step{stuck}, Hasher: digest.NewHasher(""), Grace: 50 * time.Millisecond}
	go func() { <-started; cancel() }()
	rs, err := p.Run(ctx)
	// Run gave up on the step after the grace period: the step is still
	// running, and Run did not wait for it.
	select {
	case <-returned:
		t.Fatal("Run waited for a step that ignores cancellation")
	default:
	}
	close(release)
	<-returned
	assert.Assert(t, err != nil)
	assert.Equal(t, rs[0].Status, Cancelled)
	assert.ErrorContains(t, rs[0].Err, "did not stop within 50ms")
}

func TestEffectStepsVerifyOnHit(t *testing.T) {
	tests := []struct {
		name    string
		verify  func(context.Context, Input, Outputs) (bool, error)
		wantRun int
		want    Status
	}{
		{"no verify always runs", nil, 2, Succeeded},
		{"world matches", func(context.Context, Input, Outputs) (bool, error) { return true, nil }, 1, Cached},
		{"world drifted", func(context.Context, Input, Outputs) (bool, error) { return false, nil }, 2, Succeeded},
		{"verify fails", func(context.Context, Input, Outputs) (bool, error) { return false, errors.New("unreachable") }, 2, Succeeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c counter
			s := c.step("apply")
			s.Effect, s.Verify = true, tc.verify
			p := newPipeline(t, s)
			_, err := p.Run(context.Background())
			assert.NilError(t, err)
			rs, err := p.Run(context.Background())
			assert.NilError(t, err)
			assert.Equal(t, rs[0].Status, tc.want)
			assert.Equal(t, c.runs["apply"], tc.wantRun)
		})
	}
}

func TestCorruptCacheEntryIsRebuilt(t *testing.T) {
	var c counter
	dir := t.TempDir()
	p := newPipeline(t, c.step("a"))
	p.Cache = &cache.Local{Dir: dir, Warn: func(string) {}}
	rs, err := p.Run(context.Background())
	assert.NilError(t, err)
	entry := filepath.Join(dir, rs[0].Key[:2], rs[0].Key)
	assert.NilError(t, os.WriteFile(entry, []byte("vxc1 garbage"), 0o644))
	rs, err = p.Run(context.Background())
	assert.NilError(t, err)
	assert.Equal(t, rs[0].Status, Succeeded)
	assert.Check(t, is.Equal(c.runs["a"], 2))
}

func TestForceRunsAndRecords(t *testing.T) {
	var c counter
	p := newPipeline(t, c.step("a"))
	_, err := p.Run(context.Background())
	assert.NilError(t, err)
	p.Force = true
	rs, err := p.Run(context.Background())
	assert.NilError(t, err)
	assert.Equal(t, rs[0].Status, Succeeded)
	assert.Equal(t, c.runs["a"], 2)
	p.Force = false
	rs, _ = p.Run(context.Background())
	assert.Equal(t, rs[0].Status, Cached)
}

// A result handed in through Done is taken as is: the step is not run or
// looked up again, and its dependents key from it exactly as they would
// from the step itself. A failed one is no result: the step runs.
func TestDoneIsTakenAsIs(t *testing.T) {
	var c counter
	first := newPipeline(t, c.step("eval"), c.step("build", "eval"))
	rs, err := first.Run(context.Background())
	assert.NilError(t, err)
	eval, build := rs[0], rs[1]

	cases := []struct {
		name     string
		done     Result
		evalRuns int
	}{
		{"usable", eval, 0},
		{"failed", Result{Status: Failed, Err: errors.New("boom")}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.runs = nil
			p := &Pipeline{Steps: []*Step{c.step("eval"), c.step("build", "eval")}, Hasher: digest.NewHasher(""),
				Done: map[string]Result{"eval": tc.done}}
			rs, err := p.Run(context.Background())
			assert.NilError(t, err)
			assert.Check(t, is.Equal(c.runs["eval"], tc.evalRuns))
			assert.Check(t, is.Equal(rs[0].Key, eval.Key))
			assert.Check(t, is.Equal(rs[1].Key, build.Key), "the dependent's key is the one it had")
		})
	}
}
