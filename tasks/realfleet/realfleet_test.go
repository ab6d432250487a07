package realfleet

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/overlays"
)

const repo = "../.."

var testNow = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

func needNix(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate not installed (scripts/install-nix.sh)")
	}
}

// copyTree copies what the real fleet and the lab consist of (flake.nix,
// modules/, lab/) into a temporary directory, as a git work tree with every
// file added, so that `nix eval <copy>/lab#fleet` reads it like the real
// repository.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range []string{"flake.nix", "modules", "lab"} {
		out, err := exec.Command("cp", "-r", filepath.Join(repo, p), filepath.Join(dst, p)).CombinedOutput()
		assert.NilError(t, err, string(out))
	}
	treetest.GitAdd(t, dst)
	return dst
}

// edit replaces old by new in one file of the copy; old must be there, so a
// break that no longer applies fails loudly instead of testing nothing.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	assert.NilError(t, err)
	assert.Assert(t, strings.Contains(string(b), old), "%s does not contain %q", file, old)
	assert.NilError(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

func write(t *testing.T, dir, file, content string) {
	t.Helper()
	p := filepath.Join(dir, file)
	assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
}

func gitAdd(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("git", "add", "-A")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, string(out))
}

func lines(ps []Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.String())
	}
	sort.Strings(out)
	return out
}

// TestParseAll: every .nix file of the repository parses, one subtest per
// file.
func TestParseAll(t *testing.T) {
	needNix(t)
	files, err := NixFiles(repo)
	assert.NilError(t, err)
	assert.Assert(t, len(files) > 40, "only %d .nix files found", len(files))
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			_, err := instantiate(context.Background(), "--parse", filepath.Join(repo, f))
			assert.NilError(t, err)
		})
	}
}

// TestParseAllBroken: a file with a syntax error is reported by name with
// Nix's message.
func TestParseAllBroken(t *testing.T) {
	needNix(t)
	dir := copyTree(t)
	write(t, dir, "modules/system/broken.nix", "{\n  flake.modules.nixos.broken = { a = ; };\n}\n")
	probs, err := ParseAll(context.Background(), dir)
	assert.NilError(t, err)
	assert.Equal(t, len(probs), 1, lines(probs))
	assert.Equal(t, probs[0].File, "modules/system/broken.nix")
	assert.Equal(t, probs[0].Rule, "parse")
	assert.Assert(t, is.Contains(probs[0].Message, "syntax error"))
}

// TestDataIsPlain: each data file evaluates with no input and no argument,
// and holds what the lab flake declares: the same machines, users and
// instances.
func TestDataIsPlain(t *testing.T) {
	needNix(t)
	ctx := context.Background()
	data, err := Data(ctx, repo)
	assert.NilError(t, err)
	lab, err := LabFleet(ctx, repo)
	assert.NilError(t, err)
	var labFleet map[string]map[string]json.RawMessage
	assert.NilError(t, json.Unmarshal(lab, &labFleet))
	for _, tc := range []struct{ file, section string }{
		{"modules/_fleet/machines.nix", "machines"},
		{"modules/_fleet/users.nix", "users"},
		{"modules/_fleet/instances.nix", "instances"},
	} {
		t.Run(tc.section, func(t *testing.T) {
			var d map[string]json.RawMessage
			assert.NilError(t, json.Unmarshal(data[tc.file], &d))
			assert.DeepEqual(t, slices.Sorted(maps.Keys(d)), slices.Sorted(maps.Keys(labFleet[tc.section])))
		})
	}
	var machines map[string]json.RawMessage
	assert.NilError(t, json.Unmarshal(data["modules/_fleet/machines.nix"], &machines))
	assert.DeepEqual(t, slices.Sorted(maps.Keys(machines)), []string{"argentum", "blackphos", "cinnabar", "electrum", "galena", "rosegold", "scheelite", "stibnite"})
}

