package terraform

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// Presence of a cloud machine's server in the terraform state, as
// fleet:status shows it.
const (
	// Exists: the state has the machine's server and the fleet enables it.
	Exists = "exists"
	// Disabled: the fleet turns the machine off and the state has no
	// server for it, as it should be.
	Disabled = "disabled"
	// Missing: the fleet enables the machine and the state has no server
	// for it: tf:apply (or a deploy) creates it.
	Missing = "missing"
	// ExistsDisabled: the fleet turns the machine off, but its server is
	// still in the state: tf:apply destroys it.
	ExistsDisabled = "exists (disabled)"
)

// NoStateError says the state file does not exist: nothing was applied
// for this flake yet, or the path names another file.
type NoStateError struct{ Path string }

func (e *NoStateError) Error() string { return "no terraform state at " + e.Path }

// Presence reads the state (decrypted in memory; no terraform, no lock,
// nothing written) and says, for each cloud machine among machines,
// whether its server is there: Exists, Disabled, Missing or
// ExistsDisabled. Machines without a cloud block are left out. A state
// file that does not exist is a *NoStateError.
func (w *Workspace) Presence(machines []*fleet.Machine) (map[string]string, error) {
	if w.StateFile == "" {
		return nil, fmt.Errorf("terraform workspace: no state file")
	}
	b, err := w.Vault.Read(w.StateFile)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, &NoStateError{Path: w.StateFile}
	}
	h, err := parseState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", w.StateFile, err)
	}
	return presence(h.managed(), machines)
}

// presence decides each cloud machine's presence from the addresses of
// the state's managed resources: its server is the resource
// <provider's server type>.<machine>, the address tf:provision creates.
func presence(resources []string, machines []*fleet.Machine) (map[string]string, error) {
	have := map[string]bool{}
	for _, r := range resources {
		have[r] = true
	}
	out := map[string]string{}
	for _, m := range machines {
		if m == nil || m.Cloud == nil {
			continue
		}
		typ, ok := terranix.ServerResourceType[m.Cloud.Provider]
		if !ok {
			return nil, fmt.Errorf("machine %s: cloud provider %q has no server resource type (known: %s)", m.Name, m.Cloud.Provider, strings.Join(slices.Sorted(maps.Keys(terranix.ServerResourceType)), ", "))
		}
		in := have[typ+"."+m.Name]
		switch {
		case in && m.Cloud.Enabled:
			out[m.Name] = Exists
		case in:
			out[m.Name] = ExistsDisabled
		case m.Cloud.Enabled:
			out[m.Name] = Missing
		default:
			out[m.Name] = Disabled
		}
	}
	return out, nil
}
