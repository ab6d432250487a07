package activate

import (
	"context"
	"os/exec"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
)

// hostScripts are every script this package runs on a host.
var hostScripts = map[string]string{"activate": activateScript, "agent": agentScript, "confirm": confirmScript, "rollback": rollbackScript, "status": statusScript, "observe": observedScript, "dry-activate": dryActivateScript}

// TestScriptsArePOSIX: every host script parses in posh and dash (strict
// POSIX shells) and uses nothing a Mac lacks (hostsh.Lint: no setsid,
// flock, readlink -f, stat, mv -T, GNU long options, /proc, bashisms).
// The lab's darwin-class hosts run them (tasks/deploy e2e).
func TestScriptsArePOSIX(t *testing.T) {
	for name, s := range hostScripts {
		script := hostsh.Prelude + s
		assert.Check(t, hostsh.Syntax(context.Background(), script), "%s script", name)
		assert.Check(t, is.Len(hostsh.Lint(script), 0), "%s script", name)
	}
}

func TestCheckRequest(t *testing.T) {
	tests := []struct {
		req Request
		err string
	}{
		{Request{Class: "nixos", Toplevel: "/nix/store/x"}, ""},
		{Request{Class: "nixos", Action: "boot", Toplevel: "/nix/store/x"}, ""},
		{Request{Class: "darwin", Action: "boot", Toplevel: "/nix/store/x"}, "darwin machines only switch"},
		{Request{Class: "nixos", Action: "reboot", Toplevel: "/nix/store/x"}, "use one of"},
		{Request{Class: "bsd", Toplevel: "/nix/store/x"}, "want nixos or darwin"},
		{Request{Class: "nixos", Toplevel: "/tmp/x"}, "not a store path"},
	}
	for _, tc := range tests {
		err := checkRequest(&tc.req)
		if tc.err == "" {
			assert.NilError(t, err)
		} else {
			assert.ErrorContains(t, err, tc.err)
		}
	}
}

func TestMarkers(t *testing.T) {
	kv := markers("switch: /nix/store/a\nVANIXIETS-STATE rolledback no confirmation within 3s\nVANIXIETS-GEN 4 5\n")
	assert.Equal(t, kv["STATE"], "rolledback no confirmation within 3s")
	assert.Equal(t, kv["GEN"], "4 5")
	assert.Equal(t, logPart("a\nVANIXIETS-X y\nb"), "a\nb")
}

func TestShScriptQuotes(t *testing.T) {
	out, err := exec.Command("sh", "-c", shScript(`printf '%s|' "$@"`, []string{"a b", "it's", ""})).Output()
	assert.NilError(t, err)
	assert.Equal(t, string(out), "a b|it's||")
}

func TestStateRuns(t *testing.T) {
	const top, old = "/nix/store/new", "/nix/store/old"
	tests := []struct {
		name string
		st   State
		runs map[string]bool // action -> already there
	}{
		{"switched", State{Toplevel: top, Profile: top}, map[string]bool{"switch": true, "test": true, "boot": true, "dry-activate": false}},
		// After `test`: running, but the profile (what boots) is old, so
		// a switch still has work to do.
		{"tested", State{Toplevel: top, Profile: old}, map[string]bool{"switch": false, "test": true, "boot": false}},
		{"booted", State{Toplevel: old, Profile: top}, map[string]bool{"switch": false, "test": false, "boot": true}},
		{"fresh", State{}, map[string]bool{"switch": false, "test": false, "boot": false}},
	}
	for _, tc := range tests {
		for action, want := range tc.runs {
			assert.Equal(t, tc.st.Runs(top, action), want, "%s, %s", tc.name, action)
		}
	}
}
