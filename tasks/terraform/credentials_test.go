package terraform

import (
	"cmp"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/sops"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// putSecret writes a clan named secret: sops/secrets/<name>/secret, a sops
// binary file encrypted to id.
func putSecret(t *testing.T, flake, name, value string, id *age.X25519Identity) {
	t.Helper()
	ct, err := sops.Encrypt(sops.Binary, []byte(value), []string{id.Recipient().String()})
	assert.NilError(t, err)
	p := secretPath(flake, name)
	assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	assert.NilError(t, os.WriteFile(p, ct, 0o644))
}

func TestCloudCredential(t *testing.T) {
	admin, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	stranger, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	cases := []struct {
		name   string
		env    string // HCLOUD_TOKEN in the environment
		secret *string
		as     string // the secret's name (default hcloud-token)
		also   string // another name holding "other-token"
		ids    []age.Identity
		want   string
		err    string
	}{
		{name: "under the user's tree's name", secret: ptr(testToken), as: "hetzner-api-token", ids: []age.Identity{admin}, want: testToken},
		{name: "both names: the suite's first", secret: ptr(testToken), also: "hetzner-api-token", ids: []age.Identity{admin}, want: testToken},
		{name: "from the flake's sops secret, newline trimmed", secret: ptr(testToken + "\n"), ids: []age.Identity{admin}, want: testToken},
		{name: "the environment wins", env: "from-env", secret: ptr(testToken), ids: []age.Identity{admin}, want: "from-env"},
		{name: "neither: empty, no error", ids: []age.Identity{admin}, want: ""},
		{name: "not an admin", secret: ptr(testToken), ids: []age.Identity{stranger},
			err: "sops/secrets/hcloud-token/secret (for HCLOUD_TOKEN) cannot be decrypted with your age identities"},
		{name: "empty secret", secret: ptr("\n"), ids: []age.Identity{admin}, err: "is empty: set it again (clan secrets set hcloud-token)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HCLOUD_TOKEN", tc.env)
			flake := t.TempDir()
			if tc.secret != nil {
				putSecret(t, flake, cmp.Or(tc.as, "hcloud-token"), *tc.secret, admin)
			}
			if tc.also != "" {
				putSecret(t, flake, tc.also, "other-token", admin)
			}
			got, err := CloudCredential(flake, "HCLOUD_TOKEN", tc.ids)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				assert.ErrorContains(t, err, "or set HCLOUD_TOKEN")
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

func ptr(s string) *string { return &s }

// googleRendering is a rendering with galena's instance (google only).
func googleRendering(t *testing.T, id *age.X25519Identity) *terranix.Rendering {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"terraform": map[string]any{"required_providers": map[string]any{"google": map[string]any{"source": "hashicorp/google"}}},
		"provider":  map[string]any{"google": map[string]any{"project": "p", "region": "us-central1"}},
		"resource": map[string]any{"google_compute_instance": map[string]any{"galena": map[string]any{
			"name": "galena", "machine_type": "e2-standard-4", "zone": "us-central1-b"}}},
		"output": map[string]any{"galena_ipv4": map[string]any{"value": "${google_compute_instance.galena.network_interface[0].access_config[0].nat_ip}"}},
	})
	assert.NilError(t, err)
	c, err := terranix.Parse(b)
	assert.NilError(t, err)
	r, err := terranix.NewRendering(c, []terranix.Machine{{Name: "galena", Provider: "gcp", Enabled: true}}, []string{id.Recipient().String()})
	assert.NilError(t, err)
	return r
}

// TestOpenTakesCloudSecretsInMemory: with the tokens kept as the flake's
// sops secrets, a session hands them to terraform through its environment;
// GCP credentials in the flake mean the user's own API (the fake is not
// started); no file anywhere holds a plaintext token.
func TestOpenTakesCloudSecretsInMemory(t *testing.T) {
	if _, err := os.Stat(filepath.Join(paths.Tools(), "terraform.rc")); err != nil {
		t.Skip("terraform tools not installed: run scripts/install-terraform.sh")
	}
	const gcpKey = `{"type": "service_account", "project_id": "p", "private_key": "-----BEGIN PRIVATE KEY-----\nsecret-gcp-material\n-----END PRIVATE KEY-----\n"}`
	cases := []struct {
		name     string
		secrets  map[string]string
		endpoint string // HCLOUD_ENDPOINT
		wantEnv  map[string]string
		wantFake bool
		err      string
	}{
		{name: "both secrets", secrets: map[string]string{"hcloud-token": testToken, "gcp-credentials": gcpKey},
			endpoint: "http://127.0.0.1:9/v1", wantEnv: map[string]string{"HCLOUD_TOKEN": testToken, "GOOGLE_CREDENTIALS": gcpKey}},
		{name: "no gcp credentials: the fake serves", wantFake: true},
		{name: "hcloud endpoint without a token", endpoint: "http://127.0.0.1:9/v1",
			err: "HCLOUD_ENDPOINT is set but there is no 64-character Hetzner API token: set HCLOUD_TOKEN or keep it as the sops secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range append([]string{"HCLOUD_TOKEN", "HCLOUD_ENDPOINT"}, GoogleCredentialVars...) {
				t.Setenv(k, "")
			}
			t.Setenv("HCLOUD_ENDPOINT", tc.endpoint)
			tools := paths.Tools()
			t.Setenv("VANIXIETS_HOME", t.TempDir()) // the work directory, not the tools
			t.Setenv("VANIXIETS_TOOLS", tools)
			id, err := age.GenerateX25519Identity()
			assert.NilError(t, err)
			dir := t.TempDir()
			flake := filepath.Join(dir, "flake")
			for name, v := range tc.secrets {
				putSecret(t, flake, name, v, id)
			}
			served := false
			o := Options{Flake: flake, StateFile: filepath.Join(dir, "state", "s.age"), IdentityFiles: []string{writeIdentity(t, dir, id)},
				Out: &strings.Builder{},
				ServeGCP: func(context.Context, string) (string, string, func(), error) {
					served = true
					return "http://127.0.0.1:9/compute/v1/", "fake-token", func() {}, nil
				}}
			s, err := OpenRendering(context.Background(), o, googleRendering(t, id))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			defer s.Close()
			t.Cleanup(func() { os.RemoveAll(s.Workspace.runs) })
			assert.Equal(t, served, tc.wantFake)
			for k, v := range tc.wantEnv {
				assert.Equal(t, s.Workspace.Env[k], v, k)
			}
			if tc.wantFake {
				assert.Equal(t, s.Workspace.Env["GOOGLE_OAUTH_ACCESS_TOKEN"], "fake-token")
			}
			// No plaintext on disk: not in the flake, the state's place or
			// the work directory.
			for _, root := range []string{dir, s.Workspace.WorkDir} {
				filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return nil
					}
					b, _ := os.ReadFile(p)
					assert.Assert(t, !strings.Contains(string(b), testToken) && !strings.Contains(string(b), "secret-gcp-material"), "plaintext in %s", p)
					return nil
				})
			}
		})
	}
}
