package overlays

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
)

func TestRoots(t *testing.T) {
	for _, tc := range []struct {
		name string
		have []string // directories holding an overlay tree, relative to the checkout
		want []string
		err  string
	}{
		{name: "both", have: []string{".", "lab"}, want: []string{".", "lab"}},
		{name: "the repository's only", have: []string{"."}, want: []string{"."}},
		{name: "the lab's only", have: []string{"lab"}, want: []string{"lab"}},
		{name: "none", err: "no modules/nixpkgs/overlays under "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			for _, h := range tc.have {
				assert.NilError(t, os.MkdirAll(filepath.Join(repo, h, OverlaysDir), 0o755))
			}
			got, err := Roots(repo)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				assert.ErrorContains(t, err, "pass --flake-root")
				return
			}
			assert.NilError(t, err)
			var want []string
			for _, w := range tc.want {
				want = append(want, filepath.Join(repo, w))
			}
			assert.DeepEqual(t, got, want)
		})
	}
}
