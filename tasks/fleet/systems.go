package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// ToplevelAttr is the contract's flake attribute of a machine's system
// closure: nixosConfigurations.<m>.config.system.build.toplevel for NixOS,
// darwinConfigurations.<m>.system for darwin.
func ToplevelAttr(m *Machine) string {
	if m.MachineClass == ClassDarwin {
		return "darwinConfigurations." + m.Name + ".system"
	}
	return "nixosConfigurations." + m.Name + ".config.system.build.toplevel"
}

// BuildToplevels builds the named machines' system closures (all machines
// when names is empty) in one `nix build` and returns machine -> toplevel
// store path. Nix 2.8 does not report builds in the installables' order, so
// the drvPaths are learnt first, with one evaluation per machine class.
func (l *Loader) BuildToplevels(ctx context.Context, flakeRef string, f *Fleet, names ...string) (map[string]string, error) {
	ref, err := nix.FlakeRef(flakeRef)
	if err != nil {
		return nil, err
	}
	n, err := l.nix()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = f.MachineNames()
	}
	byClass := map[string][]string{}
	var installables []string
	for _, name := range names {
		m, err := f.ByName(name)
		if err != nil {
			return nil, err
		}
		byClass[m.MachineClass] = append(byClass[m.MachineClass], name)
		installables = append(installables, nix.Installable(ref, ToplevelAttr(m)))
	}
	drvOf := map[string]string{} // drvPath -> machine
	for class, ms := range byClass {
		quoted, _ := json.Marshal(ms) // a JSON list of plain names is a Nix list
		set, sel := "nixosConfigurations", "config.system.build.toplevel"
		if class == ClassDarwin {
			set, sel = "darwinConfigurations", "system"
		}
		fn := fmt.Sprintf("cs: builtins.listToAttrs (map (n: { name = n; value = cs.${n}.%s.drvPath; }) %s)",
			sel, strings.ReplaceAll(string(quoted), ",", " "))
		var drvs map[string]string
		if err := n.EvalApply(ctx, nix.Installable(ref, set), fn, &drvs); err != nil {
			return nil, err
		}
		for m, d := range drvs {
			drvOf[d] = m
		}
	}
	res, err := n.Build(ctx, installables...)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range res {
		if m, ok := drvOf[r.DrvPath]; ok {
			out[m] = r.Out()
		}
	}
	for _, name := range names {
		if out[name] == "" {
			return nil, fmt.Errorf("nix build %s: no result for machine %s", ref, name)
		}
	}
	return out, nil
}
