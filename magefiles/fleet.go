//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// flakeArg is the flake every target reads: --flake, else
// $VANIXIETS_FLAKE (tasks/cli reads both), else the repository's lab flake
// (paths.Flake decides).
func flakeArg() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return paths.Flake(flag("flake", ""), wd)
}

// Fleet loads, validates and prints the inventory of the flake (--flake,
// $VANIXIETS_FLAKE, default lab/): one line per machine with its class,
// system, tags, deploy target, cloud provider, enabled toggle and roles.
// A warm run (flake content unchanged) starts no nix process.
func (Check) Fleet(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	ref, err := flakeArg()
	if err != nil {
		return err
	}
	l := fleet.NewLoader()
	f, hit, err := l.LoadUnvalidated(ctx, ref)
	if err != nil {
		return err
	}
	if err := f.Table(os.Stdout); err != nil {
		return err
	}
	if err := f.Check(ref); err != nil {
		return err
	}
	src := "evaluated"
	if hit {
		src = "cached"
	}
	fmt.Printf("%d machines, %d instances, %d users: valid (%s)\n", len(f.Machines), len(f.Instances), len(f.Users), src)
	return nil
}

// loadFleet returns the flake the target works on (flakeArg) and its
// fleet, loaded and validated (cached: no nix process on a warm run).
func loadFleet(ctx context.Context) (ref string, f *fleet.Fleet, err error) {
	if ref, err = flakeArg(); err != nil {
		return "", nil, err
	}
	f, err = fleet.Load(ctx, ref)
	if err != nil && !strings.Contains(err.Error(), ref) {
		return ref, nil, fmt.Errorf("flake %s: %w", ref, err)
	}
	return ref, f, err
}

// Flake runs `nix flake check` on the flake (--flake, $VANIXIETS_FLAKE,
// default lab/), skipped when a check of the same content already passed.
func (Check) Flake(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	// `nix flake check` knows nothing of the suite's contract: a flake
	// with no (or an invalid) fleet output passes it. Check the fleet first.
	ref, _, err := loadFleet(ctx)
	if err != nil {
		return err
	}
	res, err := fleet.NewLoader().CheckFlake(ctx, ref)
	if err != nil {
		return err
	}
	if res.Cached {
		fmt.Printf("flake check %s: passed (cached, key %.12s)\n", res.Flake, res.Key)
	} else {
		fmt.Printf("flake check %s: passed in %s\n", res.Flake, res.Duration.Round(1e6))
	}
	return nil
}

// Show prints one machine's full record as JSON (the contract's fields plus
// its roles, users, admins and secret recipients).
func (Fleet) Show(ctx context.Context, machine string) (err error) {
	defer explained(ctx, &err)
	ref, err := flakeArg()
	if err != nil {
		return err
	}
	f, _, err := fleet.NewLoader().LoadUnvalidated(ctx, ref)
	if err != nil {
		return err
	}
	b, err := f.ShowJSON(machine)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
