package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/remote"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// Secrets column states (Row.Secrets).
const (
	SecretsCurrent = "current" // the host holds every deployable secret as the vars have it
	SecretsPending = "pending" // a deploy would send or remove some (PendingSecrets, StaleSecrets)
	SecretsNone    = "none"    // the machine has no deployable secrets, and the host holds none
	SecretsUnknown = "unknown" // they could not be compared (SecretsError)
)

// NoStateFile is the terraform column of cloud machines when the flake's
// state file does not exist (nothing applied yet, or another path meant).
const NoStateFile = "no state file"

// Options tune Run.
type Options struct {
	// Timeout gives up on a host (default DefaultTimeout).
	Timeout time.Duration
	// State reads the flake's terraform state for the cloud machines'
	// column (terraform.StateReader); nil leaves the column at whether the
	// fleet enables them.
	State *terraform.Workspace
	// Toplevels, when set, evaluates the machines' toplevels through the
	// engine's cache (Toplevels.Step): an unchanged flake costs a key, not
	// a nix evaluation. Nil evaluates every time.
	Toplevels *Toplevels
}

// clientRemote runs the secrets comparison's one session on the probe's
// connection.
type clientRemote struct{ c *remote.Client }

func (r clientRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	return r.c.Run(ctx, cmd, stdin, stdout, nil)
}

// readSecrets fills r's secrets columns: what the deploy's upload would
// send now against the host's manifest, over c. A failure to compare
// (an identity that cannot decrypt, a secret not generated) is the
// column's, not the row's; only a connection that fails is returned.
func readSecrets(ctx context.Context, d *deploy.Deployer, c *remote.Client, m *fleet.Machine, r *Row) error {
	p, err := d.PendingSecrets(ctx, clientRemote{c}, m)
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		r.Secrets, r.SecretsError = SecretsUnknown, firstLine(err.Error())
	case p == nil:
		// No vars: nothing to say.
	case len(p.Pending) > 0 || len(p.Stale) > 0:
		r.Secrets, r.PendingSecrets, r.StaleSecrets = SecretsPending, p.Pending, p.Stale
	case p.Declared() == 0:
		r.Secrets = SecretsNone
	default:
		r.Secrets, r.CurrentSecrets = SecretsCurrent, p.Current
	}
	return nil
}

// readTerraform fills the cloud rows' terraform column from the state
// (read once, for every row): a missing state file is said in the column,
// as is a state that cannot be read.
func readTerraform(st *terraform.Workspace, machines []*fleet.Machine, rows []Row) {
	if st == nil {
		return
	}
	pres, err := st.Presence(machines)
	var ns *terraform.NoStateError
	for i := range rows {
		r := &rows[i]
		if r.Cloud == "" {
			continue
		}
		switch {
		case errors.As(err, &ns):
			r.Terraform = NoStateFile
		case err != nil:
			r.Terraform, r.TerraformError = Unknown, firstLine(err.Error())
		default:
			r.Terraform = pres[r.Machine]
		}
	}
}

// secretsCell is the SECRETS column of r.
func secretsCell(r Row) string {
	switch r.Secrets {
	case SecretsPending:
		s := fmt.Sprintf("%d pending", len(r.PendingSecrets))
		if len(r.StaleSecrets) > 0 {
			s += fmt.Sprintf(", %d stale", len(r.StaleSecrets))
		}
		return s
	case SecretsCurrent:
		return fmt.Sprintf("current (%d)", r.CurrentSecrets)
	case "":
		return "-"
	}
	return r.Secrets
}

// cloudCell is the CLOUD column of r: the terraform state's say when it
// was read, else whether the fleet enables the machine.
func cloudCell(r Row) string {
	switch {
	case r.Terraform != "":
		return r.Terraform
	case r.Cloud != "":
		return r.Cloud
	}
	return "-"
}

// notes are the lines under the table: which secrets are pending where,
// why a column says unknown (once per distinct reason).
func notes(rows []Row) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		if len(r.PendingSecrets) > 0 {
			out = append(out, fmt.Sprintf("%s: secrets a deploy would send: %s", r.Machine, strings.Join(r.PendingSecrets, ", ")))
		}
		if len(r.StaleSecrets) > 0 {
			out = append(out, fmt.Sprintf("%s: secrets a deploy would remove: %s", r.Machine, strings.Join(r.StaleSecrets, ", ")))
		}
		if r.SecretsError != "" {
			out = append(out, fmt.Sprintf("%s: secrets unknown: %s", r.Machine, r.SecretsError))
		}
		if e := r.TerraformError; e != "" && !seen[e] {
			seen[e] = true
			out = append(out, "terraform state unknown: "+e)
		}
	}
	return out
}

// countPending counts the rows with secrets a deploy would send or remove.
func countPending(rows []Row) int {
	n := 0
	for _, r := range rows {
		if r.Secrets == SecretsPending {
			n++
		}
	}
	return n
}
