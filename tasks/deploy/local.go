package deploy

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/localexec"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// Deploying the machine the deployer sits at.
//
// A machine is local when --local is given (Options.Local, one machine),
// or when its name is this machine's host name (the part before the first
// dot, in any case: "stibnite" is local on stibnite.local), as
// darwin-rebuild switch deploys the machine it runs on. A lab deployment
// has none: its machines are lab hosts, never the machine running the lab.
//
// A local machine is built here, as always, and then neither reached over
// SSH nor copied to (the store is this one). Every host-side script —
// secrets upload, activation, confirmation, status, rollback — runs
// through localexec: /bin/sh -c as root, or sudo -n /bin/sh -c otherwise,
// so it is the very code of a remote deploy (tasks/activate, tasks/vars)
// with another transport. Magic rollback holds: the activation's agent is
// detached as on a remote host, and the confirmation comes from a new
// process (a new sudo session), after the health checks, just as a remote
// confirmation comes over a new connection. A confirmation that cannot run
// (sudo refused after the switch) lets the agent roll back by itself.

// localState is the deployment's view of this machine.
type localState struct {
	once  sync.Once
	host  string // this machine's short host name, lower case
	shell *localexec.Shell
	ready error
	rOnce sync.Once
}

// hostName is this machine's short host name: Options.HostName, else the
// kernel's (os.Hostname), up to the first dot, lower case.
func (d *Deployer) hostName() string {
	d.local.once.Do(func() {
		h := d.opt.HostName
		if h == "" {
			h, _ = os.Hostname()
		}
		h, _, _ = strings.Cut(h, ".")
		d.local.host = strings.ToLower(h)
	})
	return d.local.host
}

// isLocal says whether m is the machine this deployer runs on.
func (d *Deployer) isLocal(m *fleet.Machine) bool {
	if d.opt.Lab != nil {
		return false
	}
	if d.opt.Local {
		return true // checkLocal allows --local with one machine only
	}
	h := d.hostName()
	return h != "" && strings.EqualFold(m.Name, h)
}

// checkLocal refuses what a local deploy cannot mean, before anything is
// evaluated: --local with a lab (whose machines are lab hosts), or with
// anything but the one machine's name (several, a tag, all).
func (d *Deployer) checkLocal(selectors []string) error {
	if !d.opt.Local {
		return nil
	}
	if d.opt.Lab != nil {
		return fmt.Errorf("--local deploys the machine this runs on, and a lab deploy goes to lab hosts: drop --local, or deploy with VANIXIETS_LAB=0")
	}
	if len(selectors) != 1 || strings.HasPrefix(selectors[0], "@") {
		got := "every machine"
		if len(selectors) > 0 {
			got = strings.Join(selectors, ", ")
		}
		return fmt.Errorf("--local deploys the machine this runs on: name exactly that machine (got %s)", got)
	}
	return nil
}

// shell is the local transport, made once.
func (d *Deployer) shell(m *fleet.Machine) *localexec.Shell {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.local.shell == nil {
		d.local.shell = localexec.New(m.Name + " (this machine)")
	}
	return d.local.shell
}

// readyLocal makes sure the local scripts can run as root (sudo -n, asked
// once on Options.Terminal when it needs a password), before any step
// runs: a sudo that would ask with nobody to answer fails here, saying
// what to do, and changes nothing.
func (d *Deployer) readyLocal(ctx context.Context, machines []*fleet.Machine) error {
	for _, m := range machines {
		if !d.isLocal(m) {
			continue
		}
		sh := d.shell(m)
		d.local.rOnce.Do(func() {
			if sh.Sudo {
				d.printf("%-10s %-9s not root: the host-side scripts run through sudo -n %s", m.Name, "local", localexec.Sh)
			}
			d.local.ready = sh.Ready(ctx, d.opt.Terminal)
		})
		if d.local.ready != nil {
			return fmt.Errorf("%s: %w", m.Name, d.local.ready)
		}
	}
	return nil
}

// host is where m's host-side scripts run: this machine's shell for a
// local machine, else the deployment's SSH connection.
func (d *Deployer) host(ctx context.Context, m *fleet.Machine) (activate.Host, error) {
	if d.isLocal(m) {
		return d.shell(m), nil
	}
	return d.conn(ctx, m)
}

