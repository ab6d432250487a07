// Package fleet is the Go model of a fleet flake's `fleet` output: the
// inventory (machines, service instances with roles, users) shaped like clan's
// inventory, plus each machine's vars generator declarations.
//
// It is the one contract between the Nix side and the Go side. Every other
// step (vars, terraform, deploy, the lab) reads machines, roles and users
// through these types, so a flake only needs to expose `fleet` (clan flakes
// can do so in one line) to be driven by the suite.
//
// The JSON form is exactly what `nix eval --json <flake>#fleet` prints; the
// struct tags below are the contract. Names (of machines, generators, users,
// instances) are the attribute names in the JSON and are copied into the
// Name fields after decoding, so a value can travel alone and still say what
// it is.
package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Machine classes. A nixos machine is activated with
// bin/switch-to-configuration, a darwin machine with activate.
const (
	ClassNixOS  = "nixos"
	ClassDarwin = "darwin"
)

// Cloud providers known to the terraform renderer.
const (
	ProviderHetzner = "hetzner"
	ProviderGCP     = "gcp"
)

// Well-known service modules and roles.
const (
	ModuleZerotier     = "zerotier"
	ModuleUsers        = "users"
	RoleController     = "controller"
	RolePeer           = "peer"
	RoleDefault        = "default"
	TagAll             = "all"
	ZerotierInstance   = "zerotier"
	UserInstancePrefix = "user-"
)

// Fleet is the whole inventory.
type Fleet struct {
	Machines  map[string]*Machine  `json:"machines"`
	Instances map[string]*Instance `json:"instances"`
	Users     map[string]*User     `json:"users"`
	// Lab is set only by a test fleet whose admin identities are committed
	// to its repository (the embedded lab). See Lab.
	Lab *Lab `json:"lab,omitempty"`
}

// Lab is a fleet's own declaration that it is a test fleet: its secrets
// protect nothing, because the private halves of its admins' keys are
// published with it. The suite refuses to encrypt anything to a key whose
// private half is in the repository (see agekey.Published) unless the
// fleet says so here, naming those identity files; and it is the only
// thing that makes the suite treat a flake as the lab (its test identities
// as default admin keys, its machines as lab hosts). Nothing decides "lab"
// from a directory or file name: a copy of the lab under another name is
// still a lab, and a real fleet in a directory called lab is not.
type Lab struct {
	// Identities are the fleet's committed age identity files, relative
	// to the flake directory (e.g. "keys/cameron.agekey").
	Identities []string `json:"identities"`
}

// Machine is one host of the fleet.
type Machine struct {
	// Name is the machine's attribute name (not part of the JSON record).
	Name string `json:"-"`
	// MachineClass is "nixos" or "darwin".
	MachineClass string `json:"machineClass"`
	// System is the Nix platform, e.g. "x86_64-linux" or "aarch64-darwin".
	System      string   `json:"system"`
	Tags        []string `json:"tags"`
	Description string   `json:"description"`
	Deploy      Deploy   `json:"deploy"`
	// Cloud is nil for machines not provisioned by terraform.
	Cloud      *Cloud                `json:"cloud"`
	Generators map[string]*Generator `json:"generators"`
}

// Deploy says how to reach a machine, where its system is built and how
// to tell it is healthy after an activation.
type Deploy struct {
	// TargetHost is "user@host" (port optional as host:port), like clan's
	// deploy.targetHost.
	TargetHost   string   `json:"targetHost"`
	HealthChecks []string `json:"healthChecks"`
	// BuildOn is where the system is built: BuildLocal (also "", the
	// default) on the deployer, which then copies the closure; BuildTarget
	// on the machine itself, from its derivations (colmena's buildOnTarget):
	// what a Linux deployer needs for a Mac and a Mac for a Linux server
	// when no builder of the machine's platform is at hand. --build-on
	// overrides it for a deployment.
	BuildOn string `json:"buildOn,omitempty"`
}

// Where a machine's system is built (Deploy.BuildOn, --build-on).
const (
	BuildLocal  = "local"
	BuildTarget = "target"
)

// BuildOnValues are the values Deploy.BuildOn and --build-on take.
var BuildOnValues = []string{BuildLocal, BuildTarget}

// BuildsOnTarget says whether m's system is built on m itself.
func (m *Machine) BuildsOnTarget() bool { return m.Deploy.BuildOn == BuildTarget }

