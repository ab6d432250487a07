package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
)

// fleetEval evaluates `<flake>#fleet` from a private copy of the inputs and
// writes the JSON. It is the one action that needs nix and its store; every
// fleet test reads its output, so nix runs once per change of the inputs.
func fleetEval(ctx context.Context, out, flakeDir string, files []string) error {
	return inPrivateFlake(out, files, flakeDir, func(n *nix.Nix, ref string) error {
		data, err := n.EvalJSON(ctx, nix.Installable(ref, "fleet"))
		if err != nil {
			return fmt.Errorf("nix eval %s#fleet: %v", flakeDir, err)
		}
		return fsutil.WriteFile(out, data, 0o644)
	})
}

// splitFleet reads the fleet JSON and parses each machine record on its own,
// so that one broken record is charged to its own machine only. It returns
// the raw top level, the shape error of each broken machine, and the fleet
// parsed from the remaining machines (or the error of the fleet-wide parts).
func splitFleet(path string) (shape map[string]error, f *fleet.Fleet, fleetErr error, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, nil, nil, fmt.Errorf("%s is not a JSON object: %v", path, err)
	}
	var machines map[string]json.RawMessage
	if err := json.Unmarshal(top["machines"], &machines); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: machines is not an object: %v", path, err)
	}
	shape = map[string]error{}
	good := map[string]json.RawMessage{}
	for name, rec := range machines {
		one, _ := json.Marshal(map[string]any{"machines": map[string]json.RawMessage{name: rec}})
		if _, err := fleet.Parse(one); err != nil {
			shape[name] = err
			continue
		}
		good[name] = rec
	}
	top["machines"], _ = json.Marshal(good)
	rest, _ := json.Marshal(top)
	f, fleetErr = fleet.Parse(rest)
	return shape, f, fleetErr, nil
}

// machineOf names the existing machine a validation problem is about:
// `machine "m": ...` lines, and role lines naming a declared machine.
func machineOf(problem string, f *fleet.Fleet) string {
	if strings.HasPrefix(problem, `machine "`) {
		rest := problem[len(`machine "`):]
		if i := strings.IndexByte(rest, '"'); i >= 0 {
			return rest[:i]
		}
	}
	for _, name := range f.MachineNames() {
		if strings.Contains(problem, fmt.Sprintf("machine %q", name)) {
			return name
		}
	}
	return ""
}

func problemsOf(f *fleet.Fleet) []string {
	err := f.Validate()
	if err == nil {
		return nil
	}
	var ve *fleet.ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return []string{err.Error()}
}

// fleetMachine is one fleet_test: the machine's record has the contract's
// shape, validates, and its role memberships are consistent (every problem
// the validator charges to this machine fails the test).
func fleetMachine(path, machine string) error {
	if machine == "" {
		return errors.New("-machine is required")
	}
	shape, f, fleetErr, err := splitFleet(path)
	if err != nil {
		return err
	}
	if err := shape[machine]; err != nil {
		return fmt.Errorf("machine %q: record does not have the fleet contract's shape: %v", machine, err)
	}
	if fleetErr != nil {
		return fmt.Errorf("machine %q cannot be checked: the fleet's instances or users are malformed: %v", machine, fleetErr)
	}
	m, err := f.ByName(machine)
	if err != nil {
		return fmt.Errorf("machine %q is not in the fleet any more: run `go tool mage bazel:gazelle` to regenerate rules/fleet_machines.bzl (%v)", machine, err)
	}
	var mine []string
	for _, p := range problemsOf(f) {
		if machineOf(p, f) == machine {
			mine = append(mine, p)
		}
	}
	roles := f.RolesOf(machine)
	var names []string
	for _, r := range roles {
		names = append(names, r.String())
	}
	fmt.Printf("machine %s: class %s, system %s, roles [%s], users [%s]\n",
		machine, m.MachineClass, m.System, strings.Join(names, " "), strings.Join(f.UsersOf(machine), " "))
	if len(mine) > 0 {
		return fmt.Errorf("machine %q is invalid:\n  %s", machine, strings.Join(mine, "\n  "))
	}
	return nil
}

// fleetInventory fails on what no single machine owns: malformed instances
// or users, a missing zerotier controller, unknown machines in roles.
func fleetInventory(path string) error {
	shape, f, fleetErr, err := splitFleet(path)
	if err != nil {
		return err
	}
	if fleetErr != nil {
		return fleetErr
	}
	var rest []string
	for _, p := range problemsOf(f) {
		if machineOf(p, f) == "" {
			rest = append(rest, p)
		}
	}
	broken := slices.Sorted(maps.Keys(shape))
	fmt.Printf("fleet: %d machines (%d with malformed records: %s), %d instances, %d users\n",
		len(f.Machines)+len(broken), len(broken), strings.Join(broken, " "), len(f.Instances), len(f.Users))
	if len(rest) > 0 {
		return fmt.Errorf("fleet is invalid:\n  %s", strings.Join(rest, "\n  "))
	}
	return nil
}

// inPrivateFlake copies the declared input files into a private git tree
// (so nix sees exactly the action's inputs) and runs fn with the nix driver
// and the flake reference of flakeDir inside it, for an action whose
// output is out (required). The copy is removed afterwards.
func inPrivateFlake(out string, files []string, flakeDir string, fn func(n *nix.Nix, ref string) error) error {
	if out == "" {
		return errors.New("-out is required")
	}
	tree, err := copyTree(files)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	nixEnv(tree)
	if err := gitTree(tree); err != nil {
		return err
	}
	n, err := nix.New()
	if err != nil {
		return err
	}
	ref, err := nix.FlakeRef(filepath.Join(tree, flakeDir))
	if err != nil {
		return err
	}
	return fn(n, ref)
}
