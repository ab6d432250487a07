//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/provision"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// deployer builds a Deployer from the environment (see docs/deploy.md) and
// the flags tasks/cli has checked: --dry-run, --flake <path> (else
// $VANIXIETS_FLAKE, else lab/), --lab (deploy a flake that is no lab
// fleet to the lab), --mode switch|boot|test|dry-activate, --timeout 30s,
// --parallel n, --yes, --no-provision, --local (the machine this runs on:
// no SSH, sudo -n when not root, never the lab), --build-on local|target.
func deployer() (*deploy.Deployer, deploy.Options, error) {
	// --local is this machine, never a lab host.
	local := boolFlag("local")
	if local && boolFlag("lab") {
		return nil, deploy.Options{}, fmt.Errorf("--local deploys the machine this runs on and --lab deploys to lab hosts: give one of them")
	}
	opt, err := deployOptions(local)
	if err != nil {
		return nil, opt, err
	}
	opt.Local = local
	opt.DryRun = boolFlag("dry-run")
	opt.BuildOn = flag("build-on", "")
	if deploy.IsTerminal(os.Stdin) {
		opt.Terminal = os.Stdin // sudo may ask there, once, for a local deploy
	}
	if m := flag("mode", ""); m != "" {
		opt.Action = m
	}
	if d, ok := call.Duration("timeout"); ok {
		opt.Timeout = deploy.OffAtZero(d) // 0s turns magic rollback off
	}
	if d, ok := call.Duration("stall"); ok {
		opt.Stall = deploy.OffAtZero(d) // 0s: no stall limit
	}
	if n, ok := call.Count("parallel"); ok {
		opt.Parallel = n
	}
	// A Compute Engine machine's first connection is checked against its
	// console (bootstrap trust: tasks/deploy/bootstrap.go).
	st, err := terraform.ResolveStateFile(opt.Flake)
	if err != nil {
		return nil, opt, err
	}
	opt.ConsoleHostKeys = provision.ConsoleHostKeys(provision.Options{Flake: opt.Flake, StateFile: st, ServeAPI: fakeCloud(), ServeGCP: fakeGCP()})
	if !boolFlag("no-provision") {
		// A Hetzner machine that does not exist yet is created first
		// (plan shown; asks unless --yes): provision -> install -> deploy.
		yes := boolFlag("yes")
		flake := opt.Flake
		opt.Provision = func(ctx context.Context, machine string) error {
			_, err := provision.Ensure(ctx, provision.Options{Flake: flake, StateFile: st, Yes: yes, Out: os.Stdout, In: os.Stdin, ServeAPI: fakeCloud(), ServeGCP: fakeGCP()}, machine)
			return err
		}
	}
	opt.Out = os.Stdout
	// Bars on a terminal; plain lines in CI logs and pipes.
	opt.Bars = deploy.IsTerminal(os.Stdout)
	d, err := deploy.New(opt)
	return d, opt, err
}

// deployOptions are what deploy:* and fleet:status share: the environment
// (deploy.FromEnv), --flake and --ssh-config over it (passed as options,
// not through the environment), and the lab plugged in, here at the front
// door, when the fleet declares itself one or --lab says so; never for
// local (the machine this runs on).
func deployOptions(local bool) (deploy.Options, error) {
	wd, err := os.Getwd()
	if err != nil {
		return deploy.Options{}, err
	}
	opt, err := deploy.FromEnv(wd, os.Getenv)
	if err != nil {
		return opt, err
	}
	if opt.Flake, err = flakeArg(); err != nil {
		return opt, err
	}
	if f := flag("ssh-config", ""); f != "" {
		opt.SSHConfig = f // the one ssh_config, as ssh -F
	}
	useLab, err := deploy.WantsLab(opt.Flake, boolFlag("lab"), call.Env("VANIXIETS_LAB"))
	if err != nil || !useLab || local {
		return opt, err
	}
	l, err := lab.Default()
	if err != nil {
		return opt, err
	}
	opt.Lab = lab.ForDeploy(l)
	if call.Given("ssh-config") {
		return opt, deploy.SSHConfigForLab(flag("ssh-config", ""), opt.Lab)
	}
	return opt, nil
}

func runDeploy(ctx context.Context, selectors []string) error {
	d, opt, err := deployer()
	if err != nil {
		return err
	}
	if opt.DryRun {
		fmt.Println("dry run: evaluate, build and ask the hosts; no host is changed")
	}
	rows, err := d.Run(ctx, selectors)
	if len(rows) > 0 {
		fmt.Print("\n" + deploy.Table(rows))
		fmt.Println(deploy.Totals(rows))
	}
	if t := deploy.DryRunText(rows); opt.DryRun && t != "" {
		// Per machine: what would be copied, the closure diff in
		// packages and versions, the units that would restart.
		fmt.Print("\n" + t)
	}
	if opt.Lab != nil && !opt.DryRun && len(rows) > 0 {
		fmt.Printf("\nwhere to look: go tool mage lab:status; the host's log: go tool mage lab:ssh <machine> cat /var/lib/vanixiets/activations.log /var/lib/vanixiets/deploy.log; its secrets: /run/secrets/vars\n")
	}
	return err
}

// Machine deploys one machine: evaluate, build, upload its secrets, copy
// the closure, activate with magic rollback, confirm after health checks.
// With the default (lab) flake the machine's lab host is brought up first.
// Flags: --dry-run (plan only), --flake <path>, --mode switch|boot|test|dry-activate,
// --timeout 30s (magic rollback window; 0s off), --yes (create a Hetzner machine
// that does not exist yet without asking), --no-provision (never run terraform).
func (Deploy) Machine(ctx context.Context, name string) (err error) {
	defer explained(ctx, &err)
	return runDeploy(ctx, []string{name})
}

// Fleet deploys many machines in parallel: selectors are machine names and
// @tags, as trailing words or comma-separated (deploy:fleet @server stibnite,
// deploy:fleet @server,stibnite); none, "" or "all" means every machine.
// Same flags as deploy:machine, plus --parallel n.
func (Deploy) Fleet(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	sel := deploy.Selectors(rest())
	return runDeploy(ctx, sel)
}

// Rollback switches a machine back one generation of its system profile.
func (Deploy) Rollback(ctx context.Context, name string) (err error) {
	defer explained(ctx, &err)
	d, _, err := deployer()
	if err != nil {
		return err
	}
	from, to, err := d.Rollback(ctx, name)
	if err != nil {
		return err
	}
	fmt.Printf("%s: generation %d -> %d (%s)\n", name, from.Generation, to.Generation, to.Toplevel)
	return nil
}
