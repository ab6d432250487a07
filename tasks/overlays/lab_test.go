package overlays

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"gotest.tools/v3/assert"
)

// TestLabOverlayComposes evaluates the lab's overlay tree for real (input
// free, lab/modules/nixpkgs/_eval.nix): the layers compose in order, the
// darwin-only stable fallback applies on darwin only, the override and the
// external overlay apply everywhere, and the custom package is merged last.
func TestLabOverlayComposes(t *testing.T) {
	needNix(t)
	type out struct {
		Order  []string `json:"order"`
		Greet  string   `json:"greet"`
		Clock  bool     `json:"clock"`
		Banner string   `json:"banner"`
		Motd   string   `json:"motd"`
	}
	for sys, greet := range map[string]string{"x86_64-linux": "2.0", "aarch64-darwin": "1.0"} {
		expr := `let p = import ../../lab/modules/nixpkgs/_eval.nix { system = "` + sys + `"; }; in
		  { order = p.order; greet = p.pkgs.greet.version; clock = p.pkgs.clock.doCheck or true;
		    banner = p.pkgs.lab-banner.version; motd = p.pkgs.lab-motd.version; }`
		cmd := exec.Command("nix-instantiate", "--eval", "--strict", "--json", "-E", expr)
		cmd.Env = nix.Environ()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		assert.NilError(t, err, stderr.String())
		var o out
		assert.NilError(t, json.Unmarshal(b, &o))
		assert.DeepEqual(t, o, out{
			Order: []string{"channels.nix", "stable-fallbacks.nix", "overrides.nix", "lab-tools.nix"},
			Greet: greet, Clock: false, Banner: "0.3", Motd: "1.0",
		})
	}
}
