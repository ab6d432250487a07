//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cli"
	"github.com/vanixiets/vanixiets/tasks/overlays"
)

// Overlays checks the five-layer nixpkgs overlay tree (modules/nixpkgs):
// composition order, layer placement, per-entry documentation, stale
// entries, platform conditionals and packages overridden twice. It is a
// cached step: an unchanged tree answers from the cache without Nix.
//
//	--flake-root dir   the flake to check ($VANIXIETS_FLAKE_ROOT); default:
//	                   the repository's fleet and the lab fleet
//	--json             print the report as JSON ($VANIXIETS_JSON=1; schema
//	                   in docs/overlays.md: rule, severity, file, line,
//	                   message, fix per finding)
//	--max-age 90d      stale limit ($VANIXIETS_OVERLAY_MAX_AGE)
//	--systems a,b      fleet systems ($VANIXIETS_FLEET_SYSTEMS; default
//	                   x86_64-linux,aarch64-darwin)
func (Check) Overlays(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	roots, err := overlayRoots()
	if err != nil {
		return err
	}
	// The clock is read here, at the front door, and handed in: staleness
	// is a function of the tree and this date (tests fix their own).
	opt := overlays.Options{Now: time.Now}
	if s := flag("systems", ""); s != "" {
		opt.Systems = strings.Split(s, ",")
	}
	if s := flag("max-age", ""); s != "" {
		d, err := cli.ParseAge(s)
		if err != nil {
			return err
		}
		opt.MaxAge = d
	}
	asJSON := boolFlag("json")
	failed := 0
	for _, root := range roots {
		opt.Root = root
		rep, _, err := overlays.CachedCheck(ctx, opt, nil, nil)
		if err != nil {
			return err
		}
		if asJSON {
			err = rep.WriteJSON(os.Stdout)
		} else {
			err = rep.WriteTable(os.Stdout)
		}
		if err != nil {
			return err
		}
		if !rep.OK {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("overlay check failed for %d of %d flakes: fix the errors above", failed, len(roots))
	}
	return nil
}

// overlayRoots is --flake-root, else the checkout's flakes that hold an
// overlay tree (overlays.Roots).
func overlayRoots() ([]string, error) {
	if r := flag("flake-root", ""); r != "" {
		return []string{r}, nil
	}
	repo, err := repoRoot()
	if err != nil {
		return nil, err
	}
	return overlays.Roots(repo)
}