// Cloud is a machine's terraform-provisioned server. Enabled=false keeps the
// declaration but removes the resource from the rendered terraform (the
// seed's machines.<m>.enabled toggle).
type Cloud struct {
	Provider   string `json:"provider"`
	Enabled    bool   `json:"enabled"`
	ServerType string `json:"serverType"`
	Location   string `json:"location"`
	Image      string `json:"image"`
}

// Generator is a clan vars generator: a script that produces files (secret or
// public) from prompts, randomness and other generators' outputs.
type Generator struct {
	// Name is the generator's attribute name (not part of the JSON record).
	Name    string             `json:"-"`
	Files   map[string]*File   `json:"files"`
	Prompts map[string]*Prompt `json:"prompts"`
	// Dependencies name generators of the same machine whose outputs are
	// made available under $in/<dep>/<file>.
	Dependencies []string `json:"dependencies"`
	// Reads names the secret files of dependencies the script reads, as
	// "<dependency>/<file>". A script gets every public file of its
	// dependencies under $in/<dep>/<file> (they are in the repository
	// anyway) but a dependency's secret only when it is named here: a
	// generator that derives a fingerprint from a host key must not see
	// the private key. An extension of clan's declaration (clan hands a
	// script every file of its dependencies).
	Reads []string `json:"reads,omitempty"`
	// Script runs with $in, $out and $prompts set to directories.
	Script string `json:"script"`
	// Share: the generator's outputs are shared by every machine declaring
	// it (stored once, not per machine).
	Share bool `json:"share"`
	// Validation is any value; when it changes the generator is re-run.
	Validation json.RawMessage `json:"validation"`
}

// File is one output of a generator.
type File struct {
	Name      string `json:"-"`
	Secret    bool   `json:"secret"`
	Deploy    bool   `json:"deploy"`
	Owner     string `json:"owner"`
	Group     string `json:"group"`
	Mode      string `json:"mode"`
	NeededFor string `json:"neededFor"`
}

// Prompt is a value asked from the operator when a generator runs.
type Prompt struct {
	Name        string `json:"-"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Persist     bool   `json:"persist"`
}

// Instance is one service instance of the inventory (clan's
// inventory.instances.<i>).
type Instance struct {
	Name   string           `json:"-"`
	Module Module           `json:"module"`
	Roles  map[string]*Role `json:"roles"`
}

// Module names the service an instance runs.
type Module struct {
	Name  string `json:"name"`
	Input string `json:"input,omitempty"`
}

// Role assigns machines to a role of an instance, directly by name or through
// tags (tag "all" matches every machine).
type Role struct {
	Machines map[string]Member `json:"machines"`
	Tags     StringSet         `json:"tags"`
	Settings map[string]any    `json:"settings"`
}

// Member is one machine's entry in a role, with optional per-machine settings.
type Member struct {
	Settings map[string]any `json:"settings,omitempty"`
}

// User is a person with accounts on some machines. Their age keys are
// recipients for the secrets of every machine they administer.
type User struct {
	Name        string   `json:"-"`
	Description string   `json:"description"`
	AgeKeys     []string `json:"ageKeys"`
}

// StringSet is a set of names written either as clan's attribute set
// ({"server": {}}) or as a list (["server"]). It marshals as the attribute
// set form of the contract.
type StringSet map[string]struct{}

// UnmarshalJSON accepts an object (keys are the members, values ignored), a
// list of strings, or null.
func (s *StringSet) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	out := StringSet{}
	switch {
	case bytes.Equal(b, []byte("null")):
	case len(b) > 0 && b[0] == '[':
		var l []string
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("want a list of names or an attribute set: %w", err)
		}
		for _, v := range l {
			out[v] = struct{}{}
		}
	case len(b) > 0 && b[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for k := range m {
			out[k] = struct{}{}
		}
	default:
		return fmt.Errorf("want a list of names or an attribute set, got %s", abbrev(b))
	}
	*s = out
	return nil
}

// MarshalJSON writes the attribute set form.
func (s StringSet) MarshalJSON() ([]byte, error) {
	m := make(map[string]struct{}, len(s))
	for k := range s {
		m[k] = struct{}{}
	}
	return json.Marshal(m)
}

// sortedKeys is m's keys in order, and never nil: the lists it makes
// reach JSON (fleet:show --json), where a machine without users has
// "users": [], not null. It stays this plain, sort.Strings included, so
// that it inlines: Validate calls it for every generator, file and role of
// every machine, and inlined its small slice need not escape to the heap.
// slices.Sorted(maps.Keys(m)) took BenchmarkValidate from 950 to 3304
// allocations for 64 machines; a sized slice with slices.Sort, which does
// not inline, to 1404.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
