package deploy

import (
	"context"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// Step names, each written here once. The fleet-wide steps have a name;
// a machine's steps are "<machine>:<phase>" (stepOf), which the progress
// display and the parallel gate read back (strings.Cut at the colon).
const (
	stepEvaluate = "evaluate" // the fleet's evaluation (build.go)
	stepBuild    = "build"    // every selected machine's system (build.go)

	phaseInstall  = "install"   // Nix onto a bare cloud host (install.go)
	phaseVarsPre  = "vars-pre"  // secrets the activation reads (secrets.go)
	phaseCopy     = "copy"      // the closure (steps.go; buildon.go, local.go)
	phaseActivate = "activate"  // the switch, magic rollback armed (steps.go)
	phaseVarsPost = "vars-post" // secrets owned by users the activation makes
	phaseConfirm  = "confirm"   // health checks over a new connection
	phasePlan     = "plan"      // a dry run's question to the host (dryrun.go)
)

// stepOf names machine's step of a phase.
func stepOf(machine, phase string) string { return machine + ":" + phase }

// stepsInOrder are the steps a machine's result depends on, in the order
// they run: its first failure among them is the machine's error.
func stepsInOrder(machine string) []string {
	out := []string{stepBuild}
	for _, p := range []string{phaseInstall, phaseVarsPre, phaseCopy, phaseActivate, phaseVarsPost, phaseConfirm, phasePlan} {
		out = append(out, stepOf(machine, p))
	}
	return out
}

// steps is the deployment's graph, as one list: evaluate, build, then per
// machine (independent of the others) install, vars-pre, copy, activate,
// vars-post and confirm, or the dry run's plan.
func (d *Deployer) steps(machines []*fleet.Machine) []*pipeline.Step {
	build := d.buildStep(machines)
	steps := []*pipeline.Step{d.evalStep(), build}
	for _, m := range machines {
		if d.opt.DryRun {
			steps = append(steps, d.planFor(m))
			continue
		}
		cp, act, conf := d.placeStep(m), d.activateStep(m), d.confirmStep(m)
		steps = append(steps, cp, act, conf)
		preDeps := []string{stepEvaluate}
		if ins := d.installStep(m); ins != nil && !d.isLocal(m) { // the machine this runs on has Nix
			// A cloud host without Nix is installed before anything else
			// reaches it (install.go); the activation learns whether it was.
			steps = append(steps, ins)
			cp.Deps = append(cp.Deps, ins.Name)
			act.Deps = append(act.Deps, ins.Name)
			preDeps = append(preDeps, ins.Name)
		}
		if d.secrets == nil {
			continue
		}
		before, after, err := d.secrets.phases(m.Name)
		if err != nil {
			steps = append(steps, failStep(stepOf(m.Name, phaseVarsPre), err))
			act.Deps = append(act.Deps, stepOf(m.Name, phaseVarsPre))
			continue
		}
		if before {
			// Before activation: the activation reads these.
			pre := d.secretsStep(m, vars.BeforeActivation, preDeps)
			act.Deps = append(act.Deps, pre.Name)
			steps = append(steps, pre)
		}
		if after {
			// After activation (users it creates may own them), before
			// confirmation, so health checks see them.
			post := d.secretsStep(m, vars.AfterActivation, []string{act.Name})
			conf.Deps = append(conf.Deps, post.Name)
			steps = append(steps, post)
		}
	}
	return steps
}

// failStep is a step that fails with err (a problem found while planning).
func failStep(name string, err error) *pipeline.Step {
	return &pipeline.Step{Name: name, Def: "deploy-fail", NoCache: true,
		Run: func(context.Context, pipeline.Input) (pipeline.Outputs, error) { return nil, err }}
}
