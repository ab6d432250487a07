package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// The names of the terraform steps, in a Pipeline and in the cache's keys.
const (
	PlanStepName    = "terraform-plan"
	ApplyStepName   = "terraform-apply"
	DestroyStepName = "terraform-destroy"
)

// PlanStep is tf:plan as a pipeline.Step: Workspace.Plan for r, keyed on
// the rendering (r.Key, the terranix render step's output), the identity of
// the state (the digest of its encrypted file, and where it is) and the
// terraform binary and provider mirror. Its record is the plan's summary.
//
// It is an Effect, because a plan is only good while the saved plan it
// left in WorkDir is there to be applied: on a hit its Verify takes the
// record only when the saved plan is the recorded one (same creation, same
// render key) and the state is still the one it was made from. A plan
// that was applied, dropped, made from another rendering or overtaken by a
// state change is made again. What a hit does not do is ask the cloud
// again (nor does applying a saved plan: terraform applies it as it was
// made), so tf:plan runs this step with no store and refreshes every
// time, as `terraform plan` does; a store is for callers that want the
// pending plan's summary.
func (w *Workspace) PlanStep(r *terranix.Rendering) (*pipeline.Step, error) {
	if err := w.defaults(); err != nil {
		return nil, err
	}
	ss, err := w.stateSum()
	if err != nil {
		return nil, err
	}
	return &pipeline.Step{
		Name:   PlanStepName,
		Def:    "terraform-plan-v1",
		Params: map[string]string{"render": r.Key, "state": ss, "state-file": absPath(w.StateFile)},
		Tools:  w.toolIdentity(),
		Effect: true,
		Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			p, err := w.Plan(ctx, r)
			if err != nil {
				return nil, err
			}
			return planOutputs(p), nil
		},
		Verify: func(context.Context, pipeline.Input, pipeline.Outputs) (bool, error) {
			return w.planPending(r)
		},
	}, nil
}

// planPending says the saved plan is there to apply: made from r and from
// the current state, its encrypted plan file present.
func (w *Workspace) planPending(r *terranix.Rendering) (bool, error) {
	saved, err := w.SavedPlan()
	if err != nil || saved == nil || saved.RenderKey != r.Key {
		return false, err
	}
	ss, err := w.stateSum()
	if err != nil || ss != saved.StateSum {
		return false, err
	}
	if _, err := os.Stat(w.planFile()); err != nil {
		return false, nil
	}
	return true, nil
}

// ApplyStep is tf:apply as a pipeline.Step: Workspace.Apply of the saved
// plan for r, asking confirm. Its key names the rendering, the saved plan
// it applies (when it was made, from which state) and the terraform
// binary; its record is the plan applied and the state it left: serial,
// lineage and managed resources, read from the decrypted state.
//
// An apply is never skipped on a key hit alone: its Verify takes the
// record only when the state still is the one the record names (serial,
// lineage, resources) and the plan it names is no longer pending. Any other
// state, or the plan still waiting, runs Apply, which keeps its own
// refusals (no saved plan, an older render, a moved state).
func (w *Workspace) ApplyStep(r *terranix.Rendering, confirm Confirm) (*pipeline.Step, error) {
	if err := w.defaults(); err != nil {
		return nil, err
	}
	saved, err := w.SavedPlan()
	if err != nil {
		return nil, err
	}
	plan := ""
	if saved != nil {
		plan = saved.Created.Format(time.RFC3339Nano) + " " + saved.RenderKey + " " + saved.StateSum
	}
	return &pipeline.Step{
		Name:   ApplyStepName,
		Def:    "terraform-apply-v1",
		Params: map[string]string{"render": r.Key, "plan": plan, "state-file": absPath(w.StateFile)},
		Tools:  w.toolIdentity(),
		Effect: true,
		Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			p, err := w.Apply(ctx, r, confirm)
			if err != nil {
				return nil, err
			}
			outs := planOutputs(p)
			world, err := w.stateIdentity()
			if err != nil {
				return nil, err
			}
			for k, v := range world {
				outs[k] = v
			}
			return outs, nil
		},
		Verify: func(_ context.Context, _ pipeline.Input, rec pipeline.Outputs) (bool, error) {
			if saved != nil {
				if pending, err := w.planPending(r); err != nil || pending {
					return false, err
				}
			}
			world, err := w.stateIdentity()
			if err != nil {
				return false, err
			}
			for k, v := range world {
				if rec[k] != v {
					return false, nil
				}
			}
			return true, nil
		},
	}, nil
}

