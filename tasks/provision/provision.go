// Package provision is the step between terraform and deployment: it makes
// sure a cloud machine exists before the deploy pipeline installs it.
//
// The seed's handoff is "terraform creates the machine, then the suite
// installs it". Ensure does the first half for one machine: a machine
// whose fleet record has an enabled cloud block and no server in the
// terraform state is planned alone (terraform -target: its server and what
// that depends on, such as the ssh key), the plan is shown, confirmed (on
// the terminal, or by --yes) and applied, and Ensure waits until the new
// server's ssh answers. A machine that exists costs one decryption of the
// state: its address comes from the <m>_ipv4 output, no terraform runs.
// Non-cloud machines are left alone.
//
// Which hcloud API terraform talks to is the caller's: Options.ServeAPI
// (terraform.Options.ServeAPI). The front doors plug in the in-process
// fake backed by the lab that deploy:machine uses, opened with the fleet's
// machines: a server it creates is the lab host of the machine of the same
// name, answering at the machine's deploy.targetHost, so the lab's
// ssh_config and known_hosts, through which deploy reaches it, resolve to
// it. This package knows neither the fake nor the lab.
package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/terraform"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// Options say which fleet and state Ensure works on. The zero value is the
// lab fleet with the repository's state, asking on stdin.
type Options struct {
	// Flake is the fleet flake (default terraform.DefaultFlake).
	Flake string
	// Yes applies without asking (--yes).
	Yes bool
	// Out receives the plan, notes and terraform's output (nil: os.Stderr).
	Out io.Writer
	// In is where the confirmation is read (nil: os.Stdin). An *os.File
	// that is not a terminal cannot confirm: without Yes, Ensure then
	// fails and says to pass --yes.
	In io.Reader

	// StateFile is the encrypted state (default: the flake's own,
	// terraform.StateFileFor; front doors pass terraform.ResolveStateFile).
	StateFile string
	// IdentityFiles decrypt the state (default as terraform.Options).
	IdentityFiles []string
	// ServeAPI serves the hcloud API when HCLOUD_ENDPOINT is not set (see
	// terraform.Options.ServeAPI).
	ServeAPI func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error)
	// ServeGCP serves the Compute Engine API likewise (see
	// terraform.Options.ServeGCP).
	ServeGCP func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error)
	// SSHTimeout bounds the wait for a new server's ssh (default 5 min: a
	// real cloud server boots in about a minute).
	SSHTimeout time.Duration
	// Cache records the creation step (terraform.Workspace.ProvisionStep)
	// for the next run; nil records nothing. Either way the step runs
	// through a pipeline.Pipeline and its Verify reads the state.
	Cache cache.Store
}

// Result is what Ensure did.
type Result struct {
	// Cloud is false for a machine without a cloud block: nothing was done.
	Cloud bool
	// Provisioned is true when this call created the server.
	Provisioned bool
	// Addr is the server's public IPv4 address (cloud machines only).
	Addr netip.Addr
	// Plan is the plan summary that was shown ("" when nothing was planned).
	Plan string
	// Changes are the plan's resource changes.
	Changes []terraform.ResourceChange
}

func (o Options) tf() terraform.Options {
	return terraform.Options{Flake: o.Flake, StateFile: o.StateFile, IdentityFiles: o.IdentityFiles,
		Out: o.out(), ServeAPI: o.ServeAPI, ServeGCP: o.ServeGCP}
}

func (o Options) out() io.Writer {
	if o.Out == nil {
		return os.Stderr
	}
	return o.Out
}

func (o Options) in() io.Reader {
	if o.In == nil {
		return os.Stdin
	}
	return o.In
}

// One creation at a time in a process: terraform runs on one state are
// serialized by the workspace lock, which fails fast for a second run; a
// fleet deploy calling Ensure for several machines at once waits here
// instead.
var creating sync.Mutex

