package fleet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
)

// BenchmarkCheckFleetWarm is check:fleet on an unchanged flake: hash the
// flake's files through a stat cache loaded from disk (as a fresh process
// does), read the cached evaluation, parse, validate, print the table. The
// nix-processes/op metric must be 0.
func BenchmarkCheckFleetWarm(b *testing.B) {
	n := nixtest.New(b)
	ctx := context.Background()
	statFile := filepath.Join(b.TempDir(), "statcache")
	store := cache.NewLocal(b.TempDir())
	warm := &Loader{Nix: n, Cache: store, Hasher: digest.NewHasher(statFile)}
	if _, _, err := warm.LoadUnvalidated(ctx, repoLab(b)); err != nil {
		b.Fatal(err)
	}
	if err := warm.Hasher.Save(); err != nil {
		b.Fatal(err)
	}
	before := nix.Invocations()
	b.ResetTimer()
	for b.Loop() {
		l := &Loader{Nix: n, Cache: store, Hasher: digest.NewHasher(statFile)}
		f, hit, err := l.LoadUnvalidated(ctx, repoLab(b))
		if err != nil {
			b.Fatal(err)
		}
		if !hit {
			b.Fatal("warm load missed the cache")
		}
		if err := f.Validate(); err != nil {
			b.Fatal(err)
		}
		if err := f.Table(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(nix.Invocations()-before)/float64(b.N), "nix-processes/op")
}

// BenchmarkBuildLabCold evaluates a copy of the lab whose derivations are
// new to the store (a nonce in every derivation) and builds all 8 machines'
// closures. The copy is made outside the timer.
func BenchmarkBuildLabCold(b *testing.B) {
	n := nixtest.New(b)
	ctx := context.Background()
	paths := 0
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		nonce := fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
		dir := copyLab(b, func(root string) {
			replaceIn(b, filepath.Join(root, "lab", "nix", "system.nix"),
				`PATH = "/usr/bin:/bin";`, `PATH = "/usr/bin:/bin"; benchNonce = "`+nonce+`";`)
		})
		l := &Loader{Nix: n, Hasher: digest.NewHasher("")}
		b.StartTimer()
		start := time.Now()
		f, err := l.Load(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		tops, err := l.BuildToplevels(ctx, dir, f)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if len(tops) != 8 {
			b.Fatalf("built %d closures, want 8", len(tops))
		}
		var all []string
		for _, t := range tops {
			all = append(all, t)
		}
		closure, err := n.Closure(ctx, all...)
		if err != nil {
			b.Fatal(err)
		}
		paths = len(closure)
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/fleet-build")
	b.ReportMetric(float64(paths), "store-paths")
}
