package fsutil

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  string
		data string
		mode os.FileMode
	}{
		{name: "new file", data: "hello", mode: 0o644},
		{name: "replace", old: "old content", data: "new", mode: 0o600},
		{name: "empty", old: "x", data: "", mode: 0o755},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := fs.NewDir(t, "atomic")
			p := filepath.Join(dir.Path(), "sub", "f")
			if tc.old != "" {
				assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				assert.NilError(t, os.WriteFile(p, []byte(tc.old), 0o644))
			}
			assert.NilError(t, WriteFile(p, []byte(tc.data), tc.mode))
			got, err := os.ReadFile(p)
			assert.NilError(t, err)
			assert.Equal(t, string(got), tc.data)
			st, err := os.Stat(p)
			assert.NilError(t, err)
			assert.Equal(t, st.Mode().Perm(), tc.mode)
			ents, err := os.ReadDir(filepath.Dir(p))
			assert.NilError(t, err)
			assert.Equal(t, len(ents), 1, "no temporary file left behind")
		})
	}
}

func TestWriteFileMissingParentIsCreatedButUnwritableFails(t *testing.T) {
	dir := fs.NewDir(t, "atomic", fs.WithFile("blocker", "x"))
	err := WriteFile(filepath.Join(dir.Path(), "blocker", "f"), []byte("x"), 0o644)
	assert.ErrorContains(t, err, "blocker")
}