// TestDataNotPlain: a data file that became a function is named.
func TestDataNotPlain(t *testing.T) {
	needNix(t)
	dir := copyTree(t)
	edit(t, dir, "modules/_fleet/users.nix", "{\n  crs58 = {", "{ }: {\n  crs58 = {")
	_, err := Data(context.Background(), dir)
	assert.ErrorContains(t, err, "modules/_fleet/users.nix is not plain data the lab can import without arguments")
}

// TestRepository: the repository's own tree breaks no rule, and the
// evaluation sees what the fleet is made of.
func TestRepository(t *testing.T) {
	needNix(t)
	probs, e, err := Check(context.Background(), repo)
	assert.NilError(t, err)
	assert.DeepEqual(t, lines(probs), []string{})

	assert.DeepEqual(t, e.Flake.TreePaths, []string{"/modules"})
	for _, s := range e.Selected {
		assert.Assert(t, !strings.Contains(s, "/_"), s)
		assert.Assert(t, !strings.Contains(s, "/pkgs/by-name/"), s)
	}
	assert.Assert(t, is.Contains(e.Selected, "/nixpkgs/compose.nix"))
	for _, m := range []string{"cinnabar", "electrum", "galena", "scheelite"} {
		assert.Assert(t, is.Contains(e.Namespaces["nixos"], "machines/nixos/"+m))
	}
	for _, m := range []string{"stibnite", "blackphos", "argentum", "rosegold"} {
		assert.Assert(t, is.Contains(e.Namespaces["darwin"], "machines/darwin/"+m))
	}
	assert.Equal(t, len(e.Registry), 8)
	// home/ai/claude-code.nix and home/ai/mcp-servers.nix merge into one aggregate
	var aiFiles []string
	for _, f := range e.Files {
		for _, x := range f.Exports {
			if x == "homeManager.ai" {
				aiFiles = append(aiFiles, f.File)
			}
		}
	}
	assert.DeepEqual(t, aiFiles, []string{"modules/home/ai/claude-code.nix", "modules/home/ai/mcp-servers.nix"})
	// electrum and scheelite are disabled: no server, no output
	assert.DeepEqual(t, e.Terraform.HcloudServer, []string{"cinnabar"})
	assert.DeepEqual(t, e.Terraform.GoogleComputeInstance, []string{"galena"})
	assert.DeepEqual(t, e.Terraform.Output, []string{"cinnabar_ipv4", "galena_ipv4"})
	assert.Assert(t, is.Contains(e.PerSystem.Checks, "registry"))
	assert.Assert(t, is.Contains(e.PerSystem.Checks, "cinnabar"))
}

// TestFleetMatchesLab: the fleet output the modules derive equals
// `nix eval --json lab#fleet`.
func TestFleetMatchesLab(t *testing.T) {
	needNix(t)
	d, err := CompareLab(context.Background(), repo)
	assert.NilError(t, err)
	assert.DeepEqual(t, d, []string{})
}

// TestOverlays: the overlay compose check passes on the real fleet.
func TestOverlays(t *testing.T) {
	needNix(t)
	rep, err := overlays.Check(context.Background(), overlays.Options{Root: repo, Now: testNow})
	assert.NilError(t, err)
	assert.Assert(t, rep.OK, rep.Summary())
	assert.Equal(t, rep.Errors, 0)
}

