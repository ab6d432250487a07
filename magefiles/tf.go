//go:build mage

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/fakegcp"
	"github.com/vanixiets/vanixiets/tasks/provision"
	"github.com/vanixiets/vanixiets/tasks/terraform"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// Flags (after the target) and their environment fallbacks:
//   --flake <path>          VANIXIETS_FLAKE, fleet flake (default lab)
//   --yes                   VANIXIETS_YES=1: apply/destroy/provision without asking
//   VANIXIETS_TF_STATE      encrypted state (default terraform/terraform.tfstate.age)
//   VANIXIETS_AGE_IDENTITY  admin age identity files (else where sops finds keys; lab: lab/keys/*.agekey)
//   HCLOUD_ENDPOINT, HCLOUD_TOKEN  a real or external API; unset: in-process fake backed by the lab
//   GOOGLE_COMPUTE_CUSTOM_ENDPOINT, GOOGLE_OAUTH_ACCESS_TOKEN (or other Google credentials)  likewise for GCP
//   VANIXIETS_FAKE_BACKEND  lab (default) or memory

func tfYes() bool { return boolFlag("yes") }

// withTf runs fn in a terraform session of the flake and state in use
// (tfFlake), closed after it.
func withTf(ctx context.Context, fn func(s *terraform.Session) error) error {
	flake, st, err := tfFlake(ctx)
	if err != nil {
		return err
	}
	s, err := terraform.Open(ctx, terraform.Options{Out: os.Stderr, Flake: flake, StateFile: st, ServeAPI: fakeCloud(), ServeGCP: fakeGCP()})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// tfFlake is --flake (or $VANIXIETS_FLAKE; "" for terraform.DefaultFlake)
// and the state file a tf target works on (terraform.ResolveStateFile).
// It validates the fleet first, so that a wrongly typed field gets the
// fleet's message (machine, field, fix) rather than Nix's type error from
// the terranix render.
func tfFlake(ctx context.Context) (flake, state string, err error) {
	if _, _, err := loadFleet(ctx); err != nil {
		return "", "", err
	}
	flake = flag("flake", "")
	state, err = terraform.ResolveStateFile(flake)
	return flake, state, err
}

// fakeGCP is terraform's ServeGCP hook of every front door: the fake
// Compute Engine API in process, its instances hosts of the lab of the
// flake's fleet (fleetLab), as fakeCloud's servers are.
func fakeGCP() func(ctx context.Context, workDir string) (string, string, func(), error) {
	return fakegcp.ServeFromEnv(fleetLab)
}

// Render renders the fleet's terraform JSON into the work directory and prints what changed since the last rendering.
func (Tf) Render(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	return withTf(ctx, func(s *terraform.Session) error {
		ch, err := terranix.WriteWork(s.Workspace.WorkDir, s.Rendering)
		if err != nil {
			return err
		}
		cached := ""
		if s.Rendering.Cached {
			cached = " (cached)"
		}
		fmt.Printf("rendered %s/%s%s, render key %.12s\n", s.Workspace.WorkDir, terranix.FileName, cached, s.Rendering.Key)
		fmt.Print(terranix.FormatDiff(ch))
		return nil
	})
}

// Plan makes and saves a terraform plan and prints what it does per machine.
func (Tf) Plan(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	return withTf(ctx, func(s *terraform.Session) error {
		// No store: like `terraform plan`, tf:plan asks the cloud every time,
		// so drift made outside this repository (a server deleted in the
		// console) shows. The plan step still runs through the engine.
		p, _, err := s.Workspace.RunPlan(ctx, s.Rendering, nil)
		if err != nil {
			return err
		}
		fmt.Print(p.Summary())
		if p.HasChanges() {
			fmt.Println("saved; apply it with: go tool mage tf:apply --yes")
		}
		return nil
	})
}

// Apply applies the saved plan (refused when made from an older render); asks unless --yes.
func (Tf) Apply(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	return withTf(ctx, func(s *terraform.Session) error {
		p, err := s.Workspace.RunApply(ctx, s.Rendering, terraform.Ask(tfYes(), os.Stdin, os.Stdout), cache.Open())
		if err != nil {
			return err
		}
		if !p.HasChanges() {
			fmt.Print(p.Summary())
			return nil
		}
		return printOutputs(s.Workspace)
	})
}

// Destroy destroys every resource in the state; asks unless --yes.
func (Tf) Destroy(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	return withTf(ctx, func(s *terraform.Session) error {
		p, err := s.Workspace.RunDestroy(ctx, s.Rendering, terraform.Ask(tfYes(), os.Stdin, os.Stdout))
		if err != nil {
			return err
		}
		if !p.HasChanges() {
			fmt.Println("nothing to destroy")
		}
		return nil
	})
}

// Validate renders the fleet's terraform JSON and runs terraform validate on it with the providers of the local mirror (hcloud and google).
func (Tf) Validate(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	return withTf(ctx, func(s *terraform.Session) error {
		// Every provider the rendering needs is validated: one missing from
		// the mirror fails with how to install it. --strict is kept for the
		// command lines that pass it; it is what validate always is now.
		if err := s.Workspace.Validate(ctx, s.Rendering); err != nil {
			return err
		}
		fmt.Printf("terraform validate: ok (render key %.12s)\n", s.Rendering.Key)
		return nil
	})
}

// Provision makes sure a cloud machine exists (plans, asks unless --yes, applies, waits for its ssh) and prints its address; non-cloud machines: nothing to do.
func (Tf) Provision(ctx context.Context, machine string) (err error) {
	defer explained(ctx, &err)
	flake, st, err := tfFlake(ctx)
	if err != nil {
		return err
	}
	res, err := provision.Ensure(ctx, provision.Options{Flake: flake, StateFile: st, Yes: tfYes(), Out: os.Stderr, In: os.Stdin, ServeAPI: fakeCloud(), ServeGCP: fakeGCP(), Cache: cache.Open()}, machine)
	if err != nil {
		return err
	}
	switch {
	case !res.Cloud:
		fmt.Printf("%s is not a cloud machine: nothing to provision\n", machine)
	case res.Provisioned:
		fmt.Printf("%s created: %s\n", machine, res.Addr)
	default:
		fmt.Printf("%s exists: %s\n", machine, res.Addr)
	}
	return nil
}

// Output prints terraform's outputs (machine addresses) from the encrypted state.
func (Tf) Output(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	flake, st, err := tfFlake(ctx)
	if err != nil {
		return err
	}
	if _, err := os.Stat(st); err != nil {
		// Printing no outputs and exiting 0 would read as "no machines".
		return fmt.Errorf("tf:output: no terraform state at %s: nothing was applied for this flake yet (go tool mage tf:apply), or name the state with VANIXIETS_TF_STATE", st)
	}
	w, err := terraform.StateReader(terraform.Options{Flake: flake, StateFile: st})
	if err != nil {
		return err
	}
	return printOutputs(w)
}

func printOutputs(w *terraform.Workspace) error {
	outs, err := w.Outputs()
	if err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(outs))
	for _, k := range names {
		var v any
		json.Unmarshal(outs[k], &v)
		fmt.Printf("%s = %v\n", k, v)
	}
	return nil
}
