package closure

import (
	"context"
	"fmt"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// hostClosureScript lists the closures of "$@" in the host's own store,
// with each path's NAR size and references, as the host's Nix sees them:
// `nix path-info -r --json`, which Nix 2.8 prints as an array and 2.19+
// as an object (nix.ParsePathInfo reads both). Read-only: path-info asks
// the store, it builds and substitutes nothing.
const hostClosureScript = `exec nix --extra-experimental-features nix-command path-info --json -r -- "$@"`

// hostClosureCommand runs hostClosureScript on the host, Nix found
// through hostsh's PATH (a Mac's root session has none on its own).
func hostClosureCommand(paths ...string) string { return hostsh.Command(hostClosureScript, paths...) }

// HostClosure lists the closure of paths as the host behind c has it:
// what a closure diff compares the deployer's new system with (the
// running system's closure must come from the host, whose store holds it;
// the deployer may never have built it). Over one session of c's
// connection.
func HostClosure(ctx context.Context, c *remote.Client, paths ...string) ([]nix.PathInfo, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	out, err := c.Output(ctx, hostClosureCommand(paths...), nil)
	if err != nil {
		return nil, fmt.Errorf("list the closure of %s on %s: %v", strings.Join(paths, " "), c.Config().Name(), err)
	}
	infos, err := nix.ParsePathInfo(out)
	if err != nil {
		return nil, fmt.Errorf("list the closure of %s on %s: %v", strings.Join(paths, " "), c.Config().Name(), err)
	}
	return infos, nil
}
