//go:build e2e

package terraform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakegcp"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// env is one test's world: a fake API on loopback, an admin identity, a
// workspace with its own state file and work directory.
type env struct {
	fake *fakehcloud.Fake
	gcp  *fakegcp.Fake
	// gcpURL is the Compute Engine fake's base URL.
	gcpURL string
	id     *age.X25519Identity
	w      *Workspace
	dir    string
	log    *bytes.Buffer
}

func needTools(t testing.TB) {
	t.Helper()
	rc := filepath.Join(paths.Tools(), "terraform.rc")
	if _, err := os.Stat(rc); err != nil {
		t.Skipf("terraform tools not installed (%s): run scripts/install-terraform.sh", rc)
	}
}

func newEnv(t testing.TB, cfg fakehcloud.Config) *env {
	t.Helper()
	return newCloudEnv(t, cfg, fakegcp.Config{Backend: cfg.Backend})
}

// newCloudEnv is newEnv with both fake APIs configured: the Hetzner one
// and the Compute Engine one, which the google provider reaches through
// its custom endpoint with the fake's token.
func newCloudEnv(t testing.TB, cfg fakehcloud.Config, gcfg fakegcp.Config) *env {
	t.Helper()
	needTools(t)
	f, err := fakehcloud.New(cfg)
	assert.NilError(t, err)
	r, err := f.Start("127.0.0.1:0")
	assert.NilError(t, err)
	t.Cleanup(func() { r.Close() })
	g, err := fakegcp.New(gcfg)
	assert.NilError(t, err)
	gr, err := g.Start("127.0.0.1:0")
	assert.NilError(t, err)
	t.Cleanup(func() { gr.Close() })
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	dir := t.TempDir()
	log := &bytes.Buffer{}
	w := &Workspace{
		StateFile: filepath.Join(dir, "repo", "terraform", "terraform.tfstate.age"),
		WorkDir:   filepath.Join(dir, "work"),
		Env: map[string]string{"HCLOUD_ENDPOINT": r.URL, "HCLOUD_TOKEN": fakehcloud.LabToken,
			"GOOGLE_COMPUTE_CUSTOM_ENDPOINT": gr.URL, "GOOGLE_OAUTH_ACCESS_TOKEN": fakegcp.LabToken},
		Vault:  Vault{Identities: []age.Identity{id}},
		Stdout: log, Stderr: log,
		WaitDelay: 20 * time.Second,
	}
	// Run directories live outside the test's directory (in memory).
	t.Cleanup(func() {
		if runs, err := w.runsRoot(); err == nil {
			os.RemoveAll(runs)
		}
	})
	return &env{fake: f, gcp: g, gcpURL: gr.URL, id: id, w: w, dir: dir, log: log}
}

// plan plans r, failing the test with terraform's output when it fails.
func (e *env) plan(t testing.TB, r *terranix.Rendering) *Plan {
	t.Helper()
	p, err := e.w.Plan(context.Background(), r)
	assert.NilError(t, err, e.log.String())
	return p
}

func (e *env) planApply(t testing.TB, enabled ...string) *Plan {
	t.Helper()
	ctx := context.Background()
	r := rendering(t, e.id, enabled...)
	e.plan(t, r)
	p, err := e.w.Apply(ctx, r, Yes)
	assert.NilError(t, err, e.log.String())
	return p
}

func machines(p *Plan) map[string]string {
	out := map[string]string{}
	for _, c := range p.Changes {
		if c.Machine != "" {
			out[c.Machine] = c.Action
		}
	}
	return out
}

