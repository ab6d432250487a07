package overlays

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

// testNow is the injected clock of every test: reports do not move with the
// calendar.
var testNow = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

func needNix(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/nix-instantiate"); err != nil {
		if _, err := exec.LookPath("nix-instantiate"); err != nil {
			t.Skip("nix-instantiate not installed")
		}
	}
}

func run(t *testing.T, root string) Report {
	t.Helper()
	rep, err := Check(context.Background(), Options{Root: root, Now: testNow})
	assert.NilError(t, err)
	return rep
}

func table(t *testing.T, rep Report) string {
	t.Helper()
	var b bytes.Buffer
	assert.NilError(t, rep.WriteTable(&b))
	return b.String()
}

// TestBrokenTrees checks each tree under testdata: one broken rule each,
// reported with its severity, file and line, and the whole table output
// matches the tree's golden file (go test -update regenerates them).
func TestBrokenTrees(t *testing.T) {
	needNix(t)
	const ov = "modules/nixpkgs/overlays/"
	cases := []struct {
		tree     string
		rule     string
		severity Severity
		file     string
		line     int
		msg      string // substring of the message
		ok       bool   // the check still passes (warnings only)
	}{
		{tree: "syntax", rule: "syntax", severity: Error, file: ov + "overrides.nix", line: 10, msg: "not valid Nix: syntax error"},
		{tree: "module-shape", rule: "module-shape", severity: Error, file: ov + "overrides.nix", line: 1, msg: "does not append to flake.nixpkgsOverlays"},
		{tree: "overlay-arity", rule: "overlay-arity", severity: Error, file: ov + "overrides.nix", line: 5, msg: "takes one argument"},
		{tree: "compose-missing", rule: "compose-missing", severity: Error, file: "modules/nixpkgs/compose.nix", msg: "compose.nix is missing"},
		{tree: "overlays-empty", rule: "overlays-empty", severity: Error, file: "modules/nixpkgs/overlays", msg: "no overlay files"},
		{tree: "doc-date", rule: "doc-date", severity: Error, file: ov + "overrides.nix", line: 9, msg: `"2026-13-45" is not a date`},
		{tree: "doc-missing", rule: "doc-missing", severity: Error, file: ov + "overrides.nix", line: 8, msg: "lacks upstream issue or PR link, removal condition"},
		{tree: "stale", rule: "stale", severity: Warning, file: ov + "overrides.nix", line: 10, msg: "added 2025-12-24, 333 days ago (limit 90)", ok: true},
		{tree: "layer-order", rule: "layer-order", severity: Error, file: ov + "stable-fallbacks.nix", line: 4, msg: "stable-fallbacks.nix (layer stable-fallbacks, priority 1000) composes after overrides.nix"},
		{tree: "wrong-layer", rule: "wrong-layer", severity: Error, file: ov + "stable-fallbacks.nix", line: 10, msg: `stable-fallbacks defines override "btop"`},
		{tree: "shadowed", rule: "shadowed", severity: Error, file: ov + "overrides.nix", line: 10, msg: "shadowed by custom package modules/nixpkgs/pkgs/by-name/mactop/package.nix:1"},
		{tree: "double-override", rule: "double-override", severity: Warning, file: ov + "mactop-tools.nix", line: 10, msg: "mactop is modified in two files: " + ov + "overrides.nix:10 (layer overrides) and " + ov + "mactop-tools.nix:10 (layer overrides)", ok: true},
		{tree: "platform-unused", rule: "platform-unused", severity: Warning, file: ov + "stable-fallbacks.nix", line: 12, msg: "applies only on aarch64-linux, which no fleet machine has", ok: true},
		{tree: "compose-shape", rule: "compose-shape", severity: Error, file: "modules/nixpkgs/compose.nix", line: 1, msg: "does not use lib.composeManyExtensions"},
		{tree: "compose-custom-last", rule: "compose-custom-last", severity: Error, file: "modules/nixpkgs/compose.nix", line: 9, msg: "does not merge custom packages"},
		{tree: "eval-standin", rule: "eval-standin", severity: Warning, file: ov + "overrides.nix", msg: "could not evaluate against stand-in", ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.tree, func(t *testing.T) {
			rep := run(t, filepath.Join("testdata", tc.tree))
			var found *Finding
			for i, f := range rep.Findings {
				if f.Rule == tc.rule {
					found = &rep.Findings[i]
					break
				}
			}
			assert.Assert(t, found != nil, "no %s finding in:\n%s", tc.rule, table(t, rep))
			assert.Equal(t, found.Severity, tc.severity)
			assert.Equal(t, found.File, tc.file)
			if tc.line > 0 {
				assert.Equal(t, found.Line, tc.line, found.Message)
			}
			assert.Assert(t, strings.Contains(found.Message, tc.msg), "message %q lacks %q", found.Message, tc.msg)
			assert.Assert(t, found.Fix != "", "finding without a fix hint")
			assert.Equal(t, rep.OK, tc.ok, table(t, rep))
			golden.Assert(t, table(t, rep), tc.tree+".golden")
		})
	}
}

