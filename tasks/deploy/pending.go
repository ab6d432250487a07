package deploy

import (
	"context"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// PendingSecrets compares machine m's deployable secrets with what its
// host holds, through r (a session on fleet:status's one connection to
// the host), exactly as this deployment's upload would compare them
// (vars.Pending: the same vars, identities and secrets root); the host is
// not changed. nil, nil when the flake has no vars. Call Look first.
func (d *Deployer) PendingSecrets(ctx context.Context, r vars.Remote, m *fleet.Machine) (*vars.PendingResult, error) {
	if d.secrets == nil {
		return nil, nil
	}
	return d.secrets.vars(m.Name).Pending(ctx, r, m.Name, d.opt.SecretsRoot)
}