// Ensure makes sure machine exists and returns its address. See the
// package documentation; errors name the machine and the fix.
func Ensure(ctx context.Context, o Options, machine string) (Result, error) {
	topt := o.tf() // an empty Flake is terraform.DefaultFlake, there
	r, err := terraform.Render(ctx, topt)
	if err != nil {
		return Result{}, err
	}
	if len(r.FleetMachines) > 0 && !slices.Contains(r.FleetMachines, machine) {
		return Result{}, fmt.Errorf("provision: unknown machine %s; the fleet has: %s", machine, strings.Join(r.FleetMachines, ", "))
	}
	m, ok := r.Machine(machine)
	if !ok {
		return Result{}, nil
	}
	if !m.Enabled {
		return Result{}, terraform.DisabledError(machine)
	}
	if a, ok, err := existing(topt, m); err != nil || ok {
		return Result{Cloud: true, Addr: a}, err
	}

	creating.Lock()
	defer creating.Unlock()
	s, err := terraform.OpenRendering(ctx, topt, r)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	noTTY := false
	confirm := func(p *terraform.Plan) bool {
		fmt.Fprintf(o.out(), "%s is not provisioned yet; terraform plan for it alone:\n%s", machine, p.Summary())
		if o.Yes {
			return true
		}
		if !interactive(o.in()) {
			noTTY = true
			return false
		}
		fmt.Fprintf(o.out(), "create %s? type yes: ", machine)
		line, _ := bufio.NewReader(o.in()).ReadString('\n')
		return strings.TrimSpace(line) == "yes"
	}
	a, p, err := s.Workspace.RunProvision(ctx, r, machine, confirm, o.Cache)
	res := Result{Cloud: true, Addr: a}
	if p != nil {
		res.Plan, res.Changes = p.Summary(), p.Changes
	}
	if errors.Is(err, terraform.ErrDeclined) {
		if noTTY {
			return res, fmt.Errorf("%s does not exist yet and there is no terminal to confirm its creation on: pass --yes (VANIXIETS_YES=1) to create it", machine)
		}
		return res, fmt.Errorf("%s not created: confirmation declined (pass --yes to skip the question)", machine)
	}
	if err != nil {
		return res, err
	}
	res.Provisioned = true
	timeout := o.SSHTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	if err := WaitSSH(ctx, a, timeout); err != nil {
		return res, fmt.Errorf("%s was created at %s, but %w; check the server in the provider's console, then run the command again", machine, a, err)
	}
	fmt.Fprintf(o.out(), "%s: created at %s, ssh answers\n", machine, a)
	return res, nil
}

// existing returns the machine's address when the state has its server and
// address output. It reads the encrypted state only.
func existing(o terraform.Options, m terranix.Machine) (netip.Addr, bool, error) {
	w, err := terraform.StateReader(o)
	if err != nil {
		return netip.Addr{}, false, err
	}
	res, err := w.Resources()
	if err != nil {
		return netip.Addr{}, false, err
	}
	if !slices.Contains(res, terranix.ServerResourceType[m.Provider]+"."+m.Name) {
		return netip.Addr{}, false, nil
	}
	return w.Address(m.Name)
}

// interactive reports whether a confirmation can be read from in: an
// *os.File must be a terminal; any other reader (a test's, a UI's) is
// taken to be answered.
func interactive(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return true
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// WaitSSH waits until addr:22 answers with an SSH identification line
// ("SSH-2.0-..."): the server is up and its sshd is serving, which is what
// the deploy pipeline needs next.
func WaitSSH(ctx context.Context, addr netip.Addr, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := net.JoinHostPort(addr.String(), "22")
	var last error
	for {
		if last = sshBanner(ctx, target); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("its ssh (%s) did not answer within %s: %v", target, timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func sshBanner(ctx context.Context, target string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no ssh identification: %v", err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("not an ssh server: it said %q", strings.TrimSpace(line))
	}
	return nil
}
