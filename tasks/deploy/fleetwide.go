package deploy

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// fleetWide does, once per deployment and only when a machine needs it,
// the local work that is the same for every machine: one `nix path-info
// -r --json` over the union of all selected toplevels' closures, from
// which each machine's closure is cut by following references. (Signing
// needs no nix process at all: closure.Signer signs in process from the
// same listing.) On two cores, eight machines deploying at once are
// CPU-bound; every nix process saved shortens the fleet's wall time.
type fleetWide struct {
	topsOnce sync.Once
	tops     []string

	listOnce sync.Once
	infos    map[string]nix.PathInfo
	listErr  error
}

// toplevels are the build step's outputs (machine -> toplevel): every
// copy step sees the same ones.
func (fw *fleetWide) toplevels(build pipeline.Outputs) []string {
	fw.topsOnce.Do(func() { fw.tops = builtHere(build) })
	return fw.tops
}

// closureInfos returns top's closure from the one listing of all closures.
func (d *Deployer) closureInfos(ctx context.Context, build pipeline.Outputs, top string) ([]nix.PathInfo, error) {
	fw := d.fleetWide
	fw.toplevels(build)
	fw.listOnce.Do(func() {
		infos, err := d.opt.Nix.Closure(ctx, fw.tops...)
		if err != nil {
			fw.listErr = err
			return
		}
		fw.infos = map[string]nix.PathInfo{}
		for _, pi := range infos {
			fw.infos[pi.Path] = pi
		}
	})
	if fw.listErr != nil {
		return nil, fw.listErr
	}
	seen := map[string]bool{}
	stack := []string{top}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p] {
			continue
		}
		pi, ok := fw.infos[p]
		if !ok {
			return nil, fmt.Errorf("closure of %s: %s is not in the listing", top, p)
		}
		seen[p] = true
		stack = append(stack, pi.References...)
	}
	out := make([]nix.PathInfo, 0, len(seen))
	for p := range seen {
		out = append(out, fw.infos[p])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// closurePaths returns the store paths of top's closure, sorted.
func (d *Deployer) closurePaths(ctx context.Context, build pipeline.Outputs, top string) ([]string, error) {
	infos, err := d.closureInfos(ctx, build, top)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, pi := range infos {
		out[i] = pi.Path
	}
	return out, nil
}
