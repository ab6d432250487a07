package overlays

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

// findingSet renders findings as "severity rule file:line", sorted.
func findingSet(rep Report) []string {
	out := []string{}
	for _, f := range rep.Findings {
		out = append(out, fmt.Sprintf("%s %s %s:%d", f.Severity, f.Rule, f.File, f.Line))
	}
	sort.Strings(out)
	return out
}

// TestRealShapedTrees checks trees shaped like the user's repository (one
// override per file documented in its header, a top-level nixpkgsOverlays,
// nested by-name groups, a local package, a permanent re-route): each
// reports exactly the listed findings, and its table output matches its
// golden file (go test -update regenerates them).
func TestRealShapedTrees(t *testing.T) {
	needNix(t)
	const ov = "modules/nixpkgs/overlays/"
	cases := []struct {
		tree string
		want []string
		ok   bool
	}{
		{tree: "real-good", want: []string{}, ok: true},
		{tree: "real-headers", want: []string{
			"error doc-date " + ov + "ripgrep-all.nix:6",
			"error doc-missing " + ov + "delta.nix:10",
			"error doc-missing " + ov + "fd.nix:5",
			"warning doc-date " + ov + "zellij.nix:5",
			"warning stale " + ov + "delta.nix:10",
		}},
		{tree: "real-xref", ok: true, want: []string{
			"warning stale-xref " + ov + "solver.nix:5",
			"warning stale-xref " + ov + "zellij.nix:7",
		}},
		{tree: "real-pathorder", ok: true, want: []string{
			"warning layer-order " + ov + "stable-fallbacks.nix:6",
		}},
		{tree: "real-order-conflict", want: []string{
			"error layer-order " + ov + "stable-fallbacks.nix:21",
			"error shadowed " + ov + "bat.nix:10",
		}},
		{tree: "real-flake-option", want: []string{
			"error option-mismatch " + ov + "typeset.nix:3",
			"error wrong-layer " + ov + "stable-fallbacks.nix:21",
		}},
		{tree: "real-nested", want: []string{
			"error shadowed " + ov + "plugins-alpha.nix:10",
			"warning custom-package pkgs/by-name/plugins/empty:0",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.tree, func(t *testing.T) {
			rep := run(t, filepath.Join("testdata", tc.tree))
			assert.DeepEqual(t, findingSet(rep), tc.want)
			assert.Equal(t, rep.OK, tc.ok)
			for _, f := range rep.Findings {
				assert.Assert(t, f.Fix != "", "%s without a fix", f.Rule)
			}
			golden.Assert(t, table(t, rep), tc.tree+".golden")
		})
	}
}

// TestRealShapedMessages pins what the fixes say: each names the option and
// the files as the checked tree spells them.
func TestRealShapedMessages(t *testing.T) {
	needNix(t)
	cases := []struct {
		tree, rule string
		msg, fix   string // substrings
	}{
		{"real-pathorder", "layer-order", "no file uses lib.mkOrder, so path order (import-tree) decides", "write nixpkgsOverlays = lib.mkOrder 200 [ ... ]"},
		{"real-flake-option", "option-mismatch", "appends to nixpkgsOverlays, but this tree composes flake.nixpkgsOverlays (modules/nixpkgs/overlays-option.nix)", "write flake.nixpkgsOverlays = [ ... ] in modules/nixpkgs/overlays/typeset.nix"},
		{"real-flake-option", "wrong-layer", `stable-fallbacks defines override "jq"`, "modules/nixpkgs/overlays/jq.nix (one override per file, documented in its header, as ripgrep-all.nix)"},
		{"real-headers", "doc-missing", "override fd lacks symptom", "in the header of modules/nixpkgs/overlays/fd.nix"},
		{"real-headers", "doc-missing", "https://github.com/dandavison/delta/issues is the issue list, not an issue", "# delta: <symptom>"},
		{"real-xref", "stale-xref", "comment says stable-fallbacks.nix handles zellij, but stable-fallbacks.nix defines no zellij", "or restore zellij in stable-fallbacks.nix"},
		{"real-order-conflict", "layer-order", "stable fallback bat (layer stable-fallbacks) composes after modules/nixpkgs/overlays/bat.nix:10", "in modules/nixpkgs/overlays/stable-fallbacks.nix write nixpkgsOverlays = lib.mkOrder 200"},
	}
	for _, tc := range cases {
		t.Run(tc.tree+"/"+tc.rule, func(t *testing.T) {
			rep := run(t, filepath.Join("testdata", tc.tree))
			var got []string
			for _, f := range rep.Findings {
				if f.Rule == tc.rule && strings.Contains(f.Message, tc.msg) {
					assert.Check(t, is.Contains(f.Fix, tc.fix))
					return
				}
				got = append(got, f.Rule+": "+f.Message)
			}
			t.Fatalf("no %s finding with %q in %v", tc.rule, tc.msg, got)
		})
	}
}

// TestRealGoodReading pins how the good realistic tree is read: layers by
// name and by content, kinds, where the documentation came from, nested
// by-name names.
func TestRealGoodReading(t *testing.T) {
	needNix(t)
	rep := run(t, "testdata/real-good")
	layers := map[string]Layer{}
	kinds := map[string]string{}
	for _, f := range rep.Files {
		layers[filepath.Base(f.File)] = f.Layer
		for _, e := range f.Entries {
			kinds[e.Name] = string(e.Kind) + "/" + e.DocFrom
		}
	}
	assert.DeepEqual(t, layers, map[string]Layer{
		"channels.nix": LayerChannels, "stable-fallbacks.nix": LayerFallbacks,
		"ripgrep-all.nix": LayerOverrides, "zellij.nix": LayerOverrides, "python-routes.nix": LayerOverrides,
		"solver.nix": LayerExternal, "shelltools.nix": LayerExternal, "typeset.nix": LayerExternal,
	})
	assert.DeepEqual(t, kinds, map[string]string{
		"stable": "channel/", "unstable": "channel/", "patched": "channel/",
		"zellij":           "override/file header", // zellij.nix; the fallback's own block is read too
		"ripgrep-all":      "override/file header",
		"python3":          "reroute/file header",
		"python3Packages":  "definition/",
		"solver":           "local/",
		"typesetWithFonts": "definition/entry",
	})
	assert.DeepEqual(t, rep.Custom, []string{"notes-sync", "plugins-alpha", "plugins-beta", "tomlkit-fast"})
}

// TestJSONSchema: the JSON report has the documented shape; every finding
// has exactly rule, severity, file, line, message and fix.
func TestJSONSchema(t *testing.T) {
	needNix(t)
	rep := run(t, "testdata/real-headers")
	var b bytes.Buffer
	assert.NilError(t, rep.WriteJSON(&b))
	golden.Assert(t, b.String(), "real-headers.json.golden")
	var raw struct {
		Schema   string           `json:"schema"`
		Findings []map[string]any `json:"findings"`
	}
	assert.NilError(t, json.Unmarshal(b.Bytes(), &raw))
	assert.Equal(t, raw.Schema, Schema)
	assert.Assert(t, len(raw.Findings) > 0)
	for _, f := range raw.Findings {
		keys := slices.Sorted(maps.Keys(f))
		assert.DeepEqual(t, keys, []string{"file", "fix", "line", "message", "rule", "severity"})
	}
}

// mutation changes a copy of a tree and says which finding it must cause.
type mutation struct {
	name  string
	apply func(t *testing.T, root string) (rule, file string, line int)
}

// lineOf is the 1-based line of the first line of path containing sub.
func lineOf(t *testing.T, path, sub string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", path, sub)
	return 0
}

func rewrite(t *testing.T, path string, f func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	out := f(string(b))
	assert.Assert(t, out != string(b), "mutation of %s changed nothing", path)
	assert.NilError(t, os.WriteFile(path, []byte(out), 0o644))
}

var orderRE = regexp.MustCompile(`nixpkgsOverlays = (lib\.mkOrder \d+ )?\[`)
var argsRE = regexp.MustCompile(`(?m)^\{ ([^}]*)\}:$`)

// setOrder makes a module append with lib.mkOrder n, taking lib if needed.
func setOrder(t *testing.T, path string, n int) {
	rewrite(t, path, func(s string) string {
		s = orderRE.ReplaceAllString(s, fmt.Sprintf("nixpkgsOverlays = lib.mkOrder %d [", n))
		if !strings.Contains(argsRE.FindString(s), "lib") {
			s = argsRE.ReplaceAllString(s, "{ lib, $1}:")
		}
		return s
	})
}

// mutations are the five edits the issue names, applied to a tree whose
// override (a header-documented one-override file), channels file and
// external file are given.
func mutations(override, pkg, external string) []mutation {
	ov := func(root, f string) string { return filepath.Join(root, OverlaysDir, f) }
	rel := func(f string) string { return OverlaysDir + "/" + f }
	return []mutation{
		{"header removed", func(t *testing.T, root string) (string, string, int) {
			p := ov(root, override)
			rewrite(t, p, func(s string) string {
				lines := strings.Split(s, "\n")
				k := 0
				for k < len(lines) && (strings.HasPrefix(lines[k], "#") || lines[k] == "") {
					k++
				}
				return strings.Join(lines[k:], "\n")
			})
			return "doc-missing", rel(override), lineOf(t, p, pkg+" = prev."+pkg)
		}},
		{"malformed date in header", func(t *testing.T, root string) (string, string, int) {
			p := ov(root, override)
			rewrite(t, p, func(s string) string {
				return regexp.MustCompile(`Date added: \S+`).ReplaceAllString(s, "Date added: 2026-13-45")
			})
			return "doc-date", rel(override), lineOf(t, p, "Date added: 2026-13-45")
		}},
		{"layers swapped", func(t *testing.T, root string) (string, string, int) {
			setOrder(t, ov(root, "channels.nix"), 400)
			setOrder(t, ov(root, external), 100)
			return "layer-order", rel("channels.nix"), lineOf(t, ov(root, "channels.nix"), "nixpkgsOverlays = lib.mkOrder 400")
		}},
		{"override duplicated", func(t *testing.T, root string) (string, string, int) {
			b, err := os.ReadFile(ov(root, override))
			assert.NilError(t, err)
			dup := "zz-copy-of-" + override // sorts (composes) after the original
			assert.NilError(t, os.WriteFile(ov(root, dup), b, 0o644))
			return "double-override", rel(dup), lineOf(t, ov(root, dup), pkg+" = prev."+pkg)
		}},
		{"syntax error", func(t *testing.T, root string) (string, string, int) {
			p := ov(root, override)
			rewrite(t, p, func(s string) string { return strings.Replace(s, "doCheck = false;", "doCheck = false", 1) })
			return "syntax", rel(override), lineOf(t, p, "doCheck = false") + 1
		}},
	}
}

// copyTree copies a tree's overlay-relevant directories into a temporary
// directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, d := range append([]string{NixpkgsDir}, ByNameDirs...) {
		from := filepath.Join(src, d)
		if _, err := os.Stat(from); err != nil {
			continue
		}
		err := filepath.WalkDir(from, func(p string, de os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			r, _ := filepath.Rel(src, p)
			to := filepath.Join(dst, r)
			if de.IsDir() {
				return os.MkdirAll(to, 0o755)
			}
			if !de.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		})
		assert.NilError(t, err)
	}
	return dst
}

