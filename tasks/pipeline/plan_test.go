package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"

	"github.com/vanixiets/vanixiets/tasks/cache"
)

// Plan is Run's get without the run: the same keys Run makes, and a hit
// exactly where Run would skip.
func TestPlan(t *testing.T) {
	type want struct {
		Hit   bool
		Keyed bool // the key is known before running
	}
	tests := []struct {
		name    string
		steps   func(c *counter) []*Step
		runOnce bool // run the pipeline before planning
		force   bool
		want    map[string]want
	}{
		{
			name:  "nothing recorded",
			steps: func(c *counter) []*Step { return []*Step{c.step("a"), c.step("b", "a")} },
			want:  map[string]want{"a": {Keyed: true}, "b": {}}, // b needs a's outputs
		},
		{
			name:    "all recorded",
			steps:   func(c *counter) []*Step { return []*Step{c.step("a"), c.step("b", "a")} },
			runOnce: true,
			want:    map[string]want{"a": {Hit: true, Keyed: true}, "b": {Hit: true, Keyed: true}},
		},
		{
			name:    "forced",
			steps:   func(c *counter) []*Step { return []*Step{c.step("a"), c.step("b", "a")} },
			runOnce: true,
			force:   true,
			want:    map[string]want{"a": {Keyed: true}, "b": {}},
		},
		{
			name: "a report's dependents are keyed before it runs",
			steps: func(c *counter) []*Step {
				a := c.step("a")
				a.KeyOnly = true
				return []*Step{a, c.step("b", "a")}
			},
			want: map[string]want{"a": {Keyed: true}, "b": {Keyed: true}},
		},
		{
			name: "an effect whose world no longer matches",
			steps: func(c *counter) []*Step {
				a := c.step("a")
				a.Effect = true
				a.Verify = func(context.Context, Input, Outputs) (bool, error) { return false, nil }
				return []*Step{a}
			},
			runOnce: true,
			want:    map[string]want{"a": {Keyed: true}},
		},
		{
			name: "an effect Verify confirms",
			steps: func(c *counter) []*Step {
				a := c.step("a")
				a.Effect = true
				a.Verify = func(_ context.Context, _ Input, rec Outputs) (bool, error) { return rec["name"] == "a", nil }
				return []*Step{a}
			},
			runOnce: true,
			want:    map[string]want{"a": {Hit: true, Keyed: true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c counter
			p := newPipeline(t, tc.steps(&c)...)
			var ran map[string]Result
			if tc.runOnce {
				rs, err := p.Run(context.Background())
				assert.NilError(t, err)
				ran = map[string]Result{}
				for _, r := range rs {
					ran[r.Name] = r
				}
			}
			p.Force = tc.force
			before := len(c.runs)
			plan, err := p.Plan(context.Background())
			assert.NilError(t, err)
			assert.Equal(t, len(c.runs), before, "Plan ran a step")
			got := map[string]want{}
			for _, pl := range plan {
				assert.NilError(t, pl.Err)
				got[pl.Name] = want{Hit: pl.Hit, Keyed: pl.Key != ""}
				if pl.Hit {
					assert.Equal(t, pl.Origin, cache.OriginLocal)
					assert.DeepEqual(t, pl.Outputs, ran[pl.Name].Outputs)
				}
				if r, ok := ran[pl.Name]; ok && pl.Key != "" {
					assert.Equal(t, pl.Key, r.Key, "Plan and Run make one key")
				}
			}
			assert.DeepEqual(t, got, tc.want)

			// What Plan calls a hit, Run skips; what it keys, Run keys alike.
			p.Force = tc.force
			rs, err := p.Run(context.Background())
			assert.NilError(t, err)
			for i, r := range rs {
				assert.Equal(t, r.Status == Cached, plan[i].Hit, r.Name)
				if plan[i].Key != "" {
					assert.Equal(t, r.Key, plan[i].Key, r.Name)
				}
			}
		})
	}
}

// Optional globs enter the key like Files but may match nothing; Keep
// leaves out what it does not admit.
func TestPlanFiles(t *testing.T) {
	dir := fs.NewDir(t, "plan", fs.WithFile("in.txt", "1"), fs.WithFile("skip.txt", "x"))
	step := func() *Step {
		return &Step{Name: "s", Def: "v1", Root: dir.Path(), Files: []string{"*.txt"}, Optional: []string{"extra/**"}, Required: true,
			Keep: func(rel string) bool { return rel != "skip.txt" },
			Run:  func(context.Context, Input) (Outputs, error) { return nil, nil }}
	}
	p := newPipeline(t, step())
	first, err := p.Plan(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(first[0].Files.Files, 1))
	assert.NilError(t, os.WriteFile(filepath.Join(dir.Path(), "skip.txt"), []byte("changed"), 0o644))
	same, err := p.Plan(context.Background())
	assert.NilError(t, err)
	assert.Equal(t, same[0].Key, first[0].Key, "a file Keep leaves out changes nothing")
	assert.NilError(t, os.MkdirAll(filepath.Join(dir.Path(), "extra"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir.Path(), "extra", "x"), []byte("1"), 0o644))
	more, err := p.Plan(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, more[0].Key != first[0].Key, "an optional file is part of the key")
	assert.Assert(t, is.Len(more[0].Files.Files, 2))
}
