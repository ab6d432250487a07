package ci

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// BenchmarkRunAllHitRepository: ci:run on this repository when every job
// is already validated (a success marker under every key), as a second run
// in a row sees it: one git ls-files, the stat-cached hashing of every
// job's inputs, tool versions from their memo, and the cache lookups.
// Target: at most 1 s wall.
func BenchmarkRunAllHitRepository(b *testing.B) {
	root, _ := filepath.Abs("../..")
	f, err := Load(filepath.Join(root, "ci", "jobs.toml"))
	if err != nil {
		b.Fatal(err)
	}
	// A job that misses (another engineer's edit between the planting and
	// a run changes its key) must not run its real commands from the
	// benchmark: with VANIXIETS_HOME in a temporary directory, the bazel
	// job's setup once pointed the checkout's scripts/bazel/.deps at it.
	// Each job's command is replaced (in the key too) by one that fails.
	for i := range f.Jobs {
		f.Jobs[i].Run = "echo 'BenchmarkRunAllHitRepository: a hit was expected, nothing runs' >&2; exit 97"
	}
	dir := b.TempDir()
	b.Setenv("VANIXIETS_HOME", dir) // the runner's last-seen records stay out of the user's home
	store := cache.NewLocal(filepath.Join(dir, "store"))
	statFile := filepath.Join(dir, "stat")
	versions := filepath.Join(dir, "versions.json")
	opts := func() Options {
		return Options{Root: root, Jobs: f.Jobs, Cache: store, Hasher: digest.NewHasher(statFile),
			Versions: NewVersions(versions), Out: &bytes.Buffer{}, LogDir: dir}
	}
	ps, err := Plan(context.Background(), opts())
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range ps {
		m := pipeline.EncodeRecord(Marker{Job: p.Job.Name, Key: p.Key, Commit: "bench", Host: "bench"}.outputs(), 0)
		if err := store.Put(context.Background(), p.Key, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		outs, err := Run(context.Background(), opts())
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			if o.Ran {
				b.Fatalf("job %s ran: %s", o.Job.Name, o.Reason)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
}
