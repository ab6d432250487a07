package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

func (d *Deployer) toplevel(in pipeline.Input, m *fleet.Machine) (string, error) {
	b := builtOf(in.Deps[stepBuild], m.Name)
	if b.Err != "" {
		return "", fmt.Errorf("%s: %s", m.Name, b.Err)
	}
	if b.Toplevel == "" {
		return "", fmt.Errorf("%s: the build produced no toplevel", m.Name)
	}
	return b.Toplevel, nil
}

// hostFor returns the machine's toplevel from the build step and the
// deployment's connection to it: what every host-side step starts with.
func (d *Deployer) hostFor(ctx context.Context, in pipeline.Input, m *fleet.Machine) (string, *remote.Client, error) {
	top, err := d.toplevel(in, m)
	if err != nil {
		return "", nil, err
	}
	c, err := d.conn(ctx, m)
	if err != nil {
		return "", nil, err
	}
	return top, c, nil
}

// unchanged are the activation's outputs when the host already runs top
// at generation gen: nothing waits for a confirmation.
func unchanged(top string, gen int) pipeline.Outputs {
	return with(generations(gen, gen), outToplevel, top, outPending, "false", outUnchanged, "true")
}

func (d *Deployer) targetParam(m *fleet.Machine) string {
	cfg, err := d.target(m)
	if err != nil {
		return m.Deploy.TargetHost
	}
	return cfg.Name()
}

// copyStep sends the closure. It asks the host every time (NoCache): the
// copy itself starts with the one question a cache hit would have to ask
// anyway (which paths are missing?), so a recorded result would only add a
// second session to the host when the answer is "some".
func (d *Deployer) copyStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phaseCopy), Def: "deploy-copy-v2", Deps: []string{stepBuild},
		Params:  map[string]string{"machine": m.Name, "target": d.targetParam(m)},
		NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, c, err := d.hostFor(ctx, in, m)
			if err != nil {
				return nil, err
			}
			infos, err := d.closureInfos(ctx, in.Deps[stepBuild], top)
			if err != nil {
				return nil, err
			}
			// A host that runs top now holds its whole closure (the
			// current system is a garbage collector root): the copy then
			// opens no nix-daemon session, and the activation takes this
			// answer instead of asking the host again.
			st, cerr := activate.Current(ctx, c)
			running := cerr == nil && st.Toplevel == top
			rep, err := closure.Copy(ctx, d.opt.Nix, c, closure.Options{Signer: d.signer, CheckSigs: true, Infos: infos, Stall: d.opt.Stall, Present: running}, top)
			outs := copiedOutputs(rep)
			if err != nil {
				return outs, err
			}
			with(outs, outToplevel, top, outSent, strconv.Itoa(rep.Sent), outClosure, strconv.Itoa(rep.Closure))
			if cerr == nil && st.Runs(top, d.opt.Action) {
				outs[outRunsGen] = strconv.Itoa(st.Generation) // the generation that runs top, for the activation
			}
			return outs, nil
		},
	}
}

// activateStep switches the host. Like the copy it asks the host every
// time (NoCache) and only as much as it must: when the copy sent nothing
// the host may already run this system (one status query says so); when
// the copy sent paths it cannot be running it, and activation starts at
// once.
func (d *Deployer) activateStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phaseActivate), Def: "deploy-activate-v2", Deps: []string{stepBuild, stepOf(m.Name, phaseCopy)},
		Params:  map[string]string{"machine": m.Name, "target": d.targetName(m), "action": d.opt.Action, "class": m.MachineClass},
		NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, c, err := d.activationHost(ctx, in, m)
			if err != nil {
				return nil, err
			}
			if in.Deps[stepOf(m.Name, phaseCopy)][outSent] == "0" && in.Deps[stepOf(m.Name, phaseInstall)][outInstalled] == "" && (d.opt.Action == "switch" || d.opt.Action == "test") {
				// Nothing was copied, so the host may run this system
				// already: do not switch it again. (A host installed just
				// now booted its system before this deployment's secrets
				// were there: it activates once more, with them.) The
				// copy asked already when it found top running.
				if g := in.Deps[stepOf(m.Name, phaseCopy)][outRunsGen]; g != "" {
					gen, err := strconv.Atoi(g)
					if err != nil {
						return nil, fmt.Errorf("copy step's %s %q: %w", outRunsGen, g, err)
					}
					return unchanged(top, gen), nil
				}
				if st, err := activate.Current(ctx, c); err == nil && st.Runs(top, d.opt.Action) {
					return unchanged(top, st.Generation), nil
				}
			}
			res, err := activate.Activate(ctx, c, activate.Request{Class: m.MachineClass, Action: d.opt.Action, Toplevel: top, Timeout: d.opt.Timeout})
			if err != nil {
				if rb, ok := err.(*activate.RollbackError); ok {
					return generations(res.PrevGen, res.PrevGen), rb // the host went back
				}
				return generations(res.PrevGen, res.NewGen), err
			}
			return with(generations(res.PrevGen, res.NewGen), outToplevel, top, outToken, res.Token, outPending, strconv.FormatBool(res.Pending)), nil
		},
	}
}