// runMutations applies each mutation to a fresh copy of root and checks
// that the new finding appears at the right file and line, and was not
// there before.
func runMutations(t *testing.T, root string, ms []mutation) {
	before := map[string]bool{}
	for _, f := range run(t, root).Findings {
		before[fmt.Sprintf("%s %s:%d", f.Rule, f.File, f.Line)] = true
	}
	for _, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			tree := copyTree(t, root)
			rule, file, line := m.apply(t, tree)
			want := fmt.Sprintf("%s %s:%d", rule, file, line)
			assert.Assert(t, !before[want], "%s is reported before the mutation", want)
			rep := run(t, tree)
			var got []string
			for _, f := range rep.Findings {
				s := fmt.Sprintf("%s %s:%d", f.Rule, f.File, f.Line)
				if s == want {
					return
				}
				got = append(got, s)
			}
			t.Fatalf("want %s, got:\n%s", want, strings.Join(got, "\n"))
		})
	}
}

// TestMutationsFixture runs the mutations against the realistic fixture, so
// CI checks them without the network.
func TestMutationsFixture(t *testing.T) {
	needNix(t)
	runMutations(t, "testdata/real-good", mutations("ripgrep-all.nix", "ripgrep-all", "shelltools.nix"))
}

// TestMutationsReal runs the same mutations against a checkout of the
// user's repository (VANIXIETS_REAL_OVERLAYS=/path/to/checkout).
func TestMutationsReal(t *testing.T) {
	needNix(t)
	runMutations(t, realRoot(t), mutations("mactop.nix", "mactop", "nuenv.nix"))
}
