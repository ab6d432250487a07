package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"

	"github.com/vanixiets/vanixiets/tasks/tail"
)

// Building where the platform is.
//
// A Linux deployer cannot build an aarch64-darwin system, nor a Mac an
// x86_64-linux one, without a builder of that platform. A machine that
// builds on target (its deploy.buildOn = "target", or --build-on target
// for the whole deploy) is only instantiated here: the build step
// evaluates its toplevel's derivation (which writes the .drv files into
// this store) and builds nothing. Its copy step then sends the closure of
// the .drv file (the derivation, its input derivations and sources, as
// `nix-store -qR <drv>` lists them), signed like any copy, over the same
// worker-protocol copy (tasks/closure), and runs `nix-store --realise
// <drv>` on the machine, which builds what it lacks; then the machine is
// activated from its own store as usual. colmena's buildOnTarget and
// deploy-rs' remote builds do the same.
//
// Every other machine is built here, and first checked: its toplevel's
// derivation names the platform it must be built on (its `system`, which
// for a real machine is the fleet's system; the lab's darwin stand-ins
// are built for x86_64-linux and pass). When that is neither this Nix's
// platform, nor one of its extra-platforms, nor one of its builders'
// (nix.conf `builders` or the machines file it names), the machine fails
// with a PlatformError saying which platform and the two ways out, before
// Nix is asked to build anything. A machine deployed on the machine it
// runs on builds here: here is the target.

// buildsOnTarget says whether m builds its own system: --build-on (any
// machine of the deploy), else its deploy.buildOn. The machine this runs
// on builds here.
func (d *Deployer) buildsOnTarget(m *fleet.Machine) bool {
	if d.isLocal(m) {
		return false
	}
	if d.opt.BuildOn != "" {
		return d.opt.BuildOn == fleet.BuildTarget
	}
	return m.BuildsOnTarget()
}

// targetBuilt lists the machines that build their own system.
func (d *Deployer) targetBuilt(machines []*fleet.Machine) []string {
	var out []string
	for _, m := range machines {
		if d.buildsOnTarget(m) {
			out = append(out, m.Name)
		}
	}
	return out
}

// sendsPaths says whether the deploy sends store paths to any machine
// (closures or derivations), which takes the signing key.
func (d *Deployer) sendsPaths(f *fleet.Fleet, names []string) bool {
	for _, n := range names {
		if m := f.Machines[n]; m != nil && !d.isLocal(m) {
			return true
		}
	}
	return false
}

// PlatformError is a machine whose system this deployer cannot build.
type PlatformError struct {
	Machine  string
	System   string   // the platform its toplevel is built for
	Native   []string // what this Nix builds itself
	Builders string   // nix.conf's builders setting, as Nix reported it
}

func (e *PlatformError) Error() string {
	builders := "nix.conf has no builders"
	if s := strings.TrimSpace(e.Builders); s != "" {
		builders = fmt.Sprintf("nix.conf's builders (%s) have none", s)
	}
	return fmt.Sprintf("%s's system is built for %s, which this deployer cannot build: its Nix builds %s, and %s for %s. "+
		"Build it on the machine itself: --build-on target (or deploy.buildOn = \"target\" in the fleet for every deploy); "+
		"or give this Nix a builder for %s in nix.conf's builders (builders = ssh-ng://<a %s machine> %s)",
		e.Machine, e.System, strings.Join(e.Native, ", "), builders, e.System, e.System, e.System, e.System)
}

// platformsOnce asks Nix what it can build at most once per deployment.
type platformsOnce struct {
	once sync.Once
	p    nix.Platforms
	err  error
}

// checkPlatforms fails (in failed) every machine to be built here whose
// toplevel's platform this Nix cannot build. Nix is asked only when a
// toplevel is not for the platform this binary runs on.
func (d *Deployer) checkPlatforms(ctx context.Context, machines []*fleet.Machine, want map[string]toplevelDrv, failed map[string]error) {
	for _, m := range machines {
		sys := want[m.Name].System
		if failed[m.Name] != nil || d.buildsOnTarget(m) || sys == "" || sys == nix.HostPlatform() {
			continue
		}
		d.platforms.once.Do(func() { d.platforms.p, d.platforms.err = d.opt.Nix.Platforms(ctx) })
		p, err := d.platforms.p, d.platforms.err
		switch {
		case err != nil:
			failed[m.Name] = fmt.Errorf("%s's system is built for %s, and this Nix did not say whether it can build that: %w", m.Name, sys, err)
		case !p.CanBuild(sys):
			failed[m.Name] = &PlatformError{Machine: m.Name, System: sys, Native: p.Native(), Builders: p.BuildersSetting}
		}
	}
	// Not a step of its own: a failure here is the machine's build failure,
	// reported by its steps like any other.
}

// onTarget returns a target-built machine's toplevel and derivation from
// the build step, and the deployment's connection to it.
func (d *Deployer) onTarget(ctx context.Context, in pipeline.Input, m *fleet.Machine) (top, drv string, c *remote.Client, err error) {
	top, c, err = d.hostFor(ctx, in, m)
	if err != nil {
		return "", "", nil, err
	}
	drv = builtOf(in.Deps[stepBuild], m.Name).Drv
	if drv == "" {
		return "", "", nil, fmt.Errorf("%s: the build step recorded no derivation to build on the machine", m.Name)
	}
	return top, drv, c, nil
}