// confirmStep reaches the host over a new connection, runs the health
// checks and confirms (or aborts) a pending activation.
func (d *Deployer) confirmStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phaseConfirm), Def: "deploy-confirm-v1", Deps: []string{stepOf(m.Name, phaseActivate)},
		NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			act := in.Deps[stepOf(m.Name, phaseActivate)]
			// The activation's outputs say whether anything waits for a
			// confirmation ("pending": false when the host already ran
			// this system, or magic rollback is off).
			res := activate.Result{Token: act[outToken], Pending: act[outPending] == "true"}
			if !res.Pending {
				// Nothing waits for a confirmation (the host already ran
				// this system, or magic rollback is off): the health
				// checks run over the deployment's connection (or this
				// machine's shell).
				c, err := d.host(ctx, m)
				if err != nil {
					return nil, err
				}
				if err := activate.Confirm(ctx, c, res, m.Deploy.HealthChecks, d.opt.Timeout); err != nil {
					return nil, err
				}
				return pipeline.Outputs{outChecks: strconv.Itoa(len(m.Deploy.HealthChecks))}, nil
			}
			// Pending: a NEW connection, as magic rollback requires —
			// reaching the host again is the first check. (This
			// machine: a new process, local.go.)
			// A rollback takes the host back to the generation it ran
			// before the activation.
			back := func(err error) (pipeline.Outputs, error) {
				var rb *activate.RollbackError
				if errors.As(err, &rb) {
					before := atoi(act[outGenBefore])
					return generations(before, before), err
				}
				return nil, err
			}
			c2, done, err := d.fresh(ctx, m)
			if err != nil {
				return back(d.awaitRollback(ctx, m, res, err))
			}
			defer done()
			if err := activate.Confirm(ctx, c2, res, m.Deploy.HealthChecks, d.opt.Timeout); err != nil {
				return back(err)
			}
			return pipeline.Outputs{outChecks: strconv.Itoa(len(m.Deploy.HealthChecks))}, nil
		},
	}
}

// awaitRollback handles a host that cannot be reached after activation:
// without our confirmation it rolls back by itself within the timeout, after
// which the old system should let us in again; we keep trying until then
// plus some slack, and report the host's own verdict.
func (d *Deployer) awaitRollback(ctx context.Context, m *fleet.Machine, res activate.Result, first error) error {
	d.printf("%-10s %-9s cannot reach the host again (%v); waiting for it to roll back", m.Name, phaseConfirm, first)
	deadline := time.Now().Add(d.opt.Timeout + 20*time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		c, done, err := d.fresh(ctx, m)
		if err != nil {
			continue
		}
		defer done()
		return activate.Abort(ctx, c, res, fmt.Sprintf("the deployer could not reach the host after activation: %v", first), d.opt.Timeout)
	}
	return fmt.Errorf("cannot reach %s after activation (%v), not even after its %s rollback window: check it on its console", m.Name, first, d.opt.Timeout)
}

// planStep (dry run) reports what a deployment would do; it changes nothing.
func (d *Deployer) planStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phasePlan), Def: "deploy-plan-v1", Deps: []string{stepBuild}, NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, c, boot, err := d.installHostFor(ctx, in, m)
			if err != nil {
				return nil, err
			}
			if boot != nil {
				defer c.Close() // the deployment's own connection never is one
			}
			if plan, bare, err := d.planInstall(ctx, in, m, top, c, boot); err != nil {
				return nil, err
			} else if bare {
				return pipeline.Outputs{outPlan: plan}, nil
			}
			infos, err := d.closureInfos(ctx, in.Deps[stepBuild], top)
			if err != nil {
				return nil, err
			}
			rep, err := closure.Copy(ctx, d.opt.Nix, c, closure.Options{DryRun: true, Infos: infos}, top)
			if err != nil {
				return nil, err
			}
			st, err := activate.Current(ctx, c)
			if err != nil {
				return nil, err
			}
			dr, err := d.dryRun(ctx, c, m, top, infos, rep, st)
			if err != nil {
				return nil, err
			}
			drJSON, err := json.Marshal(dr)
			if err != nil {
				return nil, err
			}
			var plan string
			if st.Runs(top, d.opt.Action) {
				plan = "already runs " + top
			} else {
				plan = fmt.Sprintf("would copy %d of %d paths (%s) and %s %s (now %s)", len(rep.Missing), rep.Closure,
					humanBytes(rep.MissingBytes), d.opt.Action, top, orNone(st.Toplevel))
			}
			missing, _ := json.Marshal(rep.Missing)
			return with(generations(st.Generation, st.Generation), outPlan, plan, outMissingList, string(missing),
				outMissing, strconv.Itoa(len(rep.Missing)), outMissingBytes, strconv.FormatInt(rep.MissingBytes, 10), outDryRun, string(drJSON)), nil
		},
	}
}

// Rollback switches machine back one generation.
func (d *Deployer) Rollback(ctx context.Context, machine string) (activate.State, activate.State, error) {
	defer d.closeAll()
	if err := d.checkLocal([]string{machine}); err != nil {
		return activate.State{}, activate.State{}, err
	}
	f, err := d.Fleet(ctx)
	if err != nil {
		return activate.State{}, activate.State{}, err
	}
	m, err := f.ByName(machine)
	if err != nil {
		return activate.State{}, activate.State{}, err
	}
	if err := d.loadSSHConfig(); err != nil {
		return activate.State{}, activate.State{}, err
	}
	unlock, err := d.lockMachine(machine)
	if err != nil {
		return activate.State{}, activate.State{}, err
	}
	defer unlock()
	if err := d.readyLocal(ctx, []*fleet.Machine{m}); err != nil {
		return activate.State{}, activate.State{}, err
	}
	c, err := d.host(ctx, m)
	if err != nil {
		return activate.State{}, activate.State{}, err
	}
	return activate.Rollback(ctx, c, m.MachineClass, 0)
}
