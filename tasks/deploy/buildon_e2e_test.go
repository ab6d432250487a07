//go:build e2e

package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// uniqueVersion is a version no other test (nor an earlier run) built, so
// that a toplevel's absence from this machine's store proves it was never
// built here.
func uniqueVersion(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return t.Name() + "-" + hex.EncodeToString(b)
}

// hostHas says whether the lab host's own store holds p.
func (e *testEnv) hostHas(machine, p string) bool {
	_, err := os.Lstat(filepath.Join(e.host(machine).StoreDir, "store", filepath.Base(p)))
	return err == nil
}

// TestBuildOnTarget: a machine whose fleet data says deploy.buildOn =
// "target" gets its derivations, not its system: the lab host builds its
// own toplevel from the .drv (this machine's store never holds it), then
// activates it. A second deploy finds it there and sends nothing.
// --build-on overrides the fleet either way.
func TestBuildOnTarget(t *testing.T) {
	e := newEnv(t)
	v := uniqueVersion(t)
	e.params(fmt.Sprintf(`{ version = %q; buildOn = { beta = "target"; }; }`, v))
	rows, err := e.deploy(nil, "beta")
	assert.NilError(t, err)
	r := rows[0]
	assert.Equal(t, r.Result, "ok")
	assert.Equal(t, e.current("beta"), r.Toplevel, "the host runs what it built")
	_, lerr := os.Lstat(r.Toplevel)
	assert.Assert(t, errors.Is(lerr, os.ErrNotExist), "the deployer built %s itself", r.Toplevel)
	assert.Assert(t, e.hostHas("beta", r.Toplevel))
	assert.Assert(t, r.Paths > 0, "the derivations were sent")
	assert.Equal(t, r.GenAfter, 1)

	// Nothing changed: the host has its system, nothing is sent or built.
	rows, err = e.deploy(nil, "beta")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "unchanged")
	assert.Equal(t, rows[0].Paths, 0)

	// A dry run of a new version says it would build on the machine.
	v2 := uniqueVersion(t)
	e.params(fmt.Sprintf(`{ version = %q; buildOn = { beta = "target"; }; }`, v2))
	var out testBuffer
	rows, err = e.deploy(func(o *Options) { o.DryRun = true; o.Out = &out }, "beta")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "planned")
	assert.Check(t, is.Contains(out.String(), "derivation paths"), out.String())
	assert.Check(t, is.Contains(out.String(), "build "+rows[0].Toplevel+" on the machine"), out.String())
	assert.Equal(t, e.current("beta"), r.Toplevel, "a dry run changes nothing")

	// --build-on local overrides the fleet: built here, the closure copied.
	rows, err = e.deploy(func(o *Options) { o.BuildOn = "local" }, "beta")
	assert.NilError(t, err)
	_, lerr = os.Lstat(rows[0].Toplevel)
	assert.NilError(t, lerr, "--build-on local builds on the deployer")
	assert.Equal(t, e.current("beta"), rows[0].Toplevel)

	// --build-on target for a machine the fleet builds here (alpha).
	rows, err = e.deploy(func(o *Options) { o.BuildOn = "target" }, "alpha")
	assert.NilError(t, err)
	_, lerr = os.Lstat(rows[0].Toplevel)
	assert.Assert(t, errors.Is(lerr, os.ErrNotExist), "--build-on target built %s here", rows[0].Toplevel)
	assert.Equal(t, e.current("alpha"), rows[0].Toplevel)
}

// TestBuildOnTargetFailure: a toplevel whose builder fails on the machine
// fails that machine's deploy with the host's build log, and the machine
// stays on what it ran.
func TestBuildOnTargetFailure(t *testing.T) {
	e := newEnv(t)
	rows, err := e.deploy(nil, "alpha")
	assert.NilError(t, err)
	before := rows[0].Toplevel

	e.params(fmt.Sprintf(`{ version = %q; unbuildable = [ "alpha" ]; }`, uniqueVersion(t)))
	_, err = e.deploy(func(o *Options) { o.BuildOn = "target" }, "alpha")
	assert.ErrorContains(t, err, "on root@alpha")
	assert.ErrorContains(t, err, "failed")
	assert.ErrorContains(t, err, "building alpha fails on purpose")
	assert.Equal(t, e.current("alpha"), before)
}

// TestPlatformThisDeployerCannotBuild: a machine whose toplevel is built
// for another platform (a Mac's aarch64-darwin) and that builds here fails
// before anything is built, naming the platform and both fixes; the other
// machines deploy. With --build-on target the check is the machine's
// (whose Nix then says it cannot build it either: a lab host is Linux);
// with that platform in extra-platforms the deployer builds it.
func TestPlatformThisDeployerCannotBuild(t *testing.T) {
	e := newEnv(t)
	e.params(fmt.Sprintf(`{ version = %q; platform = { gamma = "aarch64-darwin"; }; }`, uniqueVersion(t)))
	rows, err := e.deploy(nil, "alpha", "gamma")
	var fe *FailedError
	assert.Assert(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, len(fe.Lines), 1, "only gamma fails: %v", err)
	for _, r := range rows {
		switch r.Machine {
		case "alpha":
			assert.Equal(t, r.Result, "ok")
		case "gamma":
			assert.Equal(t, r.Result, "failed")
			assert.Equal(t, r.Paths, 0)
		}
	}
	msg := err.Error()
	for _, want := range []string{
		"gamma's system is built for aarch64-darwin, which this deployer cannot build",
		"its Nix builds " + nix.HostPlatform(),
		"--build-on target",
		`deploy.buildOn = "target"`,
		"a builder for aarch64-darwin in nix.conf's builders",
	} {
		assert.Check(t, is.Contains(msg, want))
	}
	assert.Equal(t, e.current("gamma"), "", "gamma was not touched")

	// The same platform for alpha, a nixos-class host (a darwin-class host
	// on Nix 2.26 cannot run its nix-daemon: no /proc).
	alpha := e.current("alpha")
	e.params(fmt.Sprintf(`{ version = %q; platform = { alpha = "aarch64-darwin"; }; }`, uniqueVersion(t)))
	// On the machine: the check is its Nix's, which cannot build it either.
	_, err = e.deploy(func(o *Options) { o.BuildOn = "target" }, "alpha")
	assert.ErrorContains(t, err, "building ")
	assert.ErrorContains(t, err, "a 'aarch64-darwin'")
	assert.Equal(t, e.current("alpha"), alpha)

	// A deployer whose Nix runs aarch64-darwin natively (extra-platforms)
	// passes the check and builds it (the lab's builder is /bin/sh).
	n, err := nix.New()
	assert.NilError(t, err)
	n.Config += "\nextra-platforms = aarch64-darwin"
	rows, err = e.deploy(func(o *Options) { o.Nix = n }, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, e.current("alpha"), rows[0].Toplevel)
	assert.Assert(t, rows[0].Toplevel != alpha)
}

// testBuffer is a concurrency-safe buffer for a deploy's progress lines.
type testBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *testBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *testBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
