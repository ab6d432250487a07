package vars

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/dag"
	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// HostKeyGenerator is the per-machine generator whose public output is the
// machine's SSH ed25519 host key. A machine's age recipient is derived from
// it, so it is known as soon as this generator has run, before install.
const HostKeyGenerator = "openssh"

// HostKeyFile is the public file of HostKeyGenerator holding the host key
// (clan's name). When a fleet names it differently, the generator's only
// public file whose name ends in ".pub" is used.
const HostKeyFile = "ssh.id_ed25519.pub"

// Unit is one generator instance: a per-machine generator of one machine, or
// a shared generator, stored once for every machine that declares it.
type Unit struct {
	// ID is the unit's directory relative to the vars root:
	// "per-machine/<machine>/<generator>" or "shared/<generator>".
	ID string
	// Name is the generator name.
	Name string
	// Machine is the owning machine; "" for a shared generator.
	Machine string
	// Machines are the machines using the unit, sorted (one for a
	// per-machine generator).
	Machines []string
	Gen      *fleet.Generator
	// Files are the declared files in name order, plus a secret file for
	// each persisted prompt the declaration does not name.
	Files []*fleet.File
	// Deps are the units whose outputs appear under $in/<name>/.
	Deps []*Unit
	// after are Deps plus the host-key units of the machines whose keys
	// encrypt this unit's secrets: the order in which units must run.
	after []*Unit
}

// Shared reports whether the unit is a shared generator.
func (u *Unit) Shared() bool { return u.Machine == "" }

// String names the unit for messages: `generator "zerotier" of machine
// "cinnabar"` or `shared generator "wifi"`.
func (u *Unit) String() string {
	if u.Shared() {
		return fmt.Sprintf("shared generator %q", u.Name)
	}
	return fmt.Sprintf("generator %q of machine %q", u.Name, u.Machine)
}

// HasSecrets reports whether any file of the unit is secret.
func (u *Unit) HasSecrets() bool {
	for _, f := range u.Files {
		if f.Secret {
			return true
		}
	}
	return false
}

// File returns the declared file named n, or nil.
func (u *Unit) File(n string) *fleet.File {
	for _, f := range u.Files {
		if f.Name == n {
			return f
		}
	}
	return nil
}

// Plan is every generator unit of a fleet in an order where each unit comes
// after its dependencies and after the host keys its secrets are encrypted
// to.
type Plan struct {
	Fleet *fleet.Fleet
	Units []*Unit
	byID  map[string]*Unit
	// hostKey maps a machine to its HostKeyGenerator unit.
	hostKey map[string]*Unit
}

// nameRe is what a machine, generator or file name may look like: the names
// become path components on disk and on the host.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

func checkName(kind, n, where string) error {
	if !nameRe.MatchString(n) || n == "." || n == ".." {
		return fmt.Errorf("%s%s name %q: use letters, digits, '.', '_' and '-' (it becomes a path component)", where, kind, n)
	}
	return nil
}

