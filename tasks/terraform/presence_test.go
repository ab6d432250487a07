package terraform

import (
	"errors"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// fleetMachines is the fleet {alpha, beta} (Hetzner, enabled as named)
// plus gamma, which has no cloud block.
func fleetMachines(enabled ...string) []*fleet.Machine {
	on := map[string]bool{}
	for _, m := range enabled {
		on[m] = true
	}
	return []*fleet.Machine{
		{Name: "alpha", Cloud: &fleet.Cloud{Provider: "hetzner", Enabled: on["alpha"]}},
		{Name: "beta", Cloud: &fleet.Cloud{Provider: "hetzner", Enabled: on["beta"]}},
		{Name: "gamma"},
	}
}

func TestPresence(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resources []string
		machines  []*fleet.Machine
		want      map[string]string
		err       string
	}{
		{name: "empty state", machines: fleetMachines("alpha"), want: map[string]string{"alpha": Missing, "beta": Disabled}},
		{name: "applied", resources: []string{"hcloud_server.alpha", "hcloud_ssh_key.admin"}, machines: fleetMachines("alpha"),
			want: map[string]string{"alpha": Exists, "beta": Disabled}},
		{name: "turned off, not yet destroyed", resources: []string{"hcloud_server.alpha"}, machines: fleetMachines(),
			want: map[string]string{"alpha": ExistsDisabled, "beta": Disabled}},
		{name: "another type of the same name is no server", resources: []string{"hcloud_ssh_key.alpha"}, machines: fleetMachines("alpha"),
			want: map[string]string{"alpha": Missing, "beta": Disabled}},
		{name: "gcp", resources: []string{"google_compute_instance.stibnite"},
			machines: []*fleet.Machine{{Name: "stibnite", Cloud: &fleet.Cloud{Provider: "gcp", Enabled: true}}, {Name: "galena", Cloud: &fleet.Cloud{Provider: "gcp", Enabled: true}}},
			want:     map[string]string{"stibnite": Exists, "galena": Missing}},
		{name: "unknown provider", machines: []*fleet.Machine{{Name: "x", Cloud: &fleet.Cloud{Provider: "aws", Enabled: true}}},
			err: `machine x: cloud provider "aws" has no server resource type (known: gcp, hetzner)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := presence(tc.resources, tc.machines)
			if tc.err != "" {
				assert.Error(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

// TestPresenceReadsTheState reads testdata/apply-alpha.tfstate, a state
// real terraform wrote (TestPresenceOfARealState -update), encrypted as the
// suite keeps it; a missing file, a wrong key and a file that is no state
// are said so.
func TestPresenceReadsTheState(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	dir := t.TempDir()
	v := Vault{Identities: []age.Identity{id}, Recipients: []age.Recipient{id.Recipient()}}
	state := filepath.Join(dir, "terraform.tfstate.age")
	assert.NilError(t, v.Write(state, golden.Get(t, "apply-alpha.tfstate")))
	w := &Workspace{StateFile: state, Vault: v}
	got, err := w.Presence(fleetMachines("alpha", "beta"))
	assert.NilError(t, err)
	assert.DeepEqual(t, got, map[string]string{"alpha": Exists, "beta": Missing})

	_, err = (&Workspace{StateFile: filepath.Join(dir, "none.age"), Vault: v}).Presence(fleetMachines("alpha"))
	var ns *NoStateError
	assert.Assert(t, errors.As(err, &ns), "got %v", err)
	assert.Error(t, err, "no terraform state at "+filepath.Join(dir, "none.age"))

	other, _ := age.GenerateX25519Identity()
	_, err = (&Workspace{StateFile: state, Vault: Vault{Identities: []age.Identity{other}}}).Presence(fleetMachines("alpha"))
	assert.Assert(t, errors.Is(err, ErrNoIdentity), "got %v", err)

	bad := filepath.Join(dir, "bad.age")
	assert.NilError(t, v.Write(bad, []byte(`{"version": 3}`)))
	_, err = (&Workspace{StateFile: bad, Vault: v}).Presence(fleetMachines("alpha"))
	assert.ErrorContains(t, err, bad+": terraform state version 3, want 4")
}
