package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"gotest.tools/v3/fs"
)

// BenchmarkCachedGraph200: a 200-step graph (each step depends on up to two
// earlier ones and hashes one input file), fully cached in the local store.
// Target: at most 100 ms per run.
func BenchmarkCachedGraph200(b *testing.B) {
	var ops []fs.PathOp
	for i := 0; i < 200; i++ {
		ops = append(ops, fs.WithFile(fmt.Sprintf("in%03d.txt", i), fmt.Sprint(i)))
	}
	dir := fs.NewDir(b, "bench", ops...)
	var steps []*Step
	for i := 0; i < 200; i++ {
		s := &Step{Name: fmt.Sprintf("s%03d", i), Def: "v1", Root: dir.Path(), Files: []string{fmt.Sprintf("in%03d.txt", i)},
			Run: func(context.Context, Input) (Outputs, error) { return Outputs{"ok": "1"}, nil }}
		if i > 0 {
			s.Deps = append(s.Deps, fmt.Sprintf("s%03d", i-1))
		}
		if i > 10 {
			s.Deps = append(s.Deps, fmt.Sprintf("s%03d", i/2))
		}
		steps = append(steps, s)
	}
	store := cache.NewLocal(b.TempDir())
	h := digest.NewHasher("")
	p := &Pipeline{Steps: steps, Cache: store, Hasher: h}
	if _, err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := p.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if !rs[199].Hit {
			b.Fatal("not cached")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/graph")
}
