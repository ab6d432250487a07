//go:build e2e

package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"gotest.tools/v3/assert"
)

// testEnv is one test's fleet flake (a copy of testdata/flake), lab and cache.
type testEnv struct {
	t     testing.TB
	flake string
	lab   *lab.Lab
	cache cache.Store
	dir   string
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	labtest.NeedRoot(t)
	e := &testEnv{t: t, dir: t.TempDir()}
	e.flake = filepath.Join(e.dir, "flake")
	assert.NilError(t, os.MkdirAll(e.flake, 0o755))
	for _, f := range []string{"flake.nix", "params.nix"} {
		b, err := os.ReadFile(filepath.Join("testdata", "flake", f))
		assert.NilError(t, err)
		assert.NilError(t, os.WriteFile(filepath.Join(e.flake, f), b, 0o644))
	}
	e.lab = labtest.Open(t, lab.Config{Machines: []lab.Machine{{Name: "alpha"}, {Name: "beta"}, {Name: "gamma"}}})
	e.cache = cache.NewLocal(filepath.Join(e.dir, "cache"))
	return e
}

func (e *testEnv) params(s string) {
	e.t.Helper()
	assert.NilError(e.t, os.WriteFile(filepath.Join(e.flake, "params.nix"), []byte(s), 0o644))
}

func (e *testEnv) options(mod func(*Options)) Options {
	o := Options{Flake: e.flake, Lab: lab.ForDeploy(e.lab), Cache: e.cache, Dir: filepath.Join(e.dir, "deploy"),
		Timeout: 3 * time.Second, ConnectTimeout: 3 * time.Second, Out: testWriter{e.t}}
	if mod != nil {
		mod(&o)
	}
	return o
}

func (e *testEnv) deploy(mod func(*Options), selectors ...string) ([]Summary, error) {
	e.t.Helper()
	d, err := New(e.options(mod))
	assert.NilError(e.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := d.Run(ctx, selectors)
	e.t.Log("\n" + Table(rows))
	return rows, err
}

// current is the toplevel the lab host runs, read on the machine's side.
func (e *testEnv) current(machine string) string {
	hs, err := e.lab.Hosts()
	assert.NilError(e.t, err)
	for _, h := range hs {
		if h.Name == machine {
			t, err := os.Readlink(filepath.Join(h.RunDir, "current-system"))
			if err != nil {
				return ""
			}
			return t
		}
	}
	e.t.Fatalf("no lab host %s", machine)
	return ""
}

func (e *testEnv) host(machine string) lab.Host {
	hs, err := e.lab.Hosts()
	assert.NilError(e.t, err)
	for _, h := range hs {
		if h.Name == machine {
			return h
		}
	}
	e.t.Fatalf("no lab host %s", machine)
	return lab.Host{}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
