package overlays

import (
	"os"
	"testing"

	"gotest.tools/v3/assert"
)

// realRoot is a checkout of the user's repository, named by
// VANIXIETS_REAL_OVERLAYS; tests against it are skipped without one (CI
// runs the same mutations against testdata/real-good).
func realRoot(t *testing.T) string {
	t.Helper()
	root := os.Getenv("VANIXIETS_REAL_OVERLAYS")
	if root == "" {
		t.Skip("VANIXIETS_REAL_OVERLAYS does not name a checkout of the user's repository")
	}
	_, err := os.Stat(root)
	assert.NilError(t, err, "VANIXIETS_REAL_OVERLAYS")
	return root
}

// TestRealTree prints the report on the real checkout (go test -v).
func TestRealTree(t *testing.T) {
	needNix(t)
	root := realRoot(t)
	rep := run(t, root)
	t.Log("\n" + table(t, rep))
}
