package vars

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// stepDef is the Def of every generator step: bump it when what a step's
// Run or Verify decides changes meaning.
const stepDef = "vars-generate-v1"

// Generation is one vars generate as a graph of pipeline.Step, one per
// generator unit of the selection, in the order of Plan.Units.
//
// The committed vars directory is the source of truth, as clan's vars are:
// a unit is current when its stored stamp (.validation-hash) carries the
// key the fleet gives it and every declared file is on disk, whatever any
// cache says. So each step is an Effect. Its Run first reads the stamp and
// generates only when the unit is not current; its Verify, asked on a
// cache hit, makes the same check and also wants the stamp to be the one
// the record names. A fresh machine with an empty cache therefore
// regenerates nothing whose committed files are current, and a record
// never skips a unit whose files changed under it. The engine's record is
// acceleration only, and Generate keeps none (Generation.Pipeline with a
// nil store): reading a stamp costs what reading a record does.
//
// A Generation is used for one run (Pipeline.Run, or a Plan): its steps
// share what the units before them found (their values, their plaintext
// secrets when generated in the run) and fill one Report.
type Generation struct {
	// Steps are the units' steps, named by unit ID.
	Steps []*pipeline.Step

	v       *Vars
	p       *Plan
	opts    GenerateOptions
	initial map[*Unit]bool
	run     runner

	mu     sync.Mutex
	rep    *Report
	states map[*Unit]*unitState
}

// NewGeneration resolves opts into the units to bring up to date (the
// selection, their dependents, and what those need first) and makes one
// step per unit. It touches nothing on disk.
//
// Each step depends on the units it runs after (its dependencies and the
// host keys its secrets are encrypted to) and on the unit before it in
// plan order: the units run one at a time in the order Generate has always
// used, so prompts are asked, and Report.Generated listed, in that order.
func (v *Vars) NewGeneration(opts GenerateOptions) (*Generation, error) {
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	initial, err := p.selectUnits(opts.Machines, opts.Generators)
	if err != nil {
		return nil, err
	}
	set := p.closure(initial)
	g := &Generation{v: v, p: p, opts: opts, initial: initial, rep: &Report{}, states: map[*Unit]*unitState{}}
	g.run = runner{tmpBase: v.TmpDir, extraPath: v.ExtraPath}
	if g.run.tmpBase == "" {
		g.run.tmpBase = TmpBase()
	}
	prev := ""
	for _, u := range p.Units {
		if !set[u] {
			continue
		}
		dk, err := declKey(u.Gen)
		if err != nil {
			return nil, err
		}
		var deps []string
		for _, d := range u.after {
			deps = append(deps, d.ID)
		}
		if prev != "" && !slices.Contains(deps, prev) {
			deps = append(deps, prev)
		}
		regen := "false"
		if opts.Regenerate && initial[u] {
			regen = "true"
		}
		g.Steps = append(g.Steps, &pipeline.Step{
			Name:   u.ID,
			Def:    stepDef,
			Params: map[string]string{"declaration": dk, "regenerate": regen},
			Deps:   deps,
			Effect: true,
			Run:    func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) { return g.runUnit(ctx, u) },
			Verify: func(_ context.Context, _ pipeline.Input, rec pipeline.Outputs) (bool, error) {
				return g.verifyUnit(u, rec)
			},
		})
		prev = u.ID
	}
	return g, nil
}

// Pipeline is the generation's steps run one at a time, recording in store
// (nil: no record, the stamps alone decide). Records are read only when
// made on this machine (cache.OnlyMadeHere is Generate's to set on ctx).
func (g *Generation) Pipeline(store cache.Store) *pipeline.Pipeline {
	return &pipeline.Pipeline{Steps: g.Steps, Cache: store, Parallel: 1, Hasher: digest.NewHasher("")}
}

// Report is what the run so far did.
func (g *Generation) Report() *Report { return g.rep }

// stampDigest names a stamp in a step's record.
func stampDigest(stamp []byte) string {
	s := sha256.Sum256(stamp)
	return hex.EncodeToString(s[:])
}

