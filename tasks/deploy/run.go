package deploy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// Fleet evaluates the flake's fleet output (a cached step) and validates
// it with check:fleet's code and messages, so that a bad fleet (two
// machines on one host, a machine without a class, secrets nobody can
// decrypt) stops every deployment, dry runs included, before any host is
// reached. The deployment's graph takes this evaluation as its own
// evaluate step (d.evaluated): the fleet it selected machines from is the
// one it deploys, asked of the cache once.
func (d *Deployer) Fleet(ctx context.Context) (*fleet.Fleet, error) {
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{d.evalStep()}, Cache: d.opt.Cache}
	rs, err := p.Run(cache.OnlyMadeHere(ctx)) // the fleet decides owners, modes, health checks: never a shared hit
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.evaluated = rs[0]
	d.mu.Unlock()
	f, err := fleet.Parse([]byte(rs[0].Outputs[outFleet]))
	if err != nil {
		return nil, err
	}
	if err := f.Check(d.opt.Flake); err != nil {
		return nil, err
	}
	return f, nil
}

// selected evaluates the fleet (Fleet), resolves selectors and opens the
// vars: what a deployment (prepare) and a look (Look) both start with.
func (d *Deployer) selected(ctx context.Context, selectors []string) (*fleet.Fleet, []string, error) {
	f, err := d.Fleet(ctx)
	if err != nil {
		return nil, nil, err
	}
	names, err := Select(f, selectors)
	if err != nil {
		return nil, nil, err
	}
	if d.opt.VarsDir != "" && d.secrets == nil {
		if d.secrets, err = newSecrets(f, d.opt.VarsDir, d.identities); err != nil {
			return nil, nil, err
		}
	}
	return f, names, nil
}

// prepare evaluates the fleet, resolves selectors, opens the vars and, for
// a lab deployment, brings the selected machines' lab hosts up (with their
// generated host keys).
func (d *Deployer) prepare(ctx context.Context, selectors []string) (*fleet.Fleet, []string, error) {
	if err := d.checkLocal(selectors); err != nil {
		return nil, nil, err
	}
	f, names, err := d.selected(ctx, selectors)
	if err != nil {
		return nil, nil, err
	}
	if err := d.provision(ctx, f, names); err != nil {
		return nil, nil, err
	}
	if d.opt.Lab != nil {
		d.printf("lab %s: bringing up %s", d.opt.Lab.Name(), listed(names))
		if err := d.opt.Lab.Up(ctx, f, names, d.labHostKey()); err != nil {
			return nil, nil, err
		}
	}
	return f, names, nil
}

// provision runs the Provision hook for the selected cloud machines that
// are enabled (Hetzner and GCP alike). A disabled machine is not
// provisioned (the fleet says it should not exist): it is deployed to its
// targetHost as it is, with a note.
func (d *Deployer) provision(ctx context.Context, f *fleet.Fleet, names []string) error {
	if d.opt.Provision == nil || d.opt.DryRun {
		return nil
	}
	for _, n := range names {
		m := f.Machines[n]
		if m == nil || m.Cloud == nil {
			continue
		}
		switch {
		case !m.Cloud.Enabled:
			d.printf("%s: cloud machine disabled in the fleet (cloud.enabled = false): not provisioned, deploying to %s as it is", n, m.Deploy.TargetHost)
		default:
			if err := d.opt.Provision(ctx, n); err != nil {
				return fmt.Errorf("provision %s: %w", n, err)
			}
		}
	}
	return nil
}

// UpLab brings up the lab hosts of the selected machines as a deployment
// would (fleet machine names and targets, host keys from the vars) without
// deploying. It needs Options.Lab.
func (d *Deployer) UpLab(ctx context.Context, selectors []string) error {
	if d.opt.Lab == nil {
		return errors.New("deploy: UpLab needs a lab (Options.Lab)")
	}
	_, _, err := d.prepare(ctx, selectors)
	return err
}

// Run deploys the selected machines and returns one summary per machine,
// in name order. The error is non-nil when any machine failed or rolled
// back.
func (d *Deployer) Run(ctx context.Context, selectors []string) ([]Summary, error) {
	defer d.closeAll()
	f, names, err := d.prepare(ctx, selectors)
	if err != nil {
		return nil, err
	}
	if err := d.loadSSHConfig(); err != nil {
		return nil, err
	}
	if !d.opt.DryRun && d.sendsPaths(f, names) {
		// The lab holds the key its hosts trust from creation on; a real
		// fleet's key lives in Dir, and its machines list the public half
		// in nix.settings.trusted-public-keys. (A deploy of this machine
		// alone sends nothing and needs no key.)
		var sec string
		if d.opt.Lab != nil {
			sec, err = d.opt.Lab.SigningKey(ctx)
		} else {
			sec, _, err = closure.EnsureKey(ctx, filepath.Join(d.opt.Dir, "key"), SigningKeyName)
		}
		if err != nil {
			return nil, err
		}
		if d.signer, err = closure.LoadSigner(sec); err != nil {
			return nil, err
		}
	}
	var machines []*fleet.Machine
	var failed []Summary
	for _, n := range names {
		m := f.Machines[n]
		if d.opt.DryRun {
			machines = append(machines, m)
			continue
		}
		unlock, err := d.lockMachine(n)
		if err != nil {
			failed = append(failed, Summary{Machine: n, Result: "failed", Err: err})
			continue
		}
		defer unlock()
		machines = append(machines, m)
	}
	// Before any step and any progress bar: sudo asks here, once, or says
	// why it cannot (local.go).
	if err := d.readyLocal(ctx, machines); err != nil {
		return nil, err
	}
	t0 := time.Now()
	steps := d.steps(machines)
	// Options.Parallel machines in flight (parallel.go).
	d.mu.Lock()
	done := map[string]pipeline.Result{stepEvaluate: d.evaluated} // prepare's Fleet
	d.mu.Unlock()
	p := &pipeline.Pipeline{Steps: steps, Cache: d.opt.Cache, Parallel: inFlight(steps, d.opt.Parallel), Groups: d.opt.Parallel, OnEvent: d.event, Done: done}
	disp := newDisplay(d.opt.Out, d.opt.Bars, steps, d.opt.Parallel)
	d.mu.Lock()
	d.disp, d.left = disp, newMachineSteps(steps)
	d.mu.Unlock()
	d.fleetWide = &fleetWide{}
	results, _ := p.Run(cache.OnlyMadeHere(ctx)) // store paths to activate: never a shared hit
	disp.stop()
	d.mu.Lock()
	d.disp = nil
	d.mu.Unlock()
	return d.summarize(machines, results, failed, time.Since(t0))
}
