//go:build e2e

package lab_test

import (
	"path/filepath"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// BenchmarkUpSecondFleet brings up the 13 hosts of the second fleet
// (testdata/fleets/grove) from nothing, each at its machine's targetHost
// (non-root users included); Down untimed.
func BenchmarkUpSecondFleet(b *testing.B) {
	f, err := fleet.NewLoader().Load(ctx, filepath.Join(repoRoot(b), "testdata", "fleets", "grove"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := labtest.Open(b, lab.Config{Machines: lab.MachinesFromFleet(f)})
		b.StartTimer()
		hs, err := l.Up(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(hs) != 13 {
			b.Fatalf("%d hosts up, want 13", len(hs))
		}
		if err := l.Down(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/up13")
}
