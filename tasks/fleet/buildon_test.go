package fleet

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
)

// TestShapeRendersBuildOn: modules/_fleet/shape.nix (the contract's one
// renderer) passes a machine's deploy.buildOn through, leaves it out when
// the machine declares none (built on the deployer), and the Go side reads
// both.
func TestShapeRendersBuildOn(t *testing.T) {
	n := nixtest.New(t)
	shape, err := filepath.Abs("../../modules/_fleet/shape.nix")
	assert.NilError(t, err)
	expr := `(import ` + shape + ` { data = {
	  machines = {
	    mac = { machineClass = "darwin"; system = "aarch64-darwin"; deploy = { targetHost = "root@mac"; buildOn = "target"; }; };
	    srv = { machineClass = "nixos"; system = "x86_64-linux"; deploy.targetHost = "root@srv"; };
	    bare = { machineClass = "nixos"; system = "x86_64-linux"; };
	  };
	  instances = { }; users = { }; generators = { common = { }; };
	}; }).machines`
	cmd := exec.Command(n.Bin, "eval", "--impure", "--json", "--expr", expr) // --impure: the expression imports a file by its path
	cmd.Env = n.Env()
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, "%s", out)
	var ms map[string]*Machine
	assert.NilError(t, json.Unmarshal(out, &ms))
	assert.Equal(t, ms["mac"].Deploy.BuildOn, BuildTarget)
	assert.Assert(t, ms["mac"].BuildsOnTarget())
	for _, m := range []string{"srv", "bare"} {
		assert.Equal(t, ms[m].Deploy.BuildOn, "", m)
		assert.Assert(t, !ms[m].BuildsOnTarget(), m)
	}
}
