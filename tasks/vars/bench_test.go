package vars

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/sops"
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

// BenchmarkCheckLayout1000 is vars:check without a key over a clan tree of
// 1,000 secrets (500 machines, a token each linked to the machine and an
// admin, and a password linked to the admin only): structure, links,
// key.json and sops recipients. Target: at most 300 ms.
func BenchmarkCheckLayout1000(b *testing.B) {
	root := b.TempDir()
	admin, _ := age.GenerateX25519Identity()
	writeKeyJSON := func(kind, name, key string) {
		p := filepath.Join(root, "sops", kind, name, "key.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, keyJSONBytes([]string{key}), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	writeKeyJSON("users", "ops", admin.Recipient().String())
	spec := &LayoutSpec{Machines: map[string]map[string]map[string]bool{}}
	for i := 0; i < 500; i++ {
		m := fmt.Sprintf("m%03d", i)
		mid, _ := age.GenerateX25519Identity()
		writeKeyJSON("machines", m, mid.Recipient().String())
		spec.Machines[m] = map[string]map[string]bool{"api": {"token": true, "password": true}}
		for file, links := range map[string][]string{"token": {"machines/" + m, "users/ops"}, "password": {"users/ops"}} {
			dir := filepath.Join(root, "vars", "per-machine", m, "api", file)
			var keys []string
			for _, l := range links {
				kind, name, _ := strings.Cut(l, "/")
				lp := filepath.Join(dir, kind, name)
				if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.Symlink(filepath.Join("..", "..", "..", "..", "..", "..", "sops", kind, name), lp); err != nil {
					b.Fatal(err)
				}
				k := admin.Recipient().String()
				if kind == "machines" {
					k = mid.Recipient().String()
				}
				keys = append(keys, k)
			}
			ct, err := sops.Encrypt(sops.Binary, []byte("s3cret-"+m), keys)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "secret"), ct, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	vars := filepath.Join(root, "vars")
	if probs, err := CheckLayout(vars, spec, nil); err != nil || len(probs) != 0 {
		b.Fatalf("%v %v", err, probs)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := CheckLayout(vars, spec, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
}
