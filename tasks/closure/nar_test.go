package closure

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
)

// TestDumpNARMatchesNix compares DumpNAR byte for byte with nix-store --dump.
func TestDumpNARMatchesNix(t *testing.T) {
	if _, err := exec.LookPath("nix-store"); err != nil {
		t.Skip("nix-store not installed (scripts/install-nix.sh)")
	}
	dir := fs.NewDir(t, "nar",
		fs.WithFile("plain", "hello\n"),
		fs.WithFile("empty", ""),
		fs.WithFile("seven", "1234567"),
		fs.WithFile("exec", "#!/bin/sh\necho hi\n", fs.WithMode(0o755)),
		fs.WithSymlink("link", "plain"),
		fs.WithSymlink("dangling", "/nonexistent/target"),
		fs.WithDir("sub", fs.WithFile("b", "b"), fs.WithFile("a", "a"), fs.WithDir("emptydir")),
	)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16+3)
	assert.NilError(t, os.WriteFile(filepath.Join(dir.Path(), "big"), big, 0o644))
	tests := []struct{ name, path string }{
		{"tree", dir.Path()},
		{"file", filepath.Join(dir.Path(), "plain")},
		{"executable", filepath.Join(dir.Path(), "exec")},
		{"symlink", filepath.Join(dir.Path(), "link")},
		{"empty dir", filepath.Join(dir.Path(), "sub", "emptydir")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := exec.Command("nix-store", "--dump", tc.path).Output()
			assert.NilError(t, err)
			var got bytes.Buffer
			n, err := DumpNAR(&got, tc.path)
			assert.NilError(t, err)
			assert.Equal(t, n, int64(got.Len()))
			assert.Assert(t, bytes.Equal(got.Bytes(), want), "NAR of %s differs from nix-store --dump (%d vs %d bytes)", tc.path, got.Len(), len(want))
		})
	}
	_, err := DumpNAR(&bytes.Buffer{}, filepath.Join(dir.Path(), "missing"))
	assert.ErrorContains(t, err, "no such file")
}

func TestTopoSort(t *testing.T) {
	infos := []nix.PathInfo{
		{Path: "/nix/store/a-top", References: []string{"/nix/store/b-mid", "/nix/store/c-leaf", "/nix/store/a-top"}},
		{Path: "/nix/store/b-mid", References: []string{"/nix/store/c-leaf"}},
		{Path: "/nix/store/c-leaf"},
	}
	got, err := topoSort(infos)
	assert.NilError(t, err)
	var order []string
	for _, pi := range got {
		order = append(order, pi.Path)
	}
	assert.DeepEqual(t, order, []string{"/nix/store/c-leaf", "/nix/store/b-mid", "/nix/store/a-top"})

	_, err = topoSort([]nix.PathInfo{{Path: "/nix/store/x", References: []string{"/nix/store/y"}}})
	assert.ErrorContains(t, err, "not in the closure")
	_, err = topoSort([]nix.PathInfo{{Path: "/nix/store/x", References: []string{"/nix/store/y"}}, {Path: "/nix/store/y", References: []string{"/nix/store/x"}}})
	assert.ErrorContains(t, err, "cycle")
}

// FuzzWireReadStrs: readStrs never panics, and what it accepts encodes back
// to the bytes it consumed (up to the padding's content).
func FuzzWireReadStrs(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// A buffer that holds all of b, so consumed = len(b) - Buffered().
		r := bufio.NewReaderSize(bytes.NewReader(b), max(16, len(b)))
		got, err := (&wireConn{r: r}).readStrs()
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := &wireConn{w: bufio.NewWriter(&out)}
		assert.NilError(t, w.strs(got))
		assert.NilError(t, w.w.Flush())
		consumed := len(b) - r.Buffered()
		assert.Equal(t, out.Len(), consumed)
		for i, c := range out.Bytes() {
			if c != b[i] && c != 0 { // a padding byte may differ; nothing else
				t.Fatalf("byte %d: encoded %#x, read %#x", i, c, b[i])
			}
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
