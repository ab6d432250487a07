package vars

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkGenerateLabFromNothing generates the whole lab fleet into an
// empty directory. ms-excl-scripts is the time the suite itself spends
// (planning, keys, age, atomic writes): wall time minus the time inside
// generator scripts (ssh-keygen and friends).
func BenchmarkGenerateLabFromNothing(b *testing.B) {
	f, ids := labFleet(b)
	var total, scripts time.Duration
	for i := 0; i < b.N; i++ {
		v := newVars(b, f, ids, labEnv)
		start := time.Now()
		rep, err := v.Generate(context.Background(), GenerateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		scripts += rep.ScriptTime
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-total")
	b.ReportMetric(float64((total-scripts).Microseconds())/1000/float64(b.N), "ms-excl-scripts")
}

// BenchmarkGenerateLabNoChange is a second run over a complete directory:
// it must touch nothing (checked once by the test
// TestGenerateLabFromNothingThenNoChange).
func BenchmarkGenerateLabNoChange(b *testing.B) {
	f, ids := labFleet(b)
	v := newVars(b, f, ids, labEnv)
	if _, err := v.Generate(context.Background(), GenerateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A fresh Vars each time: the plan is recomputed as a new process would.
		n := New(f, v.Dir)
		n.TmpDir, n.Identities, n.Prompter = v.TmpDir, v.Identities, v.Prompter
		rep, err := n.Generate(context.Background(), GenerateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Generated) != 0 {
			b.Fatalf("second run generated %v", rep.Generated)
		}
	}
}

// BenchmarkCheckLab is vars:check with decryption over the lab fleet.
func BenchmarkCheckLab(b *testing.B) {
	f, ids := labFleet(b)
	v := newVars(b, f, ids, labEnv)
	if _, err := v.Generate(context.Background(), GenerateOptions{}); err != nil {
		b.Fatal(err)
	}
	_ = os.Remove(filepath.Join(v.Dir, "nothing"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := New(f, v.Dir)
		n.Identities = v.Identities
		probs, err := n.Check(CheckOptions{Decrypt: true})
		if err != nil || len(probs) > 0 {
			b.Fatal(err, probs)
		}
	}
}
