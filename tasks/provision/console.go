package provision

import (
	"context"
	"io"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// ConsoleHostKeys is deploy.Options.ConsoleHostKeys for the machines
// o's terraform creates: a Compute Engine machine's keys are read from its
// instance's serial console, through the API its state was made with
// (terraform.ConsoleHostKeys). Hetzner's API shows no host keys, and a
// machine without a cloud block was made by nobody here: for those, and
// for an instance the state does not hold yet, it vouches for nothing
// (nil, nil), and the deployment falls back to ssh's known_hosts.
func ConsoleHostKeys(o Options) func(ctx context.Context, m *fleet.Machine) ([]ssh.PublicKey, error) {
	return func(ctx context.Context, m *fleet.Machine) ([]ssh.PublicKey, error) {
		if m.Cloud == nil || m.Cloud.Provider != fleet.ProviderGCP {
			return nil, nil
		}
		tf := o.tf()
		tf.Out = io.Discard // the render's and the API's chatter is not the deployment's
		keys, _, err := terraform.ConsoleHostKeys(ctx, tf, m.Name)
		return keys, err
	}
}