// NewPlan resolves the fleet's generator declarations into units and orders
// them. Errors: a bad name, a dependency on an undeclared generator, a shared
// generator declared differently by two machines or depending on a
// per-machine one, and a dependency cycle (named, e.g. "a -> b -> a").
func NewPlan(f *fleet.Fleet) (*Plan, error) {
	p := &Plan{Fleet: f, byID: map[string]*Unit{}, hostKey: map[string]*Unit{}}
	var all []*Unit
	for _, mn := range f.MachineNames() {
		if err := checkName("machine", mn, ""); err != nil {
			return nil, err
		}
		m := f.Machines[mn]
		for _, g := range m.SortedGenerators() {
			if err := checkName("generator", g.Name, fmt.Sprintf("machine %q: ", mn)); err != nil {
				return nil, err
			}
			if g.Share {
				id := "shared/" + g.Name
				if u, ok := p.byID[id]; ok {
					if !sameDeclaration(u.Gen, g) {
						return nil, fmt.Errorf("shared generator %q is declared differently by machines %q and %q: a shared generator must have one declaration (same script, files, prompts, dependencies, validation)", g.Name, u.Machines[0], mn)
					}
					u.Machines = append(u.Machines, mn)
					continue
				}
				u := &Unit{ID: id, Name: g.Name, Machines: []string{mn}, Gen: g}
				p.byID[id] = u
				all = append(all, u)
				continue
			}
			u := &Unit{ID: "per-machine/" + mn + "/" + g.Name, Name: g.Name, Machine: mn, Machines: []string{mn}, Gen: g}
			p.byID[u.ID] = u
			all = append(all, u)
			if g.Name == HostKeyGenerator {
				p.hostKey[mn] = u
			}
		}
	}
	for _, u := range all {
		files, err := declaredFiles(u)
		if err != nil {
			return nil, err
		}
		u.Files = files
		first := f.Machines[u.Machines[0]]
		for _, d := range u.Gen.Dependencies {
			dg, ok := first.Generators[d]
			if !ok {
				return nil, fmt.Errorf("%s depends on %q, which machine %q does not declare (declare it or drop the dependency)", u, d, first.Name)
			}
			var dep *Unit
			switch {
			case dg.Share:
				dep = p.byID["shared/"+d]
			case u.Shared():
				return nil, fmt.Errorf("%s depends on per-machine generator %q: a shared generator can only depend on shared generators", u, d)
			default:
				dep = p.byID["per-machine/"+u.Machine+"/"+d]
			}
			if !slices.Contains(u.Deps, dep) {
				u.Deps = append(u.Deps, dep)
			}
		}
	}
	if c := dag.Cycle(all, func(u *Unit) []*Unit { return u.Deps }); c != nil {
		return nil, fmt.Errorf("generator dependency cycle: %s (break it by removing one of these dependencies)", cycleString(c))
	}
	for _, u := range all {
		u.after = append([]*Unit(nil), u.Deps...)
		if !u.HasSecrets() {
			continue
		}
		for _, m := range u.Machines {
			if hk := p.hostKey[m]; hk != nil && hk != u && !slices.Contains(u.after, hk) {
				u.after = append(u.after, hk)
			}
		}
	}
	if c := dag.Cycle(all, func(u *Unit) []*Unit { return u.after }); c != nil {
		return nil, fmt.Errorf("generator cycle through a host key: %s (the secrets of a generator are encrypted to the machines' %q host keys, so %q cannot depend on a generator with secrets)", cycleString(c), HostKeyGenerator, HostKeyGenerator)
	}
	p.Units = dag.Order(all, func(u *Unit) []*Unit { return u.after })
	return p, nil
}

// declaredFiles returns the declared files sorted, with names filled in and
// checked, plus an implicit secret file for each persisted prompt.
func declaredFiles(u *Unit) ([]*fleet.File, error) {
	var out []*fleet.File
	names := make([]string, 0, len(u.Gen.Files))
	for n := range u.Gen.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkName("file", n, u.String()+": "); err != nil {
			return nil, err
		}
		f := *u.Gen.Files[n]
		f.Name = n
		out = append(out, &f)
	}
	for _, pn := range slices.Sorted(maps.Keys(u.Gen.Prompts)) {
		if err := checkName("prompt", pn, u.String()+": "); err != nil {
			return nil, err
		}
		if u.Gen.Prompts[pn].Persist {
			if _, ok := u.Gen.Files[pn]; !ok {
				out = append(out, &fleet.File{Name: pn, Secret: true, Deploy: true, Owner: "root", Group: "root", Mode: "0400", NeededFor: "services"})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("%s declares no files", u)
	}
	return out, nil
}

func sameDeclaration(a, b *fleet.Generator) bool {
	ka, _ := declKey(a)
	kb, _ := declKey(b)
	return ka == kb
}

func cycleString(c []*Unit) string {
	parts := make([]string, len(c))
	for i, u := range c {
		parts[i] = u.ID
	}
	return strings.Join(parts, " -> ")
}

// Unit returns the unit with the given ID, or nil.
func (p *Plan) Unit(id string) *Unit { return p.byID[id] }

// MachineUnit returns the unit machine m knows as generator g: its own, or
// the shared one it declares.
func (p *Plan) MachineUnit(m, g string) (*Unit, error) {
	mach, err := p.Fleet.ByName(m)
	if err != nil {
		return nil, err
	}
	gen, ok := mach.Generators[g]
	if !ok {
		return nil, fmt.Errorf("machine %q has no generator %q (its generators: %s)", m, g, strings.Join(slices.Sorted(maps.Keys(mach.Generators)), ", "))
	}
	if gen.Share {
		return p.byID["shared/"+g], nil
	}
	return p.byID["per-machine/"+m+"/"+g], nil
}

// MachineUnits returns the units machine m uses (its own and the shared
// ones), in plan order.
func (p *Plan) MachineUnits(m string) []*Unit {
	var out []*Unit
	for _, u := range p.Units {
		if slices.Contains(u.Machines, m) {
			out = append(out, u)
		}
	}
	return out
}

// dependents returns the units that depend on u directly.
func (p *Plan) dependents(u *Unit) []*Unit {
	var out []*Unit
	for _, v := range p.Units {
		if slices.Contains(v.Deps, u) {
			out = append(out, v)
		}
	}
	return out
}
