package realfleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// Problem is one broken rule, located, with what to do about it.
type Problem struct {
	Rule    string `json:"rule"`
	File    string `json:"file"` // relative to the repository root
	Message string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s [%s]", p.File, p.Message, p.Rule) }

// RequiredInputs are the flake inputs the modules reach for.
var RequiredInputs = []string{
	"nixpkgs", "nixpkgs-darwin-stable", "nixpkgs-linux-stable",
	"flake-parts", "import-tree", "nix-darwin", "home-manager", "clan-core",
	"terranix", "sops-nix", "pkgs-by-name-for-flake-parts",
	"nuenv", "nvim-treesitter-main",
}

// skipDir says which directories ParseAll does not enter: version control,
// Bazel's output links, caches, and test fixtures (some are broken on purpose).
func skipDir(name string) bool {
	return name == ".git" || name == "testdata" || name == ".work" || strings.HasPrefix(name, "bazel-") || name == "node_modules"
}

// NixFiles lists the repository's .nix files (relative to root) that
// ParseAll checks.
func NixFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink == 0 && strings.HasSuffix(p, ".nix") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// ParseAll parses every .nix file of the repository with
// nix-instantiate --parse and returns one problem per file that does not
// parse, with Nix's own message (which names the line).
func ParseAll(ctx context.Context, root string) ([]Problem, error) {
	files, err := NixFiles(root)
	if err != nil {
		return nil, err
	}
	var probs []Problem
	for _, f := range files {
		if _, err := instantiate(ctx, "--parse", filepath.Join(root, f)); err != nil {
			if strings.Contains(err.Error(), "not found") && strings.Contains(err.Error(), "nix-instantiate") {
				return nil, err
			}
			probs = append(probs, Problem{"parse", f, firstLine(err.Error())})
		}
	}
	return probs, nil
}

var (
	commentRe     = regexp.MustCompile(`(?m)#.*$`)
	specialArgsRe = regexp.MustCompile(`\b(extraSpecialArgs|specialArgs)\b`)
)

// Check evaluates the repository offline and returns every broken
// structure rule (none when the tree is sound).
func Check(ctx context.Context, root string) ([]Problem, *Eval, error) {
	e, err := Evaluate(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	ms, err := Machines(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	var probs []Problem
	add := func(rule, file, format string, a ...any) {
		probs = append(probs, Problem{rule, file, fmt.Sprintf(format, a...)})
	}

	// flake.nix: inputs, mkFlake, import-tree over ./modules only.
	have := setOf(e.Flake.Inputs)
	for _, in := range RequiredInputs {
		if !have[in] {
			add("flake-inputs", "flake.nix", "input %q is missing; the modules use it (add inputs.%s.url)", in, in)
		}
	}
	if !e.Flake.MkFlake || !e.Flake.MkFlakeInputs {
		add("flake-outputs", "flake.nix", "outputs do not call inputs.flake-parts.lib.mkFlake { inherit inputs; } on the module tree")
	}
	if !setOf(e.Flake.TreePaths)["/modules"] {
		add("auto-import", "flake.nix", "does not hand ./modules to import-tree; outputs should be mkFlake { inherit inputs; } (import-tree ./modules)")
	}
	for _, p := range e.Flake.TreePaths {
		if p != "/modules" {
			add("auto-import", "flake.nix", "hands %s to import-tree; only ./modules is auto-imported (move its modules under modules/)", p)
		}
	}
	for _, p := range e.Flake.ExtraImports {
		add("auto-import", "flake.nix", "imports %s next to the module tree; only ./modules is auto-imported (move it under modules/)", p)
	}
	for _, s := range e.Selected {
		if strings.Contains(s, "/pkgs/by-name/") {
			add("auto-import", "flake.nix", "import-tree would import modules%s, a callPackage file, as a module; filter it out: (inputs.import-tree.filterNot (lib.hasInfix \"/pkgs/by-name/\")) ./modules", s)
		}
	}

	// every module: shape, keys, contribution, no specialArgs.
	known := setOf(e.KnownKeys)
	exporter := map[string]string{} // "<class>.<name>" -> file (first)
	for _, f := range e.Files {
		if f.Shape != "attrs" {
			add("module-shape", f.File, "evaluates to a %s, not a flake-parts module (a function returning an attribute set, or an attribute set)", f.Shape)
			continue
		}
		for _, k := range f.Keys {
			if !known[k] {
				add("module-keys", f.File, "defines %q, which is no flake-parts option of this flake; export under flake.modules.<class>.<name>, or define flake.<output>, perSystem or clan.*", k)
			}
		}
		contributes := len(f.Exports) > 0 || len(f.Outputs) > 0 || len(f.Options) > 0 || f.Imports > 0
		for _, d := range f.Defines {
			if d == "perSystem" || d == "clan" || d == "systems" || d == "cloud" || d == "fleetLib" {
				contributes = true
			}
		}
		if !contributes {
			add("module-empty", f.File, "defines nothing: a module must export under flake.modules.*, or define flake outputs, perSystem, clan.* or options")
		}
		for _, x := range f.Exports {
			if _, ok := exporter[x]; !ok {
				exporter[x] = f.File
			}
		}
		if src, err := os.ReadFile(filepath.Join(root, f.File)); err == nil {
			if m := specialArgsRe.FindString(commentRe.ReplaceAllString(string(src), "")); m != "" {
				add("special-args", f.File, "passes %s; modules reach each other through flake.modules.* and their own inputs, never specialArgs", m)
			}
		}
	}

	// machines: namespace export, module file, registry entry.
	names := slices.Sorted(maps.Keys(ms))
	for _, m := range names {
		class := ms[m].MachineClass
		ns := "machines/" + class + "/" + m
		want := "flake.modules." + class + "." + ns
		wantFile := "modules/machines/" + class + "/" + m + "/default.nix"
		if f, ok := exporter[class+"."+ns]; !ok {
			add("machine-module", wantFile, "machine %s: no module exports flake.modules.%s.%q; create this file exporting it", m, class, ns)
		} else if f != wantFile {
			add("machine-module", f, "exports flake.modules.%s.%q; machine modules live in %s", class, ns, wantFile)
		}
		got, ok := e.Registry[m]
		switch {
		case !ok:
			add("machine-registry", "modules/clan/machines.nix", "machine %s has no entry in clan.machines; add: %s.imports = [ %s.%q ];", m, m, class, ns)
		case !reflect.DeepEqual(got, []string{want}):
			add("machine-registry", "modules/clan/machines.nix", "clan.machines.%s imports %s; want [ %s ]", m, strings.Join(got, ", "), want)
		}
	}
	for _, m := range slices.Sorted(maps.Keys(e.Registry)) {
		if _, ok := ms[m]; !ok {
			add("machine-registry", "modules/clan/machines.nix", "clan.machines.%s names a machine modules/_fleet/machines.nix does not declare; add it there or drop the entry", m)
		}
	}
	for class, ns := range e.Namespaces {
		for _, n := range ns {
			rest, ok := strings.CutPrefix(n, "machines/")
			if !ok {
				continue
			}
			parts := strings.Split(rest, "/")
			if len(parts) != 2 || parts[0] != class {
				add("machine-module", exporter[class+"."+n], "flake.modules.%s.%q is not of the form machines/%s/<host>", class, n, class)
				continue
			}
			if mm, ok := ms[parts[1]]; !ok || mm.MachineClass != class {
				add("machine-module", exporter[class+"."+n], "exports flake.modules.%s.%q for a machine modules/_fleet/machines.nix does not declare as %s", class, n, class)
			}
		}
	}

	// the fleet output and terranix.
	if len(e.Fleet) == 0 || string(e.Fleet) == "null" {
		add("fleet-output", "modules/clan/fleet.nix", "no module defines flake.fleet (the suite's inventory contract)")
	}
	if !setOf(e.PerSystem.Packages)["terraform"] {
		add("terranix", "modules/terranix/terraform.nix", "no perSystem packages.terraform (terranix's config.tf.json)")
	}
	for _, prov := range []struct {
		name, resource string
		got            []string
	}{
		{"hetzner", "hcloud_server", e.Terraform.HcloudServer},
		{"gcp", "google_compute_instance", e.Terraform.GoogleComputeInstance},
	} {
		var want []string
		for _, m := range names {
			c := ms[m].Cloud
			if c != nil && c.Provider == prov.name && (c.Enabled == nil || *c.Enabled) {
				want = append(want, m)
			}
		}
		got := append([]string(nil), prov.got...)
		sort.Strings(got)
		if !reflect.DeepEqual(nonNil(got), nonNil(want)) {
			add("terranix", "modules/terranix/"+prov.name+".nix", "renders %s %v; modules/_fleet/machines.nix enables %v", prov.resource, nonNil(got), nonNil(want))
		}
	}
	return probs, e, nil
}

// LabFleet evaluates <root>/lab#fleet with nix (the lab flake, read from
// the repository's git tree).
func LabFleet(ctx context.Context, root string) (json.RawMessage, error) {
	n, err := nix.New()
	if err != nil {
		return nil, err
	}
	ref, err := nix.FlakeRef(filepath.Join(root, "lab"))
	if err != nil {
		return nil, err
	}
	b, err := n.EvalJSON(ctx, nix.Installable(ref, "fleet"))
	if err != nil {
		return nil, fmt.Errorf("lab flake: %w", err)
	}
	return b, nil
}

// CompareLab compares the fleet output the real modules derive (offline)
// with the lab flake's and returns one line per difference, by JSON path.
func CompareLab(ctx context.Context, root string) ([]string, error) {
	e, err := Evaluate(ctx, root)
	if err != nil {
		return nil, err
	}
	lab, err := LabFleet(ctx, root)
	if err != nil {
		return nil, err
	}
	d, err := Diff(e.Fleet, lab)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, line := range d {
		if !labOnDesign(line) {
			out = append(out, line)
		}
	}
	return out, nil
}

// labOnDesign reports whether a difference is one the lab makes on
// purpose (issue 16): its own test keys where the real fleet has
// placeholders, and its `lab` declaration, which the real fleet must never
// have.
func labOnDesign(diffLine string) bool {
	path, _, _ := strings.Cut(diffLine, ":")
	return path == "lab" || (strings.HasPrefix(path, "users.") && strings.HasSuffix(path, ".ageKeys"))
}

// Diff returns the differences between the real fleet's JSON and the lab's.
func Diff(real, lab []byte) ([]string, error) {
	var a, b any
	if err := json.Unmarshal(real, &a); err != nil {
		return nil, fmt.Errorf("real fleet JSON: %w", err)
	}
	if err := json.Unmarshal(lab, &b); err != nil {
		return nil, fmt.Errorf("lab fleet JSON: %w", err)
	}
	out := []string{}
	diff("", a, b, &out)
	return out, nil
}

func diff(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			av, ina := am[k]
			bv, inb := bm[k]
			switch {
			case !inb:
				*out = append(*out, p+": only in the real fleet")
			case !ina:
				*out = append(*out, p+": only in the lab")
			default:
				diff(p, av, bv, out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, fmt.Sprintf("%s: real fleet %s, lab %s", path, short(a), short(b)))
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

func setOf(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
