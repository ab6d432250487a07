package nix

import (
	"context"
	"fmt"
	"strings"
)

// DerivationClosure lists the closure of .drv files themselves (`nix
// path-info -r --json --derivation`): each derivation with its input
// derivations and input sources, what a machine needs to build the
// derivations on its own (nix-store -qR <drv>). Without --derivation, Nix
// before 2.13 reads a .drv path as its outputs, which need not exist here.
func (n *Nix) DerivationClosure(ctx context.Context, drvs ...string) ([]PathInfo, error) {
	if len(drvs) == 0 {
		return nil, nil
	}
	args := append([]string{"path-info", "--json", "-r", "--derivation"}, drvs...)
	b, err := n.run(ctx, "path-info", strings.Join(drvs, " "), args...)
	if err != nil {
		return nil, err
	}
	infos, err := ParsePathInfo(b)
	if err != nil {
		return nil, fmt.Errorf("nix path-info --derivation %s: %w", strings.Join(drvs, " "), err)
	}
	return infos, nil
}