// check reads u's committed stamp and says whether u must be generated:
// no stamp, a stamp of another key, a dependency regenerated in this run,
// --regenerate for u, or a declared file missing.
func (g *Generation) check(u *Unit) (need bool, key string, stamp []byte, err error) {
	var deps []depState
	depRegenerated := false
	for _, d := range u.Deps {
		ds := g.states[d]
		if ds == nil {
			return false, "", nil, fmt.Errorf("%s: dependency %s has not run (a step ran out of order)", u, d)
		}
		deps = append(deps, depState{ID: d.ID, Stamp: ds.stamp, Values: ds.values})
		depRegenerated = depRegenerated || ds.regenerated
	}
	key, err = unitKey(u, deps)
	if err != nil {
		return false, "", nil, err
	}
	st := g.v.store()
	stamp, err = st.readStamp(u)
	if err != nil {
		return false, "", nil, err
	}
	need = stamp == nil || stampKey(stamp) != key || depRegenerated ||
		(g.opts.Regenerate && g.initial[u]) || !st.complete(u)
	return need, key, stamp, nil
}

// current takes u as it is on disk: its values for its dependents, one
// more up to date, and its secrets' recipients checked against the fleet's.
func (g *Generation) current(u *Unit, stamp []byte) error {
	vals, err := g.v.store().values(u)
	if err != nil {
		return err
	}
	g.states[u] = &unitState{stamp: stamp, values: vals}
	g.rep.UpToDate++
	if !u.HasSecrets() {
		return nil
	}
	want, err := g.v.expectedRecipients(u, g.hostKey)
	if err != nil {
		return nil
	}
	for _, f := range u.Files {
		if f.Secret && !g.v.recipientsCurrent(u, f.Name, forFile(f, want)) {
			g.rep.StaleRecipients = append(g.rep.StaleRecipients, u.ID+"/"+f.Name)
		}
	}
	return nil
}

// hostKey is machine m's host key: from its host-key unit when this run
// has visited it, else from disk.
func (g *Generation) hostKey(m string) ([]byte, error) {
	hk := g.p.hostKey[m]
	if hk == nil {
		return g.v.diskHostKey(g.p)(m)
	}
	s, ok := g.states[hk]
	if !ok {
		return g.v.diskHostKey(g.p)(m)
	}
	name, err := hostKeyFile(hk)
	if err != nil {
		return nil, err
	}
	return s.values[name], nil
}

// verifyUnit confirms a record of u: the committed stamp is current and is
// the one the record names. Only then is u taken as it is on disk.
func (g *Generation) verifyUnit(u *Unit, rec pipeline.Outputs) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	need, _, stamp, err := g.check(u)
	if err != nil || need || rec["stamp"] != stampDigest(stamp) {
		return false, err
	}
	if err := g.current(u, stamp); err != nil {
		return false, err
	}
	return true, nil
}

// runUnit brings u up to date: first the committed stamp, then, when it
// is not current, the generator.
func (g *Generation) runUnit(ctx context.Context, u *Unit) (pipeline.Outputs, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted before %s: %w", u, err)
	}
	need, key, stamp, err := g.check(u)
	if err != nil {
		return nil, err
	}
	if !need {
		if err := g.current(u, stamp); err != nil {
			return nil, err
		}
		return pipeline.Outputs{"stamp": stampDigest(stamp)}, nil
	}
	s, dur, err := g.v.generateUnit(ctx, g.p, u, key, g.states, g.v.Prompter, g.run, g.hostKey)
	g.rep.ScriptTime += dur
	if err != nil {
		return nil, err
	}
	g.states[u] = s
	g.rep.Generated = append(g.rep.Generated, u.ID)
	g.v.logf("generated %s", u.ID)
	return pipeline.Outputs{"stamp": stampDigest(s.stamp)}, nil
}

// firstError is the error of the first unit, in plan order, that did not
// succeed: the one that stopped the run, as Generate has always reported
// it (the units after it were not run because of it).
func (g *Generation) firstError(results []pipeline.Result) error {
	for i, r := range results {
		if r.Status.OK() {
			continue
		}
		if r.Status == pipeline.Cancelled && r.Err != nil && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) && !isInterrupted(r.Err) {
			return fmt.Errorf("interrupted before %s: %w", g.p.Unit(g.Steps[i].Name), r.Err)
		}
		return r.Err
	}
	return nil
}

// isInterrupted says the error already tells that the run was interrupted
// (a generator's script stopped by the cancellation).
func isInterrupted(err error) bool { return strings.Contains(err.Error(), "interrupted") }
