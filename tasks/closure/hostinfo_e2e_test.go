//go:build e2e

package closure

import (
	"context"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/remote/sshdtest"
)

// TestHostClosure: the host's own Nix lists a closure over SSH (a real
// sshd; the host's store is this machine's), path for path and size for
// size what the local listing says; a path the host lacks is an error
// naming it and the host.
func TestHostClosure(t *testing.T) {
	n, paths := testClosure(t)
	ctx := context.Background()
	s := sshdtest.Start(t, map[string]string{"shell": ""})
	c := dial(t, s, "shell")
	got, err := HostClosure(ctx, c, paths["top"])
	assert.NilError(t, err)
	want, err := n.Closure(ctx, paths["top"])
	assert.NilError(t, err)
	assert.Assert(t, is.Len(got, 3))
	for i := range want {
		assert.Equal(t, got[i].Path, want[i].Path)
		assert.Equal(t, got[i].NarSize, want[i].NarSize)
		assert.Assert(t, got[i].NarSize > 0)
		assert.DeepEqual(t, got[i].References, want[i].References)
	}

	missing := "/nix/store/00000000000000000000000000000000-vx-closure-missing"
	_, err = HostClosure(ctx, c, missing)
	assert.ErrorContains(t, err, "list the closure of "+missing+" on ")
}
