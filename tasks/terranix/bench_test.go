package terranix

import (
	"context"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
)

// BenchmarkRenderWarm: tf:render of the repository's lab flake with its
// rendering in the cache: one git ls-files, a stat-cached walk of the
// tracked files, one cache read, no nix.
func BenchmarkRenderWarm(b *testing.B) {
	nixtest.New(b)
	r := &Renderer{Flake: filepath.Join("..", "..", "lab"), CacheDir: b.TempDir()}
	ctx := context.Background()
	_, err := r.Render(ctx)
	assert.NilError(b, err)
	before := nix.Invocations()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rr, err := r.Render(ctx)
		assert.NilError(b, err)
		assert.Assert(b, rr.Cached)
	}
	b.StopTimer()
	assert.Equal(b, nix.Invocations(), before, "a warm render runs no nix")
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/render")
}
