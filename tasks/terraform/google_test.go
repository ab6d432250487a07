package terraform

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestGoogleHint: terraform's "does not support resource type" about the
// google provider gets the rebuild hint only when the mirror's stamp says
// the provider was built with a subset of services.
func TestGoogleHint(t *testing.T) {
	const unknown = `Invalid resource type: The provider hashicorp/google does not support
resource type "google_storage_bucket".`
	cases := []struct {
		name, stamp, msg, want string // want: "" for no hint, else a part of it
	}{
		{"trimmed build", "github.com/hashicorp/terraform-provider-google@v1 services: compute", unknown, `GOOGLE_SERVICES="compute <service>" bash scripts/install-google-provider.sh`},
		{"two services", "m@v services: compute dns", unknown, `registers only the services "compute dns"`},
		{"stamp of a full build", "github.com/hashicorp/terraform-provider-google@v1", unknown, ""},
		{"no stamp", "", unknown, ""},
		{"other provider", "m@v services: compute", `The provider hetznercloud/hcloud does not support resource type "hcloud_x".`, ""},
		{"other error", "m@v services: compute", "Error: Invalid value for zone", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tools := t.TempDir()
			mirror := filepath.Join(tools, "terraform-mirror")
			rc := filepath.Join(tools, "terraform.rc")
			assert.NilError(t, os.WriteFile(rc, []byte("provider_installation {\n  filesystem_mirror {\n    path = \""+mirror+"\"\n    include = [\"hashicorp/google\"]\n  }\n}\n"), 0o644))
			if c.stamp != "" {
				assert.NilError(t, os.WriteFile(filepath.Join(tools, googleStamp), []byte(c.stamp), 0o644))
			}
			got := (&Workspace{CLIConfig: rc}).googleHint(c.msg)
			if c.want == "" {
				assert.Equal(t, got, "")
				return
			}
			assert.Assert(t, is.Contains(got, c.want))
		})
	}
}