// ProvisionStepName is the name of ProvisionStep for machine m.
func ProvisionStepName(m string) string { return "terraform-provision-" + m }

// ProvisionStep is tf:provision of cloud machine m as a pipeline.Step:
// Workspace.Provision (plan m's server alone, confirm, apply), keyed on
// the rendering, the machine and the state file. Its record is the
// address the machine got and the plan that made it.
//
// An Effect: its Verify takes the record only when the state still has
// m's server and its address output is the recorded one. Anything else
// runs Provision, which itself returns at once, running no terraform, when
// the state has the machine (its address may have changed).
func (w *Workspace) ProvisionStep(r *terranix.Rendering, m string, confirm Confirm) *pipeline.Step {
	return &pipeline.Step{
		Name:   ProvisionStepName(m),
		Def:    "terraform-provision-v1",
		Params: map[string]string{"render": r.Key, "machine": m, "state-file": absPath(w.StateFile)},
		Effect: true,
		Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			a, p, err := w.Provision(ctx, r, m, confirm)
			outs := pipeline.Outputs{"address": a.String()}
			if p != nil {
				outs["plan"] = planOutputs(p)["plan"]
			}
			if err != nil {
				return outs, err
			}
			return outs, nil
		},
		Verify: func(_ context.Context, _ pipeline.Input, rec pipeline.Outputs) (bool, error) {
			mach, ok := r.Machine(m)
			if !ok {
				return false, nil
			}
			res, err := w.Resources()
			if err != nil || !slices.Contains(res, terranix.ServerResourceType[mach.Provider]+"."+m) {
				return false, err
			}
			a, ok, err := w.Address(m)
			return err == nil && ok && a.String() == rec["address"], err
		},
	}
}

// RunProvision runs ProvisionStep through a Pipeline recording in store
// (nil: no record). It returns what Provision returns: the address, the
// plan that created the server (nil when it existed), and Provision's own
// error (ErrDeclined, DisabledError) with the plan shown for it.
func (w *Workspace) RunProvision(ctx context.Context, r *terranix.Rendering, m string, confirm Confirm, store cache.Store) (netip.Addr, *Plan, error) {
	var addr netip.Addr
	var plan *Plan
	s := w.ProvisionStep(r, m, confirm)
	run := s.Run
	// The plan and address of a run that failed (a declined confirmation)
	// reach the caller too, as Provision gives them.
	s.Run = func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
		outs, err := run(ctx, in)
		addr, plan = parseOutputs(outs)
		return outs, err
	}
	res, err := w.runStep(ctx, s, store)
	if err != nil {
		return addr, plan, err
	}
	addr, plan = parseOutputs(res.Outputs)
	return addr, plan, nil
}

func parseOutputs(outs pipeline.Outputs) (netip.Addr, *Plan) {
	a, _ := netip.ParseAddr(outs["address"])
	if outs["plan"] == "" {
		return a, nil
	}
	p, err := PlanOf(outs)
	if err != nil {
		return a, nil
	}
	return a, p
}

// stateIdentity is what an apply's record says of the state it left: its
// serial, lineage and managed resources, from the decrypted state (an
// absent state has none of them).
func (w *Workspace) stateIdentity() (pipeline.Outputs, error) {
	b, err := w.Vault.Read(w.StateFile)
	if err != nil {
		return nil, err
	}
	out := pipeline.Outputs{"serial": "", "lineage": "", "resources": ""}
	if b == nil {
		return out, nil
	}
	h, err := parseState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", w.StateFile, err)
	}
	out["serial"] = strconv.FormatInt(h.Serial, 10)
	out["lineage"] = h.Lineage
	out["resources"] = strings.Join(h.managed(), "\n")
	return out, nil
}

