//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/deploy"
)

// deployer builds a Deployer from the environment (see docs/deploy.md).
func deployer() (*deploy.Deployer, deploy.Options, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, deploy.Options{}, err
	}
	opt, err := deploy.FromEnv(wd)
	if err != nil {
		return nil, opt, err
	}
	opt.Out = os.Stdout
	// Bars on a terminal; plain lines in CI logs and pipes.
	opt.Bars = deploy.IsTerminal(os.Stdout)
	d, err := deploy.New(opt)
	return d, opt, err
}

func runDeploy(ctx context.Context, selectors []string) error {
	d, opt, err := deployer()
	if err != nil {
		return err
	}
	rows, err := d.Run(ctx, selectors)
	if len(rows) > 0 {
		fmt.Print("\n" + deploy.Table(rows))
	}
	if opt.Lab != nil && !opt.DryRun {
		fmt.Printf("\nwhere to look: go tool mage lab:status; the host's log: go tool mage lab:ssh <machine> cat /var/lib/vanixiets/activations.log /var/lib/vanixiets/deploy.log\n")
	}
	return err
}

// Machine deploys one machine: evaluate, build, copy the closure, activate
// with magic rollback, confirm after health checks. With the default (lab)
// flake the machine's lab host is brought up first. VANIXIETS_DRY_RUN=1
// prints the plan only.
func (Deploy) Machine(ctx context.Context, name string) error {
	return runDeploy(ctx, []string{name})
}

// Fleet deploys many machines in parallel: selectors are comma-separated
// names and @tags; "" or "all" means every machine.
func (Deploy) Fleet(ctx context.Context, selectors string) error {
	sel := deploy.SplitSelectors(selectors)
	if len(sel) == 1 && strings.EqualFold(sel[0], "all") {
		sel = nil
	}
	return runDeploy(ctx, sel)
}

// Rollback switches a machine back one generation of its system profile.
func (Deploy) Rollback(ctx context.Context, name string) error {
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
