package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// Toplevels caches the status's one evaluation: the flake's toplevel for
// each selected machine. Asking every host takes milliseconds, evaluating
// 64 machines' toplevels hundreds of them, and both repeat on every
// fleet:status although the flake rarely changed between two. The
// toplevels are a function of what nix reads (fleet.FilesOf: every tracked
// file, flake.lock pinning the inputs), the flake's place in the
// repository and the nix that evaluates, so a step keyed on exactly those,
// as the fleet's own evaluation is (fleet.Loader.EvalStep), may skip it.
type Toplevels struct {
	Flake  string         // the fleet flake: a local directory, else nothing is cached
	Cache  cache.Store    // where the record is kept (nil: evaluate every time)
	Nix    *nix.Nix       // the evaluator: its identity is part of the key
	Hasher *digest.Hasher // nil: digest.Default()
}

// stepToplevels names the step in the cache and in errors.
const stepToplevels = "status-toplevels"

// Step is the evaluation of machines' toplevels by eval as a step of the
// engine, or nil when the flake is no local directory (a flake URL has no
// content to key on). Only a complete answer is recorded: a machine that
// failed to evaluate fails the step, so the next status evaluates again.
func (t *Toplevels) Step(ctx context.Context, machines []*fleet.Machine, eval func(context.Context, []*fleet.Machine) (map[string]string, map[string]error)) (*pipeline.Step, error) {
	if t == nil || t.Cache == nil || t.Nix == nil || t.Flake == "" {
		return nil, nil
	}
	if st, err := os.Stat(t.Flake); err != nil || !st.IsDir() {
		return nil, nil
	}
	ff, err := fleet.FilesOf(ctx, t.Flake)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(machines))
	for i, m := range machines {
		names[i] = m.Name
	}
	sort.Strings(names)
	return &pipeline.Step{
		Name: stepToplevels, Def: "status-toplevels-v1",
		Root: ff.Root, Files: ff.Files, Exclude: ff.Exclude, Paths: ff.Paths,
		Params: map[string]string{"dir": ff.Rel(), "machines": strings.Join(names, "\n")},
		Tools:  map[string]string{"nix": t.Nix.Identity()},
		Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			want, failed := eval(ctx, machines)
			if len(failed) > 0 {
				return nil, &evalFailed{want: want, failed: failed}
			}
			b, err := json.Marshal(want)
			if err != nil {
				return nil, err
			}
			return pipeline.Outputs{"toplevels": string(b)}, nil
		},
	}, nil
}

// evalFailed carries a partial evaluation out of the step, which records
// nothing: the machines that did evaluate still get their column.
type evalFailed struct {
	want   map[string]string
	failed map[string]error
}

func (e *evalFailed) Error() string {
	return fmt.Sprintf("%d machine(s) failed to evaluate", len(e.failed))
}

// toplevels answers eval's question through the cache when t allows it,
// else by eval itself. Values are read only when made on this machine
// (cache.OnlyMadeHere): they are the systems a host is compared with.
func (t *Toplevels) toplevels(ctx context.Context, machines []*fleet.Machine, eval func(context.Context, []*fleet.Machine) (map[string]string, map[string]error)) (map[string]string, map[string]error) {
	step, err := t.Step(ctx, machines, eval)
	if err != nil || step == nil {
		return eval(ctx, machines)
	}
	h := t.Hasher
	if h == nil {
		h = digest.Default()
		defer h.Save()
	}
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{step}, Cache: t.Cache, Hasher: h}
	rs, err := p.Run(cache.OnlyMadeHere(ctx))
	if len(rs) == 1 && rs[0].Err == nil {
		var want map[string]string
		if json.Unmarshal([]byte(rs[0].Outputs["toplevels"]), &want) == nil {
			return want, nil
		}
	}
	var ef *evalFailed
	if len(rs) == 1 && errors.As(rs[0].Err, &ef) {
		return ef.want, ef.failed
	}
	return eval(ctx, machines) // the engine itself failed (a file vanished mid-hash): ask nix
}