// toolIdentity names the terraform binary and the provider mirror's
// configuration by path, size and modification time: a new terraform or
// mirror makes new keys, without running terraform to ask its version.
func (w *Workspace) toolIdentity() map[string]string {
	id := func(p string) string {
		fi, err := os.Stat(p)
		if err != nil {
			return absPath(p) + " missing"
		}
		return fmt.Sprintf("%s %d %d", absPath(p), fi.Size(), fi.ModTime().UnixNano())
	}
	return map[string]string{"terraform": id(w.Terraform), "terraform.rc": id(w.CLIConfig)}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// planOutputs records a plan's summary.
func planOutputs(p *Plan) pipeline.Outputs {
	b, _ := json.Marshal(p)
	return pipeline.Outputs{"plan": string(b)}
}

// DestroyStep is tf:destroy as a pipeline.Step: Workspace.Destroy of
// every resource in the state, asking confirm. It is never taken from a
// record (NoCache): like `terraform destroy`, it asks the cloud what
// exists each time, since a record of "destroyed" says nothing about
// servers made since. Running through the engine still gives it what
// every step has: its name in errors, and the grace after a Ctrl-C in
// which terraform writes the state back.
func (w *Workspace) DestroyStep(r *terranix.Rendering, confirm Confirm) (*pipeline.Step, error) {
	if err := w.defaults(); err != nil {
		return nil, err
	}
	return &pipeline.Step{
		Name:    DestroyStepName,
		Def:     "terraform-destroy-v1",
		Params:  map[string]string{"render": r.Key, "state-file": absPath(w.StateFile)},
		Tools:   w.toolIdentity(),
		NoCache: true,
		Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			p, err := w.Destroy(ctx, r, confirm)
			if err != nil {
				return nil, err
			}
			return planOutputs(p), nil
		},
	}, nil
}

// RunDestroy runs DestroyStep and returns the plan it carried out (or
// found empty).
func (w *Workspace) RunDestroy(ctx context.Context, r *terranix.Rendering, confirm Confirm) (*Plan, error) {
	return w.runForPlan(ctx, nil)(w.DestroyStep(r, confirm))
}

// PlanOf reads the plan summary a plan or apply step recorded.
func PlanOf(outs pipeline.Outputs) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal([]byte(outs["plan"]), &p); err != nil {
		return nil, fmt.Errorf("terraform step record holds no plan summary (%v): run tf:plan", err)
	}
	return &p, nil
}

// RunPlan runs PlanStep through a Pipeline recording in store (nil: no
// record) and returns the plan, and whether it was the recorded one. The
// record is read only when made on this machine (cache.OnlyMadeHere): a
// plan summary names the state's resources, which no shared cache decides.
func (w *Workspace) RunPlan(ctx context.Context, r *terranix.Rendering, store cache.Store) (*Plan, bool, error) {
	s, err := w.PlanStep(r)
	if err != nil {
		return nil, false, err
	}
	res, err := w.runStep(ctx, s, store)
	if err != nil {
		return nil, false, err
	}
	p, err := PlanOf(res.Outputs)
	return p, res.Status == pipeline.Cached, err
}

// RunApply runs ApplyStep through a Pipeline recording in store (nil: no
// record) and returns the plan applied.
func (w *Workspace) RunApply(ctx context.Context, r *terranix.Rendering, confirm Confirm, store cache.Store) (*Plan, error) {
	return w.runForPlan(ctx, store)(w.ApplyStep(r, confirm))
}

// runForPlan returns a function that runs a step a constructor made (or
// passes on the constructor's error) and reads the plan it recorded.
func (w *Workspace) runForPlan(ctx context.Context, store cache.Store) func(*pipeline.Step, error) (*Plan, error) {
	return func(s *pipeline.Step, err error) (*Plan, error) {
		if err != nil {
			return nil, err
		}
		res, err := w.runStep(ctx, s, store)
		if err != nil {
			return nil, err
		}
		return PlanOf(res.Outputs)
	}
}

// runStep runs one terraform step alone. Its error is the step's own
// (ErrDeclined, ErrStalePlan and terraform's stay recognisable). The
// grace after a Ctrl-C outlasts WaitDelay: terraform gets its time to
// write the state back before the engine stops waiting.
func (w *Workspace) runStep(ctx context.Context, s *pipeline.Step, store cache.Store) (pipeline.Result, error) {
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{s}, Cache: store, Parallel: 1, Hasher: digest.NewHasher(""), Grace: w.WaitDelay + time.Minute}
	res, err := p.Run(cache.OnlyMadeHere(ctx))
	if len(res) != 1 {
		return pipeline.Result{}, err
	}
	if !res[0].Status.OK() {
		if res[0].Err != nil {
			return res[0], res[0].Err
		}
		return res[0], errors.Join(err, fmt.Errorf("%s %s", s.Name, res[0].Status))
	}
	return res[0], nil
}
