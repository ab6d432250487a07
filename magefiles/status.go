//go:build mage

package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/status"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// Status prints one row per selected machine (names and @tags as for
// deploy:fleet; none or "all": every machine): the generation and store
// path it runs and when it was activated, whether that is the flake's
// current system (up to date, behind, never deployed, unknown when the
// host does not answer), whether its secrets are as the vars have them
// (or which a deploy would send), and for cloud machines whether the
// terraform state has their server (exists, disabled, missing). One SSH
// connection per host, in parallel, each given up at --timeout (default
// 10s). Exits non-zero when a host is unreachable. Flags: --flake <path>,
// --json, --timeout <d>, --lab.
func (Fleet) Status(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	sel := deploy.Selectors(rest())
	opt, err := deployOptions(false)
	if err != nil {
		return err
	}
	timeout := status.DefaultTimeout
	if d, ok := call.Duration("timeout"); ok && d > 0 {
		timeout = d
	}
	opt.ConnectTimeout = timeout
	// The deploy's store and nix, shared with the toplevels' cached
	// evaluation (status.Toplevels): an unchanged flake is not evaluated
	// again.
	if opt.Cache == nil {
		opt.Cache = cache.Open()
	}
	if opt.Nix == nil {
		if opt.Nix, err = nix.New(); err != nil {
			return err
		}
	}
	d, err := deploy.New(opt)
	if err != nil {
		return err
	}
	// The cloud machines' column reads the flake's terraform state as
	// tf:output does (decrypted in memory, no terraform, no lock).
	st, err := terraform.ResolveStateFile(opt.Flake)
	if err != nil {
		return err
	}
	state, err := terraform.StateReader(terraform.Options{Flake: opt.Flake, StateFile: st})
	if err != nil {
		return err
	}
	rows, err := status.Run(ctx, d, sel, status.Options{Timeout: timeout, State: state,
		Toplevels: &status.Toplevels{Flake: opt.Flake, Cache: opt.Cache, Nix: opt.Nix}})
	if boolFlag("json") {
		if rows == nil {
			rows = []status.Row{}
		}
		b, jerr := json.MarshalIndent(rows, "", "  ")
		if jerr != nil {
			return jerr
		}
		fmt.Println(string(b))
	} else if len(rows) > 0 {
		fmt.Print(status.Table(rows))
	}
	return err
}
