package lab

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// testPlaces are the packages that stand in for the world in tests: the
// lab, the fake clouds and their test helpers.
var testPlaces = []string{
	"github.com/vanixiets/vanixiets/tasks/lab",
	"github.com/vanixiets/vanixiets/tasks/fakehcloud",
	"github.com/vanixiets/vanixiets/tasks/fakegcp",
}

// frontDoors may plug the test places in: the command-line tools (the
// magefiles carry the mage build tag, so `go list ./...` never lists them).
var frontDoors = []string{"github.com/vanixiets/vanixiets/tools/"}

func isUnder(pkg string, roots []string) bool {
	for _, r := range roots {
		if pkg == r || strings.HasPrefix(pkg, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// TestProductionImportsNoTestPlace reads the module's dependency graph
// (go list -deps, tests excluded) and fails when a production package
// reaches a test place, directly or through another package: the lab and
// the fake cloud plug in from the front doors through hooks (deploy's
// Options.Lab, terraform's Options.ServeAPI), never by import.
func TestProductionImportsNoTestPlace(t *testing.T) {
	if os.Getenv("TEST_SRCDIR") != "" {
		// Bazel's sandbox holds no module source to list; the CI job that
		// runs `go test ./...` checks the graph.
		t.Skip("needs the module's source tree and the go tool: run with go test")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/vanixiets/vanixiets/...").CombinedOutput()
	assert.NilError(t, err, string(out))
	var checked int
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		if isUnder(pkg, testPlaces) || isUnder(pkg, frontDoors) {
			continue
		}
		checked++
		for _, dep := range fields[1:] {
			if isUnder(dep, testPlaces) {
				bad = append(bad, pkg+" -> "+dep)
			}
		}
	}
	assert.Assert(t, checked > 10, "go list listed only %d production packages:\n%s", checked, out)
	assert.Assert(t, len(bad) == 0, "production packages reach a test place (plug it in from a front door instead):\n%s", strings.Join(bad, "\n"))
}

// The check itself: a path is a test place exactly when it is one or
// lies below one.
func TestIsUnder(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want bool
	}{
		{"github.com/vanixiets/vanixiets/tasks/lab", true},
		{"github.com/vanixiets/vanixiets/tasks/lab/labtest", true},
		{"github.com/vanixiets/vanixiets/tasks/fakehcloud", true},
		{"github.com/vanixiets/vanixiets/tasks/fakegcp", true},
		{"github.com/vanixiets/vanixiets/tasks/labels", false},
		{"github.com/vanixiets/vanixiets/tasks/deploy", false},
	} {
		assert.Equal(t, isUnder(tc.pkg, testPlaces), tc.want, tc.pkg)
	}
}
