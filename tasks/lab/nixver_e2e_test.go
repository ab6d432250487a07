//go:build e2e

package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix"
)

// TestHostNixVersions brings up a lab whose hosts run different Nix
// versions (VANIXIETS_LAB_NIX per machine) and checks, over real ssh, that
// each runs its own (nix and nix-daemon), that a 2.26 host's store is its
// own directory with the 2.26 mark, and that switching a host's version
// rebuilds it around the other store, leaving the first one unopened.
func TestHostNixVersions(t *testing.T) {
	if _, err := nix.ResolveVersion(nix.Version226); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	cfg := labtest.Config(t, lab.Config{Nix: "2.8,cinnabar=2.26"})
	l, hosts := labtest.Up(t, cfg, "cinnabar", "galena")
	for _, tc := range []struct {
		host, want, store string
	}{
		{"cinnabar", "2.26", "nix-2.26"},
		{"galena", "2.8", "nix"},
	} {
		h := labtest.Host(t, hosts, tc.host)
		assert.Equal(t, h.Nix, tc.want)
		assert.Equal(t, filepath.Base(h.StoreDir), tc.store)
		out := sshRun(t, l, tc.host, "nix --version; nix-daemon --version; nix-store --version")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			assert.Assert(t, is.Contains(line, ") "+tc.want+"."), "%s: %q", tc.host, out)
		}
		// a real store operation inside the host, in the host's own store
		sshRun(t, l, tc.host, "nix-store --init && nix path-info --all >/dev/null")
		_, err := os.Stat(filepath.Join(h.StoreDir, "var/nix/db"))
		assert.NilError(t, err, "%s's database is in %s", tc.host, h.StoreDir)
		mark, err := os.ReadFile(filepath.Join(h.StoreDir, nix.Nix226StoreMark))
		if tc.want == "2.26" {
			assert.NilError(t, err)
			assert.Equal(t, strings.TrimSpace(string(mark)), "2.26")
		} else {
			assert.Assert(t, os.IsNotExist(err), "a 2.8 store carries no 2.26 mark")
		}
	}

	// galena switches to 2.26: rebuilt, on a new store; its 2.8 store is kept as it was.
	cfg.Nix = "2.26"
	l2, err := lab.Open(cfg)
	assert.NilError(t, err)
	hosts, err = l2.Up(ctx, []string{"cinnabar", "galena"})
	assert.NilError(t, err)
	g := labtest.Host(t, hosts, "galena")
	assert.Equal(t, g.Nix, "2.26")
	assert.Assert(t, is.Contains(sshRun(t, l2, "galena", "nix-daemon --version"), ") 2.26."))
	sshRun(t, l2, "galena", "nix path-info --all >/dev/null")
	_, err = os.Stat(filepath.Join(filepath.Dir(g.StoreDir), "nix", nix.Nix226StoreMark))
	assert.Assert(t, os.IsNotExist(err), "the 2.8 store was left to 2.8")
}