// TestBrokenCopies breaks a copy of the tree one way at a time and asserts
// the exact problems Check reports.
func TestBrokenCopies(t *testing.T) {
	needNix(t)
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   []string
	}{
		{
			name: "registry entry removed",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "modules/clan/machines.nix", `    galena.imports = [ nixos."machines/nixos/galena" ];`+"\n", "")
			},
			want: []string{`modules/clan/machines.nix: machine galena has no entry in clan.machines; add: galena.imports = [ nixos."machines/nixos/galena" ]; [machine-registry]`},
		},
		{
			name: "registry imports the wrong class",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "modules/clan/machines.nix", `darwin."machines/darwin/stibnite"`, `nixos."machines/nixos/stibnite"`)
			},
			want: []string{`modules/clan/machines.nix: clan.machines.stibnite imports missing:flake.modules.nixos.machines/nixos/stibnite; want [ flake.modules.darwin.machines/darwin/stibnite ] [machine-registry]`},
		},
		{
			name: "registry names an unknown machine",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "modules/clan/machines.nix", "    # nix-darwin laptops\n", "    obsidian.imports = [ nixos.\"machines/nixos/cinnabar\" ];\n    # nix-darwin laptops\n")
			},
			want: []string{`modules/clan/machines.nix: clan.machines.obsidian names a machine modules/_fleet/machines.nix does not declare; add it there or drop the entry [machine-registry]`},
		},
		{
			name: "machine module removed",
			break_: func(t *testing.T, dir string) {
				assert.NilError(t, os.RemoveAll(filepath.Join(dir, "modules/machines/darwin/rosegold")))
			},
			want: []string{
				`modules/clan/machines.nix: clan.machines.rosegold imports missing:flake.modules.darwin.machines/darwin/rosegold; want [ flake.modules.darwin.machines/darwin/rosegold ] [machine-registry]`,
				`modules/machines/darwin/rosegold/default.nix: machine rosegold: no module exports flake.modules.darwin."machines/darwin/rosegold"; create this file exporting it [machine-module]`,
			},
		},
		{
			name: "machine module in the wrong place",
			break_: func(t *testing.T, dir string) {
				assert.NilError(t, os.Rename(filepath.Join(dir, "modules/machines/nixos/galena/default.nix"), filepath.Join(dir, "modules/nixos/galena.nix")))
				edit(t, dir, "modules/nixos/galena.nix", "../../../_fleet/", "../_fleet/")
			},
			want: []string{`modules/nixos/galena.nix: exports flake.modules.nixos."machines/nixos/galena"; machine modules live in modules/machines/nixos/galena/default.nix [machine-module]`},
		},
		{
			name:   "module that defines nothing",
			break_: func(t *testing.T, dir string) { write(t, dir, "modules/system/empty.nix", "{ ... }: { }\n") },
			want:   []string{`modules/system/empty.nix: defines nothing: a module must export under flake.modules.*, or define flake outputs, perSystem, clan.* or options [module-empty]`},
		},
		{
			name: "module defining an unknown top-level attribute",
			break_: func(t *testing.T, dir string) {
				write(t, dir, "modules/nixos/stray.nix", "{ flake.modules.nixos.stray = { }; nixosConfigurations.x = { }; }\n")
			},
			want: []string{`modules/nixos/stray.nix: defines "nixosConfigurations", which is no flake-parts option of this flake; export under flake.modules.<class>.<name>, or define flake.<output>, perSystem or clan.* [module-keys]`},
		},
		{
			name:   "file that is not a module",
			break_: func(t *testing.T, dir string) { write(t, dir, "modules/nixos/list.nix", "[ ]\n") },
			want:   []string{`modules/nixos/list.nix: evaluates to a list, not a flake-parts module (a function returning an attribute set, or an attribute set) [module-shape]`},
		},
		{
			name: "specialArgs",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "modules/clan/core.nix", `clan.meta.name = "vanixiets";`, `clan.meta.name = "vanixiets";`+"\n  clan.specialArgs = { inherit inputs; };")
			},
			want: []string{`modules/clan/core.nix: passes specialArgs; modules reach each other through flake.modules.* and their own inputs, never specialArgs [special-args]`},
		},
		{
			name: "pkgs/by-name auto-imported",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "flake.nix", `(inputs.import-tree.filterNot (inputs.nixpkgs.lib.hasInfix "/pkgs/by-name/")) ./modules`, `inputs.import-tree ./modules`)
			},
			want: []string{`flake.nix: import-tree would import modules/nixpkgs/pkgs/by-name/atuin-format/package.nix, a callPackage file, as a module; filter it out: (inputs.import-tree.filterNot (lib.hasInfix "/pkgs/by-name/")) ./modules [auto-import]`},
		},
		{
			name: "a directory outside modules/ auto-imported",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "flake.nix", `hasInfix "/pkgs/by-name/")) ./modules`, `hasInfix "/pkgs/by-name/")) [ ./modules ./lab/nix ]`)
			},
			want: []string{`flake.nix: hands /lab/nix to import-tree; only ./modules is auto-imported (move its modules under modules/) [auto-import]`},
		},
		{
			name: "input missing",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "flake.nix", `    sops-nix.url = "github:Mic92/sops-nix";`+"\n", "")
				edit(t, dir, "flake.nix", `    sops-nix.inputs.nixpkgs.follows = "nixpkgs";`+"\n", "")
			},
			want: []string{`flake.nix: input "sops-nix" is missing; the modules use it (add inputs.sops-nix.url) [flake-inputs]`},
		},
		{
			name: "terranix ignores the toggle",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "modules/terranix/hetzner.nix", `m.provider == "hetzner" && m.enabled`, `m.provider == "hetzner"`)
			},
			want: []string{`modules/terranix/hetzner.nix: renders hcloud_server [cinnabar electrum]; modules/_fleet/machines.nix enables [cinnabar] [terranix]`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t)
			tc.break_(t, dir)
			probs, _, err := Check(context.Background(), dir)
			assert.NilError(t, err)
			assert.DeepEqual(t, lines(probs), tc.want)
		})
	}
}