// TestFleets: the good testdata tree, the user's fleet (modules/nixpkgs at
// the repository root) and the lab fleet pass with no finding at all.
func TestFleets(t *testing.T) {
	needNix(t)
	for _, root := range []string{"testdata/good", "../..", "../../lab"} {
		t.Run(root, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, OverlaysDir)); err != nil {
				t.Skipf("%s has no overlay tree yet", root)
			}
			rep := run(t, root)
			assert.Assert(t, rep.OK, table(t, rep))
			assert.Equal(t, len(rep.Findings), 0, table(t, rep))
			assert.Assert(t, len(rep.Files) >= 3)
			assert.Assert(t, len(rep.Custom) >= 1)
		})
	}
}

// TestUserFleetLayers pins what the checker reads from the user's fleet:
// composition order, kinds and the per-platform fallbacks.
func TestUserFleetLayers(t *testing.T) {
	needNix(t)
	rep := run(t, "../..")
	var layers []Layer
	for _, f := range rep.Files {
		layers = append(layers, f.Layer)
	}
	assert.DeepEqual(t, layers, []Layer{LayerChannels, LayerFallbacks, LayerOverrides, LayerExternal, LayerExternal})
	assert.DeepEqual(t, rep.Custom, []string{"atuin-format"})
	names := func(ps []PlatformEntry) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	assert.DeepEqual(t, names(rep.Platforms["aarch64-darwin"]), []string{"lean4"})
	assert.DeepEqual(t, names(rep.Platforms["x86_64-linux"]), []string{"zerotierone"})
	kinds := map[string]Kind{}
	for _, f := range rep.Files {
		for _, e := range f.Entries {
			kinds[e.Name] = e.Kind
		}
	}
	assert.Equal(t, kinds["stable"], KindChannel)
	assert.Equal(t, kinds["lean4"], KindFallback)
	assert.Equal(t, kinds["mactop"], KindOverride)
	assert.Equal(t, kinds["atuin-darwin-socket-path.patch"], KindPatch)
}

// TestStaleByAge: with a later clock every documented entry is stale, and
// the stale list is ordered oldest first.
func TestStaleByAge(t *testing.T) {
	needNix(t)
	later := func() time.Time { return time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC) }
	rep, err := Check(context.Background(), Options{Root: "../..", Now: later, MaxAge: 30 * 24 * time.Hour})
	assert.NilError(t, err)
	assert.Assert(t, rep.OK, "stale entries are warnings")
	var got []string
	prev := 1 << 30
	for _, s := range rep.Stale {
		got = append(got, s.Name)
		assert.Assert(t, s.AgeDays <= prev, "not ordered by age")
		prev = s.AgeDays
	}
	assert.DeepEqual(t, got, []string{"lean4", "mactop", "atuin-darwin-socket-path.patch", "zerotierone", "bitwarden-cli"})
}

// TestSystemsOption: a fleet without darwin machines gets the darwin-only
// fallback reported as applying to no machine.
func TestSystemsOption(t *testing.T) {
	needNix(t)
	rep, err := Check(context.Background(), Options{Root: "../..", Now: testNow, Systems: []string{"x86_64-linux"}})
	assert.NilError(t, err)
	var msgs []string
	for _, f := range rep.Findings {
		if f.Rule == "platform-unused" {
			msgs = append(msgs, f.Message)
		}
	}
	assert.DeepEqual(t, msgs, []string{"stable fallback lean4 applies only on aarch64-darwin, x86_64-darwin, which no fleet machine has (fleet: x86_64-linux)"})
}

func TestMissingRoot(t *testing.T) {
	_, err := Check(context.Background(), Options{Root: filepath.Join(t.TempDir(), "nope")})
	assert.ErrorContains(t, err, "is not a directory")
}