// activationHost returns the machine's toplevel from the build step and
// where its scripts run.
func (d *Deployer) activationHost(ctx context.Context, in pipeline.Input, m *fleet.Machine) (string, activate.Host, error) {
	top, err := d.toplevel(in, m)
	if err != nil {
		return "", nil, err
	}
	h, err := d.host(ctx, m)
	if err != nil {
		return "", nil, err
	}
	return top, h, nil
}

// fresh reaches m anew for a confirmation: a NEW SSH connection to a
// remote machine (reaching it again is the first check), a new process
// (and sudo session) on this one. The caller calls done.
func (d *Deployer) fresh(ctx context.Context, m *fleet.Machine) (h activate.Host, done func(), err error) {
	if d.isLocal(m) {
		sh := *d.shell(m) // its own value: nothing of the activating call is shared
		return &sh, func() {}, nil
	}
	cfg, err := d.target(m)
	if err != nil {
		return nil, nil, err
	}
	c, err := remote.Dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

// targetName names m's target in step parameters and messages.
func (d *Deployer) targetName(m *fleet.Machine) string {
	if d.isLocal(m) {
		return "local:" + m.Name
	}
	return d.targetParam(m)
}

// localStoreStep stands in for the closure copy of a local machine: the
// toplevel was built into this machine's store, which is the one it
// activates from, so there is nothing to send.
func (d *Deployer) localStoreStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phaseCopy), Def: "deploy-copy-local-v1", Deps: []string{stepBuild},
		Params:  map[string]string{"machine": m.Name, "target": d.targetName(m)},
		NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, err := d.toplevel(in, m)
			if err != nil {
				return nil, err
			}
			if _, err := os.Lstat(top); err != nil {
				return nil, fmt.Errorf("%s: the toplevel %s is not in this machine's store: %v", m.Name, top, err)
			}
			return pipeline.Outputs{outToplevel: top, outSent: "0", outBytes: "0", outClosure: "0",
				outNote: ": nothing to copy, the store is this machine's"}, nil
		},
	}
}

// localPlanStep (dry run) says what a local deploy would do: switch this
// machine, nothing to copy.
func (d *Deployer) localPlanStep(m *fleet.Machine) *pipeline.Step {
	return &pipeline.Step{
		Name: stepOf(m.Name, phasePlan), Def: "deploy-plan-local-v1", Deps: []string{stepBuild}, NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, h, err := d.activationHost(ctx, in, m)
			if err != nil {
				return nil, err
			}
			st, err := activate.Current(ctx, h)
			if err != nil {
				return nil, err
			}
			plan := "already runs " + top
			if !st.Runs(top, d.opt.Action) {
				plan = fmt.Sprintf("would %s this machine to %s (now %s); nothing to copy", d.opt.Action, top, orNone(st.Toplevel))
			}
			// A dry run changes nothing: the generation stays.
			return with(generations(st.Generation, st.Generation), outPlan, plan, outMissingList, "[]"), nil
		},
	}
}

// placeStep puts m's system where it activates: nothing to do for this
// machine, a copy of the derivations and a build there for a machine that
// builds its own system, the closure copy otherwise.
func (d *Deployer) placeStep(m *fleet.Machine) *pipeline.Step {
	switch {
	case d.isLocal(m):
		return d.localStoreStep(m)
	case d.buildsOnTarget(m):
		return d.buildOnTargetStep(m)
	}
	return d.copyStep(m)
}

// planFor is m's dry-run step.
func (d *Deployer) planFor(m *fleet.Machine) *pipeline.Step {
	switch {
	case d.isLocal(m):
		return d.localPlanStep(m)
	case d.buildsOnTarget(m):
		return d.targetPlanStep(m)
	}
	return d.planStep(m)
}

// hostRemote adapts where m's scripts run to vars.Remote: the upload's
// script travels on stdin, over the deployment's SSH connection or into a
// local (sudo) shell.
type hostRemote struct{ h activate.Host }

func (r hostRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	return r.h.Run(ctx, cmd, stdin, stdout, nil)
}

var _ vars.Remote = hostRemote{}
