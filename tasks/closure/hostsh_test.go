package closure

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
)

// TestHostScriptsArePOSIX: the copy's host scripts are host scripts like
// the others (package hostsh): posh and dash parse them, and they use
// nothing a Mac lacks.
func TestHostScriptsArePOSIX(t *testing.T) {
	for name, script := range map[string]string{"closure listing": hostClosureScript, "nix-daemon": daemonScript} {
		t.Run(name, func(t *testing.T) {
			full := hostsh.Prelude + script
			assert.NilError(t, hostsh.Syntax(context.Background(), full))
			assert.Check(t, is.Len(hostsh.Lint(full), 0))
		})
	}
}

// TestDaemonCommand: the daemon's command finds nix-daemon through
// hostsh's PATH.
func TestDaemonCommand(t *testing.T) {
	assert.Equal(t, daemonCommand, hostsh.Command(daemonScript))
}

// TestHostClosureCommand: the listing's store paths reach nix as
// arguments, each whole, whatever they hold.
func TestHostClosureCommand(t *testing.T) {
	cmd := hostClosureCommand("/nix/store/a b", "/nix/store/it's")
	// The same command with printf standing in for nix shows the words.
	out, err := exec.Command("sh", "-c", strings.Replace(cmd, "exec nix ", "printf %s, ", 1)).Output()
	assert.NilError(t, err)
	assert.Equal(t, string(out), "--extra-experimental-features,nix-command,path-info,--json,-r,--,/nix/store/a b,/nix/store/it's,")
}
