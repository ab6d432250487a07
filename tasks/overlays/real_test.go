package overlays

import (
	"os"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// realRoot is a checkout of the user's repository, named by
// VANIXIETS_REAL_OVERLAYS; tests against it are skipped without one (CI
// runs the same mutations against testdata/real-good).
func realRoot(t *testing.T) string {
	t.Helper()
	root := os.Getenv("VANIXIETS_REAL_OVERLAYS")
	if root == "" {
		t.Skip("VANIXIETS_REAL_OVERLAYS does not name a checkout of the user's repository")
	}
	_, err := os.Stat(root)
	assert.NilError(t, err, "VANIXIETS_REAL_OVERLAYS")
	return root
}

// TestRealTree prints the report on the real checkout (go test -v).
func TestRealTree(t *testing.T) {
	needNix(t)
	root := os.Getenv("VANIXIETS_SHOW_TREE")
	if root == "" {
		root = realRoot(t)
	}
	rep := run(t, root)
	t.Log("\n" + table(t, rep))
}

// TestRealTreeFindings: on the real checkout, the false findings the issue
// lists are gone (documented one-override files, the local aeneas package,
// the python re-route, the nested by-name groups), and what the issue says
// was missed is found (the stale cross-reference in bitwarden-cli.nix).
func TestRealTreeFindings(t *testing.T) {
	needNix(t)
	rep := run(t, realRoot(t))
	const ov = "modules/nixpkgs/overlays/"
	for _, f := range rep.Findings {
		switch {
		case f.Rule == "doc-missing":
			for _, doc := range []string{"bitwarden-cli.nix", "nixos-facter.nix", "aeneas.nix", "python-overrides.nix"} {
				assert.Assert(t, f.File != ov+doc, "doc-missing on documented %s: %s", doc, f.Message)
			}
		case f.Rule == "custom-package":
			t.Errorf("nested by-name group reported as broken: %s", f.File)
		case f.Rule == "layer-order":
			assert.Assert(t, f.Severity == Warning && strings.Contains(f.Message, "no file uses lib.mkOrder"), f.Message)
			assert.Assert(t, strings.Contains(f.Fix, "nixpkgsOverlays = lib.mkOrder") && !strings.Contains(f.Fix, "flake.nixpkgsOverlays"), f.Fix)
		}
	}
	found := false
	for _, f := range rep.Findings {
		if f.Rule == "stale-xref" && f.File == ov+"bitwarden-cli.nix" {
			found = true
		}
	}
	assert.Assert(t, found, "no stale-xref for bitwarden-cli.nix's claim about stable-fallbacks.nix")
}
