package closure

import (
	"context"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// A closure the caller knows is present (the host runs it) is reported
// whole and nothing missing without a connection: the client is nil, so
// any use of it would panic.
func TestCopyPresentAsksNothing(t *testing.T) {
	infos := []nix.PathInfo{
		{Path: "/nix/store/aaaa-dep", NarSize: 100},
		{Path: "/nix/store/bbbb-system", NarSize: 250, References: []string{"/nix/store/aaaa-dep"}},
	}
	rep, err := Copy(context.Background(), nil, nil, Options{Present: true, Infos: infos}, "/nix/store/bbbb-system")
	assert.NilError(t, err)
	assert.Equal(t, rep.Closure, 2)
	assert.Equal(t, rep.ClosureBytes, int64(350))
	assert.Equal(t, len(rep.Missing), 0)
	assert.Equal(t, rep.Sent, 0)
}
