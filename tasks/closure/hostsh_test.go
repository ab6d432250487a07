package closure

import (
	"context"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
)

// TestDaemonCommandIsPOSIX: the copy's one host command is a host script
// like the others (package hostsh): posh and dash parse it, it uses
// nothing a Mac lacks, and it finds nix-daemon through hostsh's PATH.
func TestDaemonCommandIsPOSIX(t *testing.T) {
	script := hostsh.Prelude + daemonScript
	assert.NilError(t, hostsh.Syntax(context.Background(), script))
	assert.Check(t, is.Len(hostsh.Lint(script), 0))
	assert.Equal(t, daemonCommand, hostsh.Command(daemonScript))
}
