// Package tasks_test holds the test that keeps the library's layers, as
// docs/architecture.md draws them, true to its imports.
package tasks_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const module = "github.com/vanixiets/vanixiets/"

// testPlaces is the layer whose packages only tests may import.
const testPlaces = "test places"

// layer is one row of the table: its rank is its row (0 first).
type layer struct {
	name string
	rank int
}

// readLayers maps each package the table names (its path in the module,
// "tools/..." for a folder such as `tools/`) to its row.
func readLayers(t *testing.T, doc string) map[string]layer {
	f, err := os.Open(doc)
	assert.NilError(t, err)
	defer f.Close()
	cell := regexp.MustCompile("`([a-z0-9_/.-]+)`")
	out := map[string]layer{}
	in, rank := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Layers"
		case in && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| layer |"):
			cols := strings.Split(line, "|")
			assert.Assert(t, len(cols) >= 4, "%s: a row wants three cells: %s", doc, line)
			name := strings.TrimSpace(cols[1])
			for _, m := range cell.FindAllStringSubmatch(cols[2], -1) {
				p := strings.TrimSuffix(m[1], "/")
				if strings.HasSuffix(m[1], "/") {
					p += "/..."
				}
				out[p] = layer{name: name, rank: rank}
			}
			rank++
		}
	}
	assert.NilError(t, sc.Err())
	assert.Assert(t, len(out) > 0, "%s: no layer table under ## Layers", doc)
	return out
}

// layerOf finds the row naming pkg (a path in the module).
func layerOf(layers map[string]layer, pkg string) (layer, bool) {
	if l, ok := layers[pkg]; ok {
		return l, true
	}
	for p, l := range layers {
		if dir, ok := strings.CutSuffix(p, "/..."); ok && (pkg == dir || strings.HasPrefix(pkg, dir+"/")) {
			return l, true
		}
	}
	return layer{}, false
}

// TestImportLayers: every package of the module is in the table, and none
// imports (outside its tests) a package of a later row, or a test place
// unless it is one.
func TestImportLayers(t *testing.T) {
	if os.Getenv("TEST_SRCDIR") != "" {
		t.Skip("runs go list in the checkout: run with go test")
	}
	root, err := filepath.Abs("..")
	assert.NilError(t, err)
	layers := readLayers(t, filepath.Join(root, "docs", "architecture.md"))

	cmd := exec.Command("go", "list", "-tags", "mage", "-json=ImportPath,Imports", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %v: %s", err, ee.Stderr)
	}
	assert.NilError(t, err)

	tests := []struct{ pkg, imp string }{} // every module-internal import, one case each
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var unnamed []string
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			assert.NilError(t, err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, module)
		if pkg == "tasks" {
			continue // this test's own package has no files but tests
		}
		if _, ok := layerOf(layers, pkg); !ok {
			unnamed = append(unnamed, pkg)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				tests = append(tests, struct{ pkg, imp string }{pkg, strings.TrimPrefix(imp, module)})
			}
		}
	}
	assert.Check(t, is.Len(unnamed, 0), "packages docs/architecture.md's layer table does not name: %v", unnamed)
	assert.Assert(t, len(tests) > 20, "too few imports read: %d", len(tests))
	for _, tc := range tests {
		from, ok1 := layerOf(layers, tc.pkg)
		to, ok2 := layerOf(layers, tc.imp)
		if !ok1 || !ok2 {
			continue // reported above
		}
		assert.Check(t, to.rank <= from.rank, "%s (%s) imports %s (%s): an import up a layer", tc.pkg, from.name, tc.imp, to.name)
		assert.Check(t, to.name != testPlaces || from.name == testPlaces, "%s (%s) imports the test place %s: only tests may", tc.pkg, from.name, tc.imp)
	}
}

// The rule can fail: a table read from a small document ranks its rows
// and finds folders.
func TestReadLayers(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "a.md")
	assert.NilError(t, os.WriteFile(doc, []byte("# x\n\n## Layers\n\n| layer | packages | job |\n|---|---|---|\n| low | `tasks/a`, `tasks/b` | x |\n| high | `tasks/c`, `tools/` | y |\n\n## Other\n\n| layer | `tasks/z` | z |\n"), 0o644))
	layers := readLayers(t, doc)
	tests := []struct {
		pkg  string
		want string
		rank int
		ok   bool
	}{
		{"tasks/a", "low", 0, true},
		{"tasks/c", "high", 1, true},
		{"tools/fleetlab", "high", 1, true},
		{"tasks/z", "", 0, false},
		{"tasks/ab", "", 0, false},
	}
	for _, tc := range tests {
		l, ok := layerOf(layers, tc.pkg)
		assert.Check(t, is.Equal(ok, tc.ok), tc.pkg)
		assert.Check(t, is.Equal(l.name, tc.want), tc.pkg)
		assert.Check(t, is.Equal(l.rank, tc.rank), tc.pkg)
	}
}
