package terraform

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// hetznerConfig renders terraform JSON for the given enabled Hetzner
// machines, in the lab flake's shape (one ssh key, one server per machine,
// an <m>_ipv4 output each).
func hetznerConfig(t testing.TB, enabled ...string) *terranix.Config {
	t.Helper()
	servers := map[string]any{}
	outputs := map[string]any{}
	for _, m := range enabled {
		servers[m] = map[string]any{"name": m, "server_type": "cx22", "location": "nbg1", "image": "ubuntu-24.04",
			"ssh_keys": []string{"${hcloud_ssh_key.admin.id}"}, "labels": map[string]string{"machine": m}}
		outputs[m+"_ipv4"] = map[string]any{"value": "${hcloud_server." + m + ".ipv4_address}"}
	}
	cfg := map[string]any{
		"terraform": map[string]any{"required_providers": map[string]any{"hcloud": map[string]any{"source": "hetznercloud/hcloud"}}},
		"provider":  map[string]any{"hcloud": map[string]any{}},
		"resource": map[string]any{
			"hcloud_ssh_key": map[string]any{"admin": map[string]any{"name": "admin",
				"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAn+FX6WyhzfXL9qWj3nH+VWE53dy8meOVpQa3wLhCFY test"}},
		},
		"output": outputs,
	}
	if len(servers) > 0 {
		cfg["resource"].(map[string]any)["hcloud_server"] = servers
	}
	b, err := json.Marshal(cfg)
	assert.NilError(t, err)
	c, err := terranix.Parse(b)
	assert.NilError(t, err)
	return c
}

// rendering validates a config for the fleet {alpha, beta} (both Hetzner).
func rendering(t testing.TB, id *age.X25519Identity, enabled ...string) *terranix.Rendering {
	t.Helper()
	on := map[string]bool{}
	for _, m := range enabled {
		on[m] = true
	}
	machines := []terranix.Machine{{Name: "alpha", Provider: "hetzner", Enabled: on["alpha"]}, {Name: "beta", Provider: "hetzner", Enabled: on["beta"]}}
	r, err := terranix.NewRendering(hetznerConfig(t, enabled...), machines, []string{id.Recipient().String()})
	assert.NilError(t, err)
	return r
}

func writeIdentity(t testing.TB, dir string, id *age.X25519Identity) string {
	p := filepath.Join(dir, "key.txt")
	assert.NilError(t, os.WriteFile(p, []byte(id.String()+"\n"), 0o600))
	return p
}
