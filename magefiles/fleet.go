//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// flakeArg is the flake every fleet target reads: --flake, else
// $VANIXIETS_FLAKE, else the repository's lab flake.
func flakeArg() (string, error) {
	if f := flag("flake", ""); f != "" {
		return f, nil
	}
	return fleet.DefaultFlake()
}

// Fleet loads, validates and prints the inventory of the flake (--flake,
// $VANIXIETS_FLAKE, default lab/): one line per machine with its class,
// system, tags, deploy target, cloud provider, enabled toggle and roles.
// A warm run (flake content unchanged) starts no nix process.
func (Check) Fleet(ctx context.Context) error {
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
	if err := f.Validate(); err != nil {
		return fmt.Errorf("flake %s: %w", ref, err)
	}
	src := "evaluated"
	if hit {
		src = "cached"
	}
	fmt.Printf("%d machines, %d instances, %d users: valid (%s)\n", len(f.Machines), len(f.Instances), len(f.Users), src)
	return nil
}

// Flake runs `nix flake check` on the flake (--flake, $VANIXIETS_FLAKE,
// default lab/), skipped when a check of the same content already passed.
func (Check) Flake(ctx context.Context) error {
	ref, err := flakeArg()
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
func (Fleet) Show(ctx context.Context, machine string) error {
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
