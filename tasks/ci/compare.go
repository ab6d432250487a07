package ci

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vanixiets/vanixiets/tasks/digest"
)

// Comparison is one timing of the suite's key computation against the shell
// algorithm it replaces, over the same jobs and files.
type Comparison struct {
	Name        string
	Files       int
	Shell       time.Duration
	SuiteCold   time.Duration // empty stat cache: every file read
	SuiteWarm   time.Duration // stat cache from the cold run
	ShellScript string
}

// Ratio is how many times faster the suite's cold key computation is.
func (c Comparison) Ratio() float64 { return float64(c.Shell) / float64(c.SuiteCold) }

func (c Comparison) String() string {
	return fmt.Sprintf("%-18s files=%-6d shell=%-10s suite-cold=%-10s suite-warm=%-10s ratio(cold)=%.0fx ratio(warm)=%.0fx",
		c.Name, c.Files, c.Shell.Round(time.Millisecond), c.SuiteCold.Round(time.Microsecond), c.SuiteWarm.Round(time.Microsecond),
		c.Ratio(), float64(c.Shell)/float64(c.SuiteWarm))
}

// Compare times every job's key both ways under root. script is
// scripts/bench/ci-hash-sources.sh.
func Compare(ctx context.Context, name, root, script string, jobs []Job) (Comparison, error) {
	c := Comparison{Name: name, ShellScript: script}
	t0 := time.Now()
	for _, j := range jobs {
		args := append([]string{script, root, j.Name}, j.Inputs...)
		cmd := exec.CommandContext(ctx, "bash", args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return c, fmt.Errorf("shell key for %s: %v: %s", j.Name, err, out)
		}
	}
	c.Shell = time.Since(t0)
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("vx-compare-%d", rand.Int63()))
	defer os.Remove(cache)
	files := map[string]bool{}
	for i, label := range []string{"cold", "warm"} {
		h := digest.NewHasher(cache)
		t := time.Now()
		for _, j := range jobs {
			m, err := h.Glob(digest.Spec{Root: root, Patterns: j.Inputs, Exclude: j.Exclude})
			if err != nil {
				return c, err
			}
			_ = m.Sum()
			for _, f := range m.Files {
				files[f.Path] = true
			}
		}
		if err := h.Save(); err != nil {
			return c, err
		}
		if i == 0 {
			c.SuiteCold = time.Since(t)
		} else {
			c.SuiteWarm = time.Since(t)
		}
		_ = label
	}
	c.Files = len(files)
	return c, nil
}

// GenerateTree writes n files of size bytes under dir in 100 folders, with
// mtimes an hour old (so the stat cache may trust them), for Compare.
func GenerateTree(dir string, n, size int) error {
	buf := make([]byte, size)
	rnd := rand.New(rand.NewSource(7))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		rnd.Read(buf)
		p := filepath.Join(dir, "src", fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, old, old); err != nil {
			return err
		}
	}
	time.Sleep(100 * time.Millisecond)
	return nil
}
