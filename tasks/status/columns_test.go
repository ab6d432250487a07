package status

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// realState is a state real terraform wrote (tasks/terraform's
// TestPresenceOfARealState -update): hcloud_server.alpha and its ssh key.
const realState = "../terraform/testdata/apply-alpha.tfstate"

// TestReadTerraform: the cloud rows' column from a real state, encrypted
// as the suite keeps it: alpha's server exists, beta is off and absent,
// gamma is no cloud machine; a flake without a state file says so in the
// column, and a state no identity here opens is unknown, with the reason.
func TestReadTerraform(t *testing.T) {
	pt, err := os.ReadFile(realState)
	assert.NilError(t, err)
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	v := terraform.Vault{Identities: []age.Identity{id}, Recipients: []age.Recipient{id.Recipient()}}
	dir := t.TempDir()
	file := filepath.Join(dir, "terraform.tfstate.age")
	assert.NilError(t, v.Write(file, pt))
	machines := []*fleet.Machine{
		{Name: "alpha", Cloud: &fleet.Cloud{Provider: "hetzner", Enabled: true}},
		{Name: "beta", Cloud: &fleet.Cloud{Provider: "hetzner"}},
		{Name: "gamma"},
	}
	newRows := func() []Row {
		return []Row{{Machine: "alpha", Cloud: "enabled"}, {Machine: "beta", Cloud: "disabled"}, {Machine: "gamma"}}
	}
	other, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name  string
		state *terraform.Workspace
		want  []string // terraform column of alpha, beta, gamma
		err   string
	}{
		{"not read", nil, []string{"", "", ""}, ""},
		{"a real state", &terraform.Workspace{StateFile: file, Vault: v}, []string{terraform.Exists, terraform.Disabled, ""}, ""},
		{"no state file", &terraform.Workspace{StateFile: filepath.Join(dir, "none.age"), Vault: v}, []string{NoStateFile, NoStateFile, ""}, ""},
		{"a key that does not open it", &terraform.Workspace{StateFile: file, Vault: terraform.Vault{Identities: []age.Identity{other}}},
			[]string{Unknown, Unknown, ""}, "no age identity opens it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := newRows()
			readTerraform(tc.state, machines, rows)
			for i, r := range rows {
				assert.Equal(t, r.Terraform, tc.want[i], r.Machine)
				if tc.err != "" && r.Cloud != "" {
					assert.Assert(t, is.Contains(r.TerraformError, tc.err))
				}
			}
			if tc.err != "" {
				out := Table(rows)
				assert.Equal(t, strings.Count(out, "terraform state unknown: "), 1, out)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	const top = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-alpha"
	rows := []Row{
		{Machine: "alpha", State: UpToDate, Running: top, Want: top, Secrets: SecretsCurrent, CurrentSecrets: 5},
		{Machine: "beta", State: Behind, Running: top, Want: top + "x", Secrets: SecretsPending,
			PendingSecrets: []string{"zerotier/zerotier-identity-secret"}, StaleSecrets: []string{"old/c"}, Cloud: "enabled", Terraform: terraform.Exists},
		{Machine: "cinnabar", State: Never, Want: top, Cloud: "enabled", Terraform: terraform.Missing, Secrets: SecretsNone},
		{Machine: "galena", State: Unknown, Unreachable: true, Error: "galena (root@galena) did not answer within 2s", Cloud: "disabled", Terraform: NoStateFile},
		{Machine: "stibnite", State: UpToDate, Running: top, Want: top, Secrets: SecretsUnknown, SecretsError: "vars: no identity", Cloud: "enabled"},
	}
	for _, tc := range []struct {
		row            int
		secrets, cloud string
	}{
		{0, "current (5)", "-"},
		{1, "1 pending, 1 stale", terraform.Exists},
		{2, SecretsNone, terraform.Missing},
		{3, "-", NoStateFile},
		{4, SecretsUnknown, "enabled"},
	} {
		assert.Equal(t, secretsCell(rows[tc.row]), tc.secrets, rows[tc.row].Machine)
		assert.Equal(t, cloudCell(rows[tc.row]), tc.cloud, rows[tc.row].Machine)
	}
	out := Table(rows)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Assert(t, strings.HasPrefix(lines[0], "MACHINE"), out)
	assert.Assert(t, is.Contains(lines[0], "SECRETS"), out)
	assert.Assert(t, is.Contains(lines[6], ", 1 with secrets to deploy"), out)
	assert.DeepEqual(t, lines[7:], []string{
		"beta: secrets a deploy would send: zerotier/zerotier-identity-secret",
		"beta: secrets a deploy would remove: old/c",
		"stibnite: secrets unknown: vars: no identity",
	})
}