func TestPlanApplyToggleDestroy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakehcloud.Config{})

	r := rendering(t, e.id, "alpha")
	p := e.plan(t, r)
	assert.DeepEqual(t, machines(p), map[string]string{"alpha": "create"})
	assert.Assert(t, strings.Contains(p.Summary(), "machine alpha (hcloud_server.alpha): create"), p.Summary())
	_, err := e.w.Apply(ctx, r, func(*Plan) bool { return false })
	assert.Assert(t, errors.Is(err, ErrDeclined))
	assert.DeepEqual(t, e.fake.ServerNames(), []string(nil))
	_, err = e.w.Apply(ctx, r, Yes)
	assert.NilError(t, err, e.log.String())
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha"})

	a, ok, err := e.w.Address("alpha")
	assert.NilError(t, err)
	assert.Assert(t, ok)
	want, _ := e.fake.ServerAddr("alpha")
	assert.Equal(t, a, want)

	ct, err := os.ReadFile(e.w.StateFile)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(ct), a.String()), "stored state has no plaintext address")
	assert.Check(t, !strings.Contains(string(ct), fakehcloud.LabToken), "stored state has no token")
	assert.Check(t, !strings.Contains(string(ct), "hcloud_server"), "stored state is not readable")
	runs, _ := os.ReadDir(e.w.runs)
	assert.Equal(t, len(runs), 0, "no plaintext run directory left")

	// Toggle beta on: exactly beta is created.
	p = e.planApply(t, "alpha", "beta")
	assert.DeepEqual(t, machines(p), map[string]string{"beta": "create"})
	assert.Equal(t, len(p.Changes), 1, p.Summary())
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha", "beta"})
	// And off: exactly beta is destroyed.
	p = e.planApply(t, "alpha")
	assert.DeepEqual(t, machines(p), map[string]string{"beta": "delete"})
	assert.Equal(t, len(p.Changes), 1, p.Summary())
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha"})
	a2, _, _ := e.w.Address("alpha")
	assert.Equal(t, a2, a, "alpha untouched")

	// Nothing changed: an empty plan.
	p, err = e.w.Plan(ctx, r)
	assert.NilError(t, err)
	assert.Assert(t, !p.HasChanges(), p.Summary())

	// tf:destroy's step: declined, nothing goes; then everything; then
	// nothing is left to destroy.
	_, err = e.w.RunDestroy(ctx, r, func(*Plan) bool { return false })
	assert.Assert(t, errors.Is(err, ErrDeclined), "%v", err)
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha"})
	p, err = e.w.RunDestroy(ctx, r, Yes)
	assert.NilError(t, err, e.log.String())
	assert.DeepEqual(t, machines(p), map[string]string{"alpha": "delete"})
	assert.DeepEqual(t, e.fake.ServerNames(), []string(nil))
	res, err := e.w.Resources()
	assert.NilError(t, err)
	assert.Equal(t, len(res), 0)
	p, err = e.w.RunDestroy(ctx, r, Yes)
	assert.NilError(t, err)
	assert.Assert(t, !p.HasChanges(), p.Summary())
}

func TestApplyRefusesPlanFromOlderRender(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakehcloud.Config{})
	old := rendering(t, e.id, "alpha")
	e.plan(t, old)
	cur := rendering(t, e.id, "alpha", "beta")
	_, err := e.w.Apply(ctx, cur, Yes)
	assert.ErrorContains(t, err, "plan made from an older render; run tf:plan")
	assert.DeepEqual(t, e.fake.ServerNames(), []string(nil))
	_, err = e.w.Apply(ctx, old, Yes)
	assert.NilError(t, err, "the plan itself is still good for its own render")
}

func TestWrongStateKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakehcloud.Config{})
	e.planApply(t, "alpha")
	before, err := os.ReadFile(e.w.StateFile)
	assert.NilError(t, err)
	intruder, _ := age.GenerateX25519Identity()
	e.w.Vault.Identities = []age.Identity{intruder}
	_, err = e.w.Plan(ctx, rendering(t, e.id, "alpha", "beta"))
	assert.Assert(t, errors.Is(err, ErrNoIdentity), "got %v", err)
	after, _ := os.ReadFile(e.w.StateFile)
	assert.Equal(t, string(after), string(before), "state untouched")
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha"})
	_, err = e.w.Lock()
	assert.NilError(t, err, "lock not left held")
}

// useMirror points the workspace's terraform at a CLI config of the
// test's own whose hcloud provider comes from the mirror dir.
func (e *env) useMirror(t testing.TB, dir string) {
	t.Helper()
	rc := filepath.Join(e.dir, "terraform.rc")
	assert.NilError(t, os.WriteFile(rc, []byte(`provider_installation {
  filesystem_mirror {
    path    = "`+dir+`"
    include = ["registry.terraform.io/hetznercloud/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hetznercloud/*"]
  }
}
`), 0o644))
	e.w.CLIConfig = rc
}

