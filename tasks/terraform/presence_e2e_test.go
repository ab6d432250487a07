//go:build e2e

package terraform

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"

	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

// TestPresenceOfARealState: the state real terraform writes (hcloud
// provider, fake API) answers fleet:status's column: no state file before
// the first apply; alpha applied exists, beta off is disabled, beta turned
// on is missing until applied, alpha turned off still exists. Reading
// changes nothing in the state file. With -update it writes the decrypted
// state of "alpha applied" as testdata/apply-alpha.tfstate (without the
// providers' source addresses), the fixture of the unit test.
func TestPresenceOfARealState(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	_, err := e.w.Presence(fleetMachines("alpha"))
	var ns *NoStateError
	assert.Assert(t, errors.As(err, &ns), "got %v", err)
	assert.Equal(t, ns.Path, e.w.StateFile)

	e.planApply(t, "alpha")
	before, err := os.ReadFile(e.w.StateFile)
	assert.NilError(t, err)
	for _, tc := range []struct {
		name    string
		enabled []string
		want    map[string]string
	}{
		{"as applied", []string{"alpha"}, map[string]string{"alpha": Exists, "beta": Disabled}},
		{"beta turned on", []string{"alpha", "beta"}, map[string]string{"alpha": Exists, "beta": Missing}},
		{"alpha turned off", nil, map[string]string{"alpha": ExistsDisabled, "beta": Disabled}},
	} {
		got, err := e.w.Presence(fleetMachines(tc.enabled...))
		assert.NilError(t, err, tc.name)
		assert.DeepEqual(t, got, tc.want)
	}
	after, err := os.ReadFile(e.w.StateFile)
	assert.NilError(t, err)
	assert.Equal(t, string(after), string(before), "state untouched")
	if golden.FlagUpdate() {
		pt, err := e.w.Vault.Read(e.w.StateFile)
		assert.NilError(t, err)
		// Each resource's provider source address is dropped: this package
		// reads type, mode and name, and the fixture names no host.
		var st map[string]any
		assert.NilError(t, json.Unmarshal(pt, &st))
		for _, r := range st["resources"].([]any) {
			delete(r.(map[string]any), "provider")
		}
		pt, err = json.MarshalIndent(st, "", "  ")
		assert.NilError(t, err)
		assert.NilError(t, os.WriteFile(filepath.Join("testdata", "apply-alpha.tfstate"), append(pt, '\n'), 0o644))
	}

	e.planApply(t, "alpha", "beta")
	got, err := e.w.Presence(fleetMachines("alpha", "beta"))
	assert.NilError(t, err)
	assert.DeepEqual(t, got, map[string]string{"alpha": Exists, "beta": Exists})
}
