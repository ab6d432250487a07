package digest

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// genTree writes n files of size bytes in a two-level tree, with mtimes in
// the past so the stat cache may trust them.
func genTree(b *testing.B, n, size int) string {
	b.Helper()
	root := b.TempDir()
	buf := make([]byte, size)
	rnd := rand.New(rand.NewSource(1))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		rnd.Read(buf)
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.dat", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(2 * racyWindow) // let ctimes age past the racy window
	return root
}

// BenchmarkKeysCold: 10,000 files of 4 KiB, empty stat cache (every file is
// read and hashed). Target: at least 500 MB/s of content.
func BenchmarkKeysCold(b *testing.B) {
	root := genTree(b, 10000, 4096)
	spec := Spec{Root: root, Patterns: []string{"**"}}
	b.SetBytes(10000 * 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NewHasher("").Glob(spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeysWarm: the same tree, nothing changed, stat cache loaded from
// disk as a new process would. Target: at most 50 ms in total.
func BenchmarkKeysWarm(b *testing.B) {
	root := genTree(b, 10000, 4096)
	cache := filepath.Join(b.TempDir(), "stat")
	h := NewHasher(cache)
	spec := Spec{Root: root, Patterns: []string{"**"}}
	if _, err := h.Glob(spec); err != nil {
		b.Fatal(err)
	}
	if err := h.Save(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := NewHasher(cache)
		if _, err := h.Glob(spec); err != nil {
			b.Fatal(err)
		}
		if err := h.Save(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
}