func TestProviderMissingFromMirror(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	empty := filepath.Join(e.dir, "empty-mirror")
	assert.NilError(t, os.MkdirAll(empty, 0o755))
	e.useMirror(t, empty)
	_, err := e.w.Plan(context.Background(), rendering(t, e.id, "alpha"))
	assert.ErrorContains(t, err, "provider registry.terraform.io/hetznercloud/hcloud is not in the mirror "+empty)
	assert.ErrorContains(t, err, "scripts/install-terraform.sh")
}

func TestServerError500MidApplyConverges(t *testing.T) {
	ft, err := fakeapi.ParseFault("POST /servers#2=500")
	assert.NilError(t, err)
	e := newEnv(t, fakehcloud.Config{Faults: []fakeapi.Fault{ft}})
	e.w.Env["HCLOUD_POLL_INTERVAL"] = "50ms"
	ctx := context.Background()
	r := rendering(t, e.id, "alpha", "beta")
	e.plan(t, r)
	_, err = e.w.Apply(ctx, r, Yes)
	assert.ErrorContains(t, err, "injected fault", "terraform's own error is shown")
	assert.Equal(t, len(e.fake.ServerNames()), 1, "one server made it")
	res, err := e.w.Resources()
	assert.NilError(t, err)
	assert.Equal(t, len(res), 2, "state has the ssh key and the server that was created: %v", res)

	p := e.planApply(t, "alpha", "beta")
	assert.Equal(t, len(machines(p)), 1, "only the missing server is created: %s", p.Summary())
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha", "beta"})
}

// holdBeta makes the fake stop at beta's first creation until the request
// goes away or release is called, and says when it got there.
func holdBeta() (fakehcloud.Config, <-chan struct{}, func()) {
	reached, released := make(chan struct{}), make(chan struct{})
	var once, rel sync.Once
	first := true
	var mu sync.Mutex
	return fakehcloud.Config{BeforeCreate: func(ctx context.Context, name string) error {
		mu.Lock()
		hold := name == "beta" && first
		if hold {
			first = false
		}
		mu.Unlock()
		if !hold {
			return nil
		}
		once.Do(func() { close(reached) })
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-released:
			return nil
		}
	}}, reached, func() { rel.Do(func() { close(released) }) }
}

// planHeldAtBeta is a world whose fake holds beta's creation (holdBeta),
// with alpha and beta planned; release runs at the test's end too.
func planHeldAtBeta(t *testing.T) (*env, *terranix.Rendering, <-chan struct{}, func()) {
	t.Helper()
	cfg, reached, release := holdBeta()
	e := newEnv(t, cfg)
	t.Cleanup(release)
	r := rendering(t, e.id, "alpha", "beta")
	e.plan(t, r)
	return e, r, reached, release
}

func TestCancelledApplyInterruptsAndConverges(t *testing.T) {
	e, r, reached, release := planHeldAtBeta(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := e.w.Apply(ctx, r, Yes); done <- err }()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("apply never reached beta:\n" + e.log.String())
	}
	waitRecorded(t, e.w, "hcloud_server.alpha", e.log)
	cancel()
	// The API call in flight finishes a moment later, as a real one would;
	// terraform waits for it, records it, and stops.
	time.Sleep(time.Second)
	release()
	err := <-done
	assert.Assert(t, err != nil)
	assert.Check(t, strings.Contains(e.log.String(), "Interrupt received") || strings.Contains(e.log.String(), "Gracefully shutting down"), "terraform got an interrupt first:\n%s", e.log.String())

	f, err := e.w.Lock()
	assert.NilError(t, err, "lock released")
	f.Close()
	// The provider stopped beta's creation when terraform was interrupted;
	// the state knows alpha, so the next run creates exactly beta.
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha"})
	p := e.planApply(t, "alpha", "beta")
	assert.Check(t, len(p.Changes) == 1 && machines(p)["beta"] == "create", p.Summary())
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha", "beta"})
}