// The host scripts of a build on the machine (POSIX sh, hostsh's rules:
// a Mac's root session finds Nix through hostsh's PATH).
const (
	// hasPathScript prints "yes" when the store path $1 is there.
	hasPathScript = `if [ -e "$1" ]; then echo yes; fi`
	// realiseScript builds the derivation $1 and prints its outputs
	// (nix-store --realise: every Nix version has it, no experimental
	// feature needed).
	realiseScript = `exec nix-store --realise "$1"`
)

// hasPath says whether the host's store has p.
func hasPath(ctx context.Context, c *remote.Client, p string) (bool, error) {
	out, err := c.Output(ctx, hostsh.Command(hasPathScript, p), nil)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(out)) == "yes", nil
}

// realise builds drv on the host and checks that it produced top.
func realise(ctx context.Context, c *remote.Client, drv, top string) error {
	var stdout, stderr bytes.Buffer
	err := c.Run(ctx, hostsh.Command(realiseScript, drv), nil, &stdout, &stderr)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("building %s on %s failed: %s", drv, c.Name(), tail.LastLines(nix.StripANSI(msg), 3))
	}
	for _, l := range strings.Fields(stdout.String()) {
		if l == top {
			return nil
		}
	}
	return fmt.Errorf("building %s on %s produced %q, not the toplevel %s", drv, c.Name(), strings.TrimSpace(stdout.String()), top)
}

// buildOnTargetStep copies m's toplevel derivation closure to m and builds
// it there. It stands in for the closure copy (same name, so activation
// follows it as it follows a copy) and asks the host first: a host that
// has the toplevel already gets nothing.
func (d *Deployer) buildOnTargetStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phaseCopy), Def: "deploy-build-on-target-v1", Deps: []string{stepBuild},
		Params:  map[string]string{"machine": m.Name, "target": d.targetParam(m), "buildOn": fleet.BuildTarget},
		NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, drv, c, err := d.onTarget(ctx, in, m)
			if err != nil {
				return nil, err
			}
			have, err := hasPath(ctx, c, top)
			if err != nil {
				return nil, err
			}
			if have {
				return pipeline.Outputs{outToplevel: top, outSent: "0", outBytes: "0", outClosure: "0",
					outNote: ": the machine has its system already (built there)"}, nil
			}
			infos, err := d.opt.Nix.DerivationClosure(ctx, drv)
			if err != nil {
				return nil, err
			}
			rep, err := closure.Copy(ctx, d.opt.Nix, c, closure.Options{Signer: d.signer, CheckSigs: true, Infos: infos}, drv)
			outs := copiedOutputs(rep)
			if err != nil {
				return outs, err
			}
			t0 := time.Now()
			if err := realise(ctx, c, drv, top); err != nil {
				return outs, err
			}
			note := fmt.Sprintf(": %d of %d derivation paths sent (%s), built on the machine in %s", rep.Sent, rep.Closure, humanBytes(rep.Bytes), time.Since(t0).Round(time.Millisecond))
			// outSent counts the toplevel built there too: the machine
			// cannot be running a system it has just built.
			return with(outs, outToplevel, top, outSent, strconv.Itoa(rep.Sent+1), outClosure, strconv.Itoa(rep.Closure), outBuilt, top, outNote, note), nil
		},
	}
}

// targetPlanStep (dry run) says what a build on the machine would do.
func (d *Deployer) targetPlanStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phasePlan), Def: "deploy-plan-on-target-v1", Deps: []string{stepBuild}, NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, drv, c, err := d.onTarget(ctx, in, m)
			if err != nil {
				return nil, err
			}
			st, err := activate.Current(ctx, c)
			if err != nil {
				return nil, err
			}
			// A dry run changes nothing: the generation stays.
			gens := generations(st.Generation, st.Generation)
			if st.Runs(top, d.opt.Action) {
				return with(gens, outPlan, "already runs "+top, outMissingList, "[]"), nil
			}
			have, err := hasPath(ctx, c, top)
			if err != nil {
				return nil, err
			}
			if have {
				return with(gens, outPlan, fmt.Sprintf("would %s %s, built on the machine already (now %s)", d.opt.Action, top, orNone(st.Toplevel)), outMissingList, "[]"), nil
			}
			infos, err := d.opt.Nix.DerivationClosure(ctx, drv)
			if err != nil {
				return nil, err
			}
			rep, err := closure.Copy(ctx, d.opt.Nix, c, closure.Options{DryRun: true, Infos: infos}, drv)
			if err != nil {
				return nil, err
			}
			return with(gens, outPlan, fmt.Sprintf("would copy %d of %d derivation paths (%s), build %s on the machine and %s it (now %s)",
				len(rep.Missing), rep.Closure, humanBytes(rep.MissingBytes), top, d.opt.Action, orNone(st.Toplevel)), outMissingList, "[]",
				outMissing, strconv.Itoa(len(rep.Missing)), outMissingBytes, strconv.FormatInt(rep.MissingBytes, 10)), nil
		},
	}
}
