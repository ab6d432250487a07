package labtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
)

// labFlakeParts are what the repository's lab flake reads besides itself:
// its nix files, keys, vars, sops and user secrets, and the fleet data and
// terranix shapes it imports from modules/.
var labFlakeParts = []string{"lab/flake.nix", "lab/nix", "lab/keys", "lab/vars", "lab/sops", "lab/secrets", "modules/_fleet", "modules/terranix"}

// CopyLabFlake copies the repository's lab flake, with everything it
// reads, into a fresh git repository under t.TempDir() (nix reads a git
// flake's tracked files; later edits to them need no commit) and returns
// the copy's lab directory: a test may change its systems (the sw
// package's swVersion in nix/system.nix), its vars or its terraform state
// without touching the repository's.
func CopyLabFlake(tb testing.TB) string {
	tb.Helper()
	repo := Repo()
	root := tb.TempDir()
	for _, p := range labFlakeParts {
		dst := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			tb.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(repo, p), dst).CombinedOutput(); err != nil {
			tb.Fatalf("labtest: copy the lab flake's %s: %v: %s", p, err, out)
		}
	}
	treetest.GitAdd(tb, root)
	return filepath.Join(root, "lab")
}