// TestKilledApplyConverges kills (SIGKILL) a process in the middle of an
// apply; its terraform dies with it (terraform-exec's parent-death signal),
// but the provider it started usually lives on holding the inherited lock:
// the next taker of the lock kills that orphan, gets the lock, recovers the
// state the killed run had written and converges.
func TestKilledApplyConverges(t *testing.T) {
	e, _, reached, _ := planHeldAtBeta(t)

	keyFile := writeIdentity(t, e.dir, e.id)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperApply$")
	cmd.Env = append(os.Environ(), "VANIXIETS_TF_HELPER=1", "HELPER_STATE="+e.w.StateFile, "HELPER_WORK="+e.w.WorkDir,
		"HELPER_ENDPOINT="+e.w.Env["HCLOUD_ENDPOINT"], "HELPER_KEY="+keyFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	assert.NilError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("apply never reached beta:\n" + out.String())
	}
	// Kill once terraform has recorded alpha in its (run directory) state:
	// the point where a kill loses nothing terraform knew.
	waitRecorded(t, e.w, "hcloud_server.alpha", &out)
	assert.NilError(t, cmd.Process.Kill())
	cmd.Wait()
	// The provider usually outlives its terraform and holds the lock it
	// inherited. It may also die a moment later on its own: terraform's
	// death cancels the provider's request in flight, and a Go program
	// that then writes to its stderr, a pipe to the dead terraform, dies
	// of SIGPIPE. Both happen on real machines; the next run must converge
	// after either. (lock_test.go reaps an orphan deterministically.)
	probe, err := os.OpenFile(filepath.Join(e.w.WorkDir, "lock"), os.O_RDWR, 0)
	assert.NilError(t, err)
	err = syscall.Flock(int(probe.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	probe.Close()
	if err == nil {
		t.Log("the killed run's provider died with its terraform: no orphan held the lock")
	} else {
		assert.Assert(t, errors.Is(err, syscall.EWOULDBLOCK), "probe the lock: %v", err)
	}

	f, err := e.w.Lock()
	assert.NilError(t, err, "lock free once the orphaned provider is gone")
	f.Close()
	p := e.planApply(t, "alpha", "beta")
	assert.Check(t, len(p.Changes) == 1 && machines(p)["beta"] == "create", "alpha, created by the killed run, is known: %s", p.Summary())
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha", "beta"})
	runs, _ := os.ReadDir(e.w.runs)
	assert.Equal(t, len(runs), 0, "the killed run's plaintext directory was recovered and removed")
}

// waitRecorded waits until a run directory of w (made by a run in this
// process or another) holds a state that records the resource addr as
// created: an instance with an id. Terraform 1.5 writes a resource with no
// instances as soon as it starts creating it; an interrupt at that point
// loses the creation in flight, which is not what these tests are about.
func waitRecorded(t *testing.T, w *Workspace, addr string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !runStateRecords(w, addr) {
		if time.Now().After(deadline) {
			t.Fatalf("terraform never recorded %s in its state:\n%s", addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runStateRecords(w *Workspace, addr string) bool {
	runs, err := w.runsRoot()
	if err != nil {
		return false
	}
	files, _ := filepath.Glob(filepath.Join(runs, "*", "terraform.tfstate"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st struct {
			Resources []struct {
				Type, Name string
				Instances  []struct {
					Attributes struct {
						ID string `json:"id"`
					} `json:"attributes"`
				} `json:"instances"`
			} `json:"resources"`
		}
		if json.Unmarshal(b, &st) != nil {
			continue // caught halfway through terraform's rewrite
		}
		for _, r := range st.Resources {
			if r.Type+"."+r.Name == addr && len(r.Instances) > 0 && r.Instances[0].Attributes.ID != "" {
				return true
			}
		}
	}
	return false
}

// TestHelperApply is the process TestKilledApplyConverges kills.
func TestHelperApply(t *testing.T) {
	if os.Getenv("VANIXIETS_TF_HELPER") != "1" {
		t.Skip("helper process only")
	}
	ids, err := adminkeys.ReadFiles(os.Getenv("HELPER_KEY"))
	assert.NilError(t, err)
	id := ids[0].(*age.X25519Identity)
	w := &Workspace{StateFile: os.Getenv("HELPER_STATE"), WorkDir: os.Getenv("HELPER_WORK"),
		Env:   map[string]string{"HCLOUD_ENDPOINT": os.Getenv("HELPER_ENDPOINT"), "HCLOUD_TOKEN": fakehcloud.LabToken},
		Vault: Vault{Identities: ids}, Stdout: os.Stdout, Stderr: os.Stderr}
	_, err = w.Apply(context.Background(), rendering(t, id, "alpha", "beta"), Yes)
	t.Fatalf("helper apply returned (it should have been killed): %v", err)
}

func TestProvisionHandoff(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	ctx := context.Background()
	r := rendering(t, e.id, "alpha", "beta")
	asked := 0
	a, p, err := e.w.Provision(ctx, r, "beta", func(p *Plan) bool { asked++; return true })
	assert.NilError(t, err, e.log.String())
	assert.Equal(t, asked, 1)
	assert.DeepEqual(t, machines(p), map[string]string{"beta": "create"})
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"beta"}) // only the machine asked for
	want, _ := e.fake.ServerAddr("beta")
	assert.Equal(t, a, want)
	a2, p2, err := e.w.Provision(ctx, r, "beta", nil)
	assert.NilError(t, err)
	assert.Assert(t, p2 == nil, "existing machine: no plan")
	assert.Equal(t, a2, a)
	_, _, err = e.w.Provision(ctx, rendering(t, e.id, "alpha"), "beta", Yes)
	assert.ErrorContains(t, err, "disabled")
	_, _, err = e.w.Provision(ctx, r, "nosuch", Yes)
	assert.ErrorContains(t, err, "not a cloud machine")
	var zero netip.Addr
	_ = zero
}

// TestApplyThatCannotSaveStateFails: an apply whose state cannot be
// written back is a failure, not "ok" (the servers exist, the repository
// does not know them yet); the run directory is kept, and the next run
// recovers its state, so nothing is created twice.
func TestApplyThatCannotSaveStateFails(t *testing.T) {
	var e *env
	stateDir := ""
	e = newEnv(t, fakehcloud.Config{BeforeCreate: func(ctx context.Context, name string) error {
		// While terraform creates the server, the state's directory
		// becomes a file: the state cannot be written there.
		if err := os.RemoveAll(stateDir); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(stateDir), 0o700); err != nil {
			return err
		}
		return os.WriteFile(stateDir, []byte("in the way\n"), 0o600)
	}})
	stateDir = filepath.Dir(e.w.StateFile)
	ctx := context.Background()
	r := rendering(t, e.id, "alpha")
	e.plan(t, r)
	_, err := e.w.Apply(ctx, r, Yes)
	assert.ErrorContains(t, err, "is kept so the next run recovers it")
	assert.DeepEqual(t, e.fake.ServerNames(), []string{"alpha"})

	assert.NilError(t, os.Remove(stateDir))
	p := e.plan(t, r)
	assert.Assert(t, !p.HasChanges(), "the recovered state knows alpha: %s", p.Summary())
	_, err = os.Stat(e.w.StateFile)
	assert.NilError(t, err, "the recovered state is written back")
}

// TestRebuiltProviderIsRelocked: a provider rebuilt in the mirror under
// the same version (other bytes) would fail terraform init against the
// lock file of the last init; the suite renews its own lock entries,
// says so, and the plan goes on.
func TestRebuiltProviderIsRelocked(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	// A mirror of the hcloud provider of this test's own, to rebuild.
	mirror := filepath.Join(e.dir, "mirror")
	src := mirrorPaths(filepath.Join(paths.Tools(), "terraform.rc"))
	assert.Assert(t, len(src) > 0)
	bins, err := filepath.Glob(filepath.Join(src[0], "registry.terraform.io/hetznercloud/hcloud/*", platform(), "terraform-provider-hcloud_*"))
	assert.NilError(t, err)
	assert.Assert(t, len(bins) == 1, "%v", bins)
	rel, err := filepath.Rel(src[0], bins[0])
	assert.NilError(t, err)
	bin := filepath.Join(mirror, rel)
	assert.NilError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	b, err := os.ReadFile(bins[0])
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(bin, b, 0o755))
	e.useMirror(t, mirror)

	r := rendering(t, e.id, "alpha")
	e.plan(t, r)
	assert.Check(t, !strings.Contains(e.log.String(), "lock entries are renewed"))

	// The rebuild: the same version, other bytes (a trailing byte leaves
	// the program as it was).
	assert.NilError(t, os.WriteFile(bin, append(b, 0), 0o755))
	p := e.plan(t, r)
	assert.DeepEqual(t, machines(p), map[string]string{"alpha": "create"})
	assert.Check(t, strings.Contains(e.log.String(), "changed since the last init, under the same version; its lock entries are renewed"), e.log.String())
}