// TestLabDisagreement: an inventory written by hand in a module, or a lab
// flake that stops importing the shared data, makes the two fleets differ,
// and the difference is named by its JSON path.
func TestLabDisagreement(t *testing.T) {
	needNix(t)
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   []string
	}{
		{
			name: "zerotier controller written by hand",
			break_: func(t *testing.T, dir string) {
				write(t, dir, "modules/clan/inventory/services/zerotier.nix", `{
  clan.inventory.instances.zerotier = {
    module = { name = "zerotier"; input = "clan-core"; };
    roles.controller.machines.galena = { };
    roles.peer.machines = {
      electrum = { }; cinnabar = { }; scheelite = { }; stibnite = { };
      blackphos = { }; argentum = { }; rosegold = { };
    };
  };
}
`)
			},
			want: []string{
				"instances.zerotier.roles.controller.machines.cinnabar: only in the lab",
				"instances.zerotier.roles.controller.machines.galena: only in the real fleet",
				"instances.zerotier.roles.peer.machines.cinnabar: only in the real fleet",
				"instances.zerotier.roles.peer.machines.galena: only in the lab",
			},
		},
		{
			name: "machine description overridden in the inventory",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "modules/clan/inventory/machines.nix", "inherit (m) machineClass tags description;", "inherit (m) machineClass tags;\n    description = \"a server\";")
			},
			want: []string{
				`machines.argentum.description: real fleet "a server", lab "nix-darwin laptop of christophersmith"`,
				`machines.blackphos.description: real fleet "a server", lab "nix-darwin laptop of raquel"`,
				`machines.cinnabar.description: real fleet "a server", lab "Hetzner VPS, permanent; ZeroTier controller"`,
				`machines.electrum.description: real fleet "a server", lab "Hetzner VPS, ephemeral (usually disabled in terranix)"`,
				`machines.galena.description: real fleet "a server", lab "GCP CPU instance"`,
				`machines.rosegold.description: real fleet "a server", lab "nix-darwin laptop of janettesmith"`,
				`machines.scheelite.description: real fleet "a server", lab "GCP GPU instance (disabled: machines.scheelite.enabled = false)"`,
				`machines.stibnite.description: real fleet "a server", lab "nix-darwin laptop of crs58"`,
			},
		},
		{
			name: "lab drops a machine",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "lab/flake.nix", "machines = import ../modules/_fleet/machines.nix;", `machines = removeAttrs (import ../modules/_fleet/machines.nix) [ "electrum" ];`)
			},
			want: []string{"machines.electrum: only in the real fleet"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t)
			tc.break_(t, dir)
			gitAdd(t, dir)
			d, err := CompareLab(context.Background(), dir)
			assert.NilError(t, err)
			assert.DeepEqual(t, d, tc.want)
		})
	}
}

