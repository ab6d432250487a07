package terraform

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// Address returns a cloud machine's public IPv4 address from the state's
// output <m>_ipv4, and whether it exists.
func (w *Workspace) Address(machine string) (netip.Addr, bool, error) {
	outs, err := w.Outputs()
	if err != nil {
		return netip.Addr{}, false, err
	}
	raw, ok := outs[terranix.OutputName(machine)]
	if !ok {
		return netip.Addr{}, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return netip.Addr{}, false, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("output %s = %q is not an IP address", terranix.OutputName(machine), s)
	}
	return a, true, nil
}

// Provision is the handoff to deployment: it returns the address of cloud
// machine m, creating its server first when the state does not have it yet.
// Creation plans only m's server (and what it depends on, such as the ssh
// key), shows the plan to confirm (pass Yes for --yes), and applies it. The
// saved plan of tf:plan is not touched.
//
// After it returns, the caller deploys to the address: the machine's host
// key comes from its vars, the closure is copied and activated as for any
// other machine.
func (w *Workspace) Provision(ctx context.Context, r *terranix.Rendering, m string, confirm Confirm) (netip.Addr, *Plan, error) {
	mach, ok := r.Machine(m)
	if !ok {
		return netip.Addr{}, nil, fmt.Errorf("%s is not a cloud machine of the fleet: nothing to provision", m)
	}
	if !mach.Enabled {
		return netip.Addr{}, nil, DisabledError(m)
	}
	if a, ok, err := w.Address(m); err != nil || ok {
		return a, nil, err
	}
	typ := terranix.ServerResourceType[mach.Provider]
	if err := w.defaults(); err != nil {
		return netip.Addr{}, nil, err
	}
	p, err := w.planAndApply(ctx, r, confirm, false, typ+"."+m)
	if err != nil {
		return netip.Addr{}, p, err
	}
	a, ok, err := w.Address(m)
	if err != nil {
		return netip.Addr{}, p, err
	}
	if !ok {
		return netip.Addr{}, p, fmt.Errorf("%s: terraform applied, but output %s is empty: check the configuration's output", m, terranix.OutputName(m))
	}
	return a, p, nil
}

// DisabledError is the error for provisioning a cloud machine the fleet
// has turned off.
func DisabledError(m string) error {
	return fmt.Errorf("%s is disabled in the fleet (cloud.enabled = false); enable it and run tf:apply", m)
}

var mirrorRE = regexp.MustCompile(`(?s)filesystem_mirror\s*\{[^}]*?path\s*=\s*"([^"]+)"`)

// mirrorPaths returns the filesystem_mirror paths of a CLI config file.
func mirrorPaths(cliConfig string) []string {
	b, err := os.ReadFile(cliConfig)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range mirrorRE.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

func platform() string { return runtime.GOOS + "_" + runtime.GOARCH }

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// Version returns terraform's version string ("1.11.4").
func (w *Workspace) Version(ctx context.Context) (string, error) {
	if err := w.defaults(); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, w.Terraform, "version", "-json").Output()
	if err != nil {
		return "", fmt.Errorf("terraform version: %v", err)
	}
	var v struct {
		V string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", fmt.Errorf("terraform version: %v", err)
	}
	return strings.TrimSpace(v.V), nil
}
