package terranix

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// Machine is a fleet machine as the renderer sees it: its cloud provider
// ("" when it is not a cloud machine) and whether it is enabled.
type Machine struct {
	Name     string
	Provider string
	Enabled  bool
}

// MachinesOf lists the fleet's cloud machines, sorted by name.
func MachinesOf(f *fleet.Fleet) []Machine {
	var out []Machine
	for _, m := range f.SortedMachines() {
		if m.Cloud != nil {
			out = append(out, Machine{Name: m.Name, Provider: m.Cloud.Provider, Enabled: m.Cloud.Enabled})
		}
	}
	return out
}

// OutputName is the output holding a machine's public IPv4 address.
func OutputName(machine string) string { return machine + "_ipv4" }

// ValidationError lists every problem found, one per line.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "terraform configuration does not match the fleet:\n  " + strings.Join(e.Problems, "\n  ")
}

// Validate checks c against the fleet's cloud machines:
//   - an enabled machine has its server resource (ServerResourceType of its
//     provider, named after the machine) and an output <m>_ipv4 that refers
//     to that resource;
//   - a disabled machine has no server resource of any cloud type and no
//     output;
//   - no server resource exists for a name that is not a cloud machine.
func Validate(c *Config, machines []Machine) error {
	var probs []string
	known := map[string]bool{}
	servers := c.Servers()
	for _, m := range machines {
		known[m.Name] = true
		typ, ok := ServerResourceType[m.Provider]
		if !ok {
			probs = append(probs, fmt.Sprintf("%s: unknown cloud provider %q (known: hetzner, gcp)", m.Name, m.Provider))
			continue
		}
		addr := typ + "." + m.Name
		out := OutputName(m.Name)
		if m.Enabled {
			if servers[m.Name] != addr {
				if servers[m.Name] != "" {
					probs = append(probs, fmt.Sprintf("%s: provider %s wants resource %s, found %s", m.Name, m.Provider, addr, servers[m.Name]))
				} else {
					probs = append(probs, fmt.Sprintf("%s: enabled, but resource %s is missing", m.Name, addr))
				}
			}
			v, ok := c.Output(out)
			switch {
			case !ok:
				probs = append(probs, fmt.Sprintf("%s: enabled, but output %s (its address) is missing", m.Name, out))
			case !strings.Contains(v, addr+"."):
				probs = append(probs, fmt.Sprintf("%s: output %s = %q does not refer to %s", m.Name, out, v, addr))
			}
		} else {
			if a := servers[m.Name]; a != "" {
				probs = append(probs, fmt.Sprintf("%s: disabled, but resource %s is present", m.Name, a))
			}
			if _, ok := c.Output(out); ok {
				probs = append(probs, fmt.Sprintf("%s: disabled, but output %s is present", m.Name, out))
			}
		}
	}
	var extra []string
	for n, a := range servers {
		if !known[n] {
			extra = append(extra, fmt.Sprintf("%s: resource %s has no cloud machine of that name in the fleet", n, a))
		}
	}
	sort.Strings(extra)
	probs = append(probs, extra...)
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}