// TestToggleFlowsEverywhere: enabling scheelite in the one data file adds
// its GCE instance to terranix, keeps every rule and keeps the lab equal.
func TestToggleFlowsEverywhere(t *testing.T) {
	needNix(t)
	dir := copyTree(t)
	edit(t, dir, "modules/_fleet/machines.nix", "provider = \"gcp\";\n      enabled = false;", "provider = \"gcp\";\n      enabled = true;")
	gitAdd(t, dir)
	ctx := context.Background()
	probs, e, err := Check(ctx, dir)
	assert.NilError(t, err)
	assert.DeepEqual(t, lines(probs), []string{})
	assert.DeepEqual(t, e.Terraform.GoogleComputeInstance, []string{"galena", "scheelite"})
	assert.Equal(t, e.Terraform.Machines["scheelite"], true)
	d, err := CompareLab(ctx, dir)
	assert.NilError(t, err)
	assert.DeepEqual(t, d, []string{})
}

// TestOverlayWrongLayer: the mactop override moved into the stable
// fallbacks fails the overlay check on the copy.
func TestOverlayWrongLayer(t *testing.T) {
	needNix(t)
	dir := copyTree(t)
	entry := `      # mactop: TestHeadlessIntegration writes to $HOME, read-only in the sandbox
      # Symptom: mkdir /homeless-shelter: read-only file system
      # Upstream: https://github.com/metaspartan/mactop/issues/61
      # TODO: Remove when upstream's test uses a temporary directory
      # Date added: 2026-10-20
      mactop = prev.mactop.overrideAttrs (old: {
        doCheck = false;
      });
`
	edit(t, dir, "modules/nixpkgs/overlays/overrides.nix", entry, "")
	edit(t, dir, "modules/nixpkgs/overlays/stable-fallbacks.nix", "        # Cross-platform stable fallbacks: none at the moment.\n", entry)
	rep, err := overlays.Check(context.Background(), overlays.Options{Root: dir, Now: testNow})
	assert.NilError(t, err)
	assert.Assert(t, !rep.OK)
	var msgs []string
	for _, f := range rep.Findings {
		if f.Severity == overlays.Error {
			msgs = append(msgs, f.Rule+" "+f.File+": "+f.Message)
		}
	}
	assert.Assert(t, is.Contains(msgs, `wrong-layer modules/nixpkgs/overlays/stable-fallbacks.nix: stable-fallbacks defines override "mactop"; Layer 2 only selects packages from a channel (final.stable.<pkg>)`), "%v", msgs)
}

// TestDiff pins the difference format.
func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		real, lab string
		want      []string
	}{
		{"equal", `{"a":{"b":[1,2]}}`, `{"a":{"b":[1,2]}}`, []string{}},
		{"value", `{"a":{"b":1}}`, `{"a":{"b":2}}`, []string{"a.b: real fleet 1, lab 2"}},
		{"only real", `{"a":{"x":1}}`, `{"a":{}}`, []string{"a.x: only in the real fleet"}},
		{"only lab", `{"a":{}}`, `{"a":{"y":null}}`, []string{"a.y: only in the lab"}},
		{"type", `{"a":null}`, `{"a":{"k":1}}`, []string{`a: real fleet null, lab {"k":1}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Diff([]byte(tc.real), []byte(tc.lab))
			assert.NilError(t, err)
			assert.DeepEqual(t, nonNil(d), tc.want)
		})
	}
	_, err := Diff([]byte("{"), []byte("{}"))
	assert.ErrorContains(t, err, "real fleet JSON")
}
