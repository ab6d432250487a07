package treetest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestChanged(t *testing.T) {
	cases := []struct {
		name string
		a, b map[string]string
		want []string
	}{
		{"same", map[string]string{"x": "1"}, map[string]string{"x": "1"}, nil},
		{"changed", map[string]string{"x": "1", "y": "1"}, map[string]string{"x": "2", "y": "1"}, []string{"x"}},
		{"added and removed, sorted", map[string]string{"b": "1"}, map[string]string{"a": "1"}, []string{"a", "b"}},
		{"empty value added", map[string]string{}, map[string]string{"x": ""}, []string{"x"}},
		{"empty value removed", map[string]string{"x": ""}, map[string]string{}, []string{"x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.DeepEqual(t, Changed(c.a, c.b), c.want)
		})
	}
}

// TestSnapshotSeesRewrites: rewriting a file with its own bytes is a
// change; reading it is not.
func TestSnapshotSeesRewrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	assert.NilError(t, os.WriteFile(p, []byte("x"), 0o600))
	before := Snapshot(t, dir)
	_, err := os.ReadFile(p)
	assert.NilError(t, err)
	assert.DeepEqual(t, Changed(before, Snapshot(t, dir)), []string(nil))
	later := time.Now().Add(time.Second)
	assert.NilError(t, os.WriteFile(p, []byte("x"), 0o600))
	assert.NilError(t, os.Chtimes(p, later, later))
	assert.DeepEqual(t, Changed(before, Snapshot(t, dir)), []string{"sub/f"})
}
