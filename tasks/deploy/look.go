package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// Look prepares a read-only look at the selected machines (fleet:status):
// the fleet, the selection, the vars' record of host keys and the
// ssh_config, as a deployment resolves them. Unlike Run it brings no lab
// host up and provisions nothing: a host that is down stays down.
func (d *Deployer) Look(ctx context.Context, selectors []string) (*fleet.Fleet, []string, error) {
	f, names, err := d.selected(ctx, selectors)
	if err != nil {
		return nil, nil, err
	}
	if d.opt.Lab != nil {
		if _, err := os.Stat(d.opt.Lab.SSHConfigPath()); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("lab %s is not up (no %s): bring it up with lab:up, or deploy to it", d.opt.Lab.Name(), d.opt.Lab.SSHConfigPath())
		}
	}
	if err := d.loadSSHConfig(); err != nil {
		return nil, nil, err
	}
	return f, names, nil
}

// Dial opens a new connection to m, resolved as a deployment resolves it
// (targetHost, ssh_config, known_hosts or the vars' host key). Call Look
// first. The caller closes it.
func (d *Deployer) Dial(ctx context.Context, m *fleet.Machine) (*remote.Client, error) {
	cfg, err := d.target(m)
	if err != nil {
		return nil, err
	}
	return remote.Dial(ctx, cfg)
}

// Toplevels evaluates the machines' toplevel store paths, without building
// them: the system each machine would run after a deployment of the flake
// as it is. A machine whose evaluation fails is in the error map.
func (d *Deployer) Toplevels(ctx context.Context, machines []*fleet.Machine) (map[string]string, map[string]error) {
	drvs, failed := d.derivations(ctx, machines)
	out := make(map[string]string, len(drvs))
	for n, t := range drvs {
		out[n] = t.Out
	}
	return out, failed
}
