//go:build e2e

package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// The deploy suite runs on several (deployer, host) pairs of Nix versions
// (docs/nix-versions.md, CI job e2e-nix226): VANIXIETS_NIX picks the
// deployer's, VANIXIETS_LAB_NIX the lab hosts'. TestDeployNixPair proves
// that a run is the pair it claims to be, so a matrix entry whose set-up
// silently fell back to 2.8 fails instead of passing twice.
func TestDeployNixPair(t *testing.T) {
	wantDeployer := os.Getenv("VANIXIETS_NIX")
	if wantDeployer == "" || strings.Contains(wantDeployer, "/") {
		wantDeployer = nix.Version28
	}
	wantHost := os.Getenv("VANIXIETS_LAB_NIX")
	if wantHost == "" {
		wantHost = nix.Version28
	}
	if wantHost != nix.Version28 && wantHost != nix.Version226 {
		t.Skipf("VANIXIETS_LAB_NIX=%s names versions per machine; this test checks a whole-lab pair", wantHost)
	}
	t.Logf("pair: deployer Nix %s -> host Nix %s", wantDeployer, wantHost)

	n, err := nix.New()
	assert.NilError(t, err)
	v, err := n.Version(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, strings.HasPrefix(v.String(), wantDeployer+"."), "the deployer runs %s", v.Raw)

	e := newEnv(t)
	rows, err := e.deploy(nil, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
	h := e.host("alpha")
	assert.Equal(t, h.Nix, wantHost)
	var out, errb bytes.Buffer
	code, err := e.lab.SSH(context.Background(), "alpha", "nix-daemon --version", nil, &out, &errb)
	assert.NilError(t, err)
	assert.Equal(t, code, 0, errb.String())
	assert.Assert(t, is.Contains(out.String(), ") "+wantHost+"."), "the host's daemon: %s", out.String())
	// the toplevel arrived in the host's own store (the one of its version)
	_, err = os.Stat(filepath.Join(h.StoreDir, "store", filepath.Base(rows[0].Toplevel)))
	assert.NilError(t, err)
}
