package overlays

import (
	"fmt"
	"os"
	"path/filepath"
)

// Roots are the flakes of the checkout at repo that hold an overlay tree
// (OverlaysDir): the repository's own flake and its lab/, in that order.
// It is an error when neither does, naming what to pass instead.
func Roots(repo string) ([]string, error) {
	var roots []string
	for _, r := range []string{repo, filepath.Join(repo, "lab")} {
		if st, err := os.Stat(filepath.Join(r, OverlaysDir)); err == nil && st.IsDir() {
			roots = append(roots, r)
		}
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("no %s under %s or its lab/: pass --flake-root", OverlaysDir, repo)
	}
	return roots, nil
}
