// Package realfleet checks the user's real fleet (the root flake.nix and
// modules/, dendritic flake-parts) as far as it can be checked without the
// network.
//
// The real flake cannot be evaluated offline: flake-parts, clan-core,
// nixpkgs and the other inputs are not fetchable here. What can be checked
// is how the repository is put together, and that is where a dendritic
// fleet breaks most often: a machine module nobody registered, a registry
// entry importing the wrong namespace, a file import-tree picks up that is
// not a module, a second hand-written inventory drifting from the first.
// The checks:
//
//   - every .nix file of the repository parses (ParseAll);
//   - the fleet's plain data (modules/_fleet/*.nix) evaluates without any
//     input (Data);
//   - flake.nix hands ./modules, and only ./modules, to import-tree, and
//     the files it would import are flake-parts modules that export under
//     flake.modules.* or define outputs, perSystem, clan or options; every
//     machine of the data has its namespace export and its clan registry
//     entry; terranix renders exactly the enabled cloud machines (Check);
//   - the `fleet` output the modules derive equals the lab flake's
//     (CompareLab): both come from the same plain data, so any difference
//     is a module or a lab file that stopped deriving from it.
//
// Check and CompareLab rest on eval.nix, a builtins-only evaluation of
// flake.nix and the modules with stand-in inputs and a small fixpoint of
// the module system (see its header for what it does and does not model).
package realfleet

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

//go:embed eval.nix
var evalNix string

// Eval is what eval.nix reports about a repository.
type Eval struct {
	Flake struct {
		MkFlake       bool     `json:"mkFlake"`
		MkFlakeInputs bool     `json:"mkFlakeInputs"`
		TreePaths     []string `json:"treePaths"`
		ExtraImports  []string `json:"extraImports"`
		Inputs        []string `json:"inputs"`
	} `json:"flake"`
	// Selected are the files import-tree would import, relative to modules/
	// with a leading slash ("/clan/machines.nix").
	Selected []string `json:"selected"`
	Files    []File   `json:"files"`
	// KnownKeys are the top-level attributes a module may define.
	KnownKeys []string `json:"knownKeys"`
	// Namespaces lists flake.modules.<class> names.
	Namespaces map[string][]string `json:"namespaces"`
	// Registry is what each clan.machines.<m> imports, as namespace keys
	// ("flake.modules.nixos.machines/nixos/cinnabar"; "missing:..." when the
	// namespace is not exported).
	Registry  map[string][]string `json:"registry"`
	Fleet     json.RawMessage     `json:"fleet"`
	Terraform struct {
		HcloudServer          []string        `json:"hcloud_server"`
		GoogleComputeInstance []string        `json:"google_compute_instance"`
		Output                []string        `json:"output"`
		Machines              map[string]bool `json:"machines"`
	} `json:"terraform"`
	PerSystem struct {
		Packages []string `json:"packages"`
		Checks   []string `json:"checks"`
	} `json:"perSystem"`
}

// File is one module as eval.nix saw it.
type File struct {
	File    string   `json:"file"`    // modules/...
	Shape   string   `json:"shape"`   // "attrs" for a module
	Keys    []string `json:"keys"`    // top-level attributes of the result
	Defines []string `json:"defines"` // its config definitions' top-level attributes
	Exports []string `json:"exports"` // "<class>.<name>" under flake.modules
	Outputs []string `json:"outputs"` // flake.<output> other than modules
	Options []string `json:"options"` // options it declares
	Imports int      `json:"imports"`
}

// Machine is one machine of modules/_fleet/machines.nix.
type Machine struct {
	MachineClass string `json:"machineClass"`
	System       string `json:"system"`
	Cloud        *struct {
		Provider string `json:"provider"`
		Enabled  *bool  `json:"enabled"`
	} `json:"cloud"`
}

// DataFiles are the fleet's plain data files, relative to the root.
var DataFiles = []string{
	"modules/_fleet/machines.nix",
	"modules/_fleet/users.nix",
	"modules/_fleet/instances.nix",
	"modules/_fleet/generators.nix",
}

func instantiate(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nix-instantiate", args...)
	cmd.Env = nix.Environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if _, lerr := exec.LookPath("nix-instantiate"); lerr != nil {
			return nil, fmt.Errorf("nix-instantiate not found: %s", nix.InstallHint)
		}
		return nil, fmt.Errorf("%s", strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Data evaluates each plain data file on its own, with no argument and no
// input, and returns its JSON. A file that is not plain data (a function,
// an import of something missing) is an error naming it.
func Data(ctx context.Context, root string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, f := range DataFiles {
		b, err := instantiate(ctx, "--eval", "--strict", "--json", filepath.Join(root, f))
		if err != nil {
			return nil, fmt.Errorf("%s is not plain data the lab can import without arguments: %v", f, err)
		}
		if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
			return nil, fmt.Errorf("%s evaluates to %s, not an attribute set", f, firstLine(string(b)))
		}
		out[f] = json.RawMessage(b)
	}
	return out, nil
}

// Machines reads modules/_fleet/machines.nix.
func Machines(ctx context.Context, root string) (map[string]Machine, error) {
	b, err := instantiate(ctx, "--eval", "--strict", "--json", filepath.Join(root, DataFiles[0]))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", DataFiles[0], err)
	}
	var ms map[string]Machine
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("%s: %v", DataFiles[0], err)
	}
	return ms, nil
}

// Candidates lists every .nix file under root/modules, relative to modules/
// with a leading slash: the paths import-tree filters.
func Candidates(root string) ([]string, error) {
	dir := filepath.Join(root, "modules")
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".nix") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, "/"+filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// Evaluate runs eval.nix on the repository at root.
func Evaluate(ctx context.Context, root string) (*Eval, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, "flake.nix")); err != nil {
		return nil, fmt.Errorf("%s has no flake.nix: run from the repository root or pass its path", abs)
	}
	cands, err := Candidates(abs)
	if err != nil {
		return nil, err
	}
	ms, err := Machines(ctx, abs)
	if err != nil {
		return nil, err
	}
	classes := map[string]string{}
	for m, v := range ms {
		classes[m] = v.MachineClass
	}
	in, _ := json.Marshal(map[string]any{"root": abs, "candidates": cands, "machines": classes})
	b, err := instantiate(ctx, "--eval", "--strict", "--json", "-E", evalNix, "--argstr", "input", string(in))
	if err != nil {
		return nil, fmt.Errorf("evaluating %s/flake.nix and modules/ offline: %v", abs, err)
	}
	var e Eval
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding the offline evaluation: %w", err)
	}
	return &e, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
