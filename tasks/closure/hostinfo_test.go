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

// TestHostClosureCommand: the listing's host script is POSIX and uses
// nothing a Mac lacks, and its store paths reach nix as arguments, each
// whole, whatever they hold.
func TestHostClosureCommand(t *testing.T) {
	script := hostsh.Prelude + hostClosureScript
	assert.NilError(t, hostsh.Syntax(context.Background(), script))
	assert.Check(t, is.Len(hostsh.Lint(script), 0))
	cmd := hostClosureCommand("/nix/store/a b", "/nix/store/it's")
	// The same command with printf standing in for nix shows the words.
	out, err := exec.Command("sh", "-c", strings.Replace(cmd, "exec nix ", "printf %s, ", 1)).Output()
	assert.NilError(t, err)
	assert.Equal(t, string(out), "--extra-experimental-features,nix-command,path-info,--json,-r,--,/nix/store/a b,/nix/store/it's,")
}
