//go:build e2e

package lab_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// forestMachines are the machines of the generated 64-machine fleet
// (testdata/fleets/forest, tools/fleetgen), each at its targetHost.
func forestMachines(tb testing.TB) []lab.Machine {
	tb.Helper()
	f, err := fleet.NewLoader().Load(ctx, filepath.Join(repoRoot(tb), "testdata", "fleets", "forest"))
	if err != nil {
		tb.Fatal(err)
	}
	return lab.MachinesFromFleet(f)
}

// BenchmarkScaleUp64 brings up the 64 hosts of the generated fleet from nothing
// (target: at most 15 s on 2 cores), then, untimed in the main figure,
// times a second Up that finds every host healthy (ms/up64-kept) and the
// Down (ms/down64).
func BenchmarkScaleUp64(b *testing.B) {
	ms := forestMachines(b)
	if len(ms) != 64 {
		b.Fatalf("the generated fleet has %d machines, want 64", len(ms))
	}
	var kept, down time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := labtest.Open(b, lab.Config{Machines: ms})
		b.StartTimer()
		hs, err := l.Up(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(hs) != 64 {
			b.Fatalf("%d hosts up, want 64", len(hs))
		}
		t0 := time.Now()
		if _, err := l.Up(ctx, nil); err != nil {
			b.Fatal(err)
		}
		kept += time.Since(t0)
		t0 = time.Now()
		if err := l.Down(ctx); err != nil {
			b.Fatal(err)
		}
		down += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/up64")
	b.ReportMetric(float64(kept.Milliseconds())/float64(b.N), "ms/up64-kept")
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms/down64")
}
