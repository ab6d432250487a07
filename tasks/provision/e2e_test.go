//go:build e2e

package provision

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fakegcp"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// needAll skips unless the test can run for real: root (lab hosts), nix,
// terraform with the hcloud provider (scripts/install-terraform.sh).
func needAll(t testing.TB) {
	t.Helper()
	labtest.NeedRoot(t)
	nixtest.New(t)
	if _, err := os.Stat(filepath.Join(paths.Tools(), "terraform.rc")); err != nil {
		t.Skip("terraform tools not installed: run scripts/install-terraform.sh")
	}
}

func repoRoot(t testing.TB) string {
	t.Helper()
	return labtest.Repo()
}

// labFleetCopy makes a git repository holding a copy of the repository's
// lab/, modules/_fleet/ and modules/terranix/ (what the lab flake reads), so a test can edit
// the fleet without touching the checkout.
func labFleetCopy(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	assert.NilError(t, os.MkdirAll(filepath.Join(dst, "modules"), 0o755))
	for _, d := range []string{"lab", "modules/_fleet", "modules/terranix"} {
		out, err := exec.Command("cp", "-a", filepath.Join(repoRoot(t), d), filepath.Join(dst, filepath.Dir(d))+"/").CombinedOutput()
		assert.NilError(t, err, string(out))
	}
	treetest.GitAdd(t, dst)
	return dst
}

// setEnabled edits modules/_fleet/machines.nix of a copy: machine's
// cloud.enabled.
func setEnabled(t testing.TB, repo, machine string, on bool) {
	t.Helper()
	p := filepath.Join(repo, "modules", "_fleet", "machines.nix")
	b, err := os.ReadFile(p)
	assert.NilError(t, err)
	re := regexp.MustCompile(`(?s)(\n  ` + machine + ` = \{.*?enabled = )(true|false);`)
	assert.Assert(t, re.Match(b), "no %s.cloud.enabled in %s", machine, p)
	v := "false"
	if on {
		v = "true"
	}
	b = re.ReplaceAll(b, []byte("${1}"+v+";"))
	assert.NilError(t, os.WriteFile(p, b, 0o644))
}

type world struct {
	flake, state string
	keys         []string
	lab          *lab.Lab
	log          *bytes.Buffer
}

func newWorld(t testing.TB, flake string) *world {
	t.Helper()
	needAll(t)
	keys, _ := filepath.Glob(filepath.Join(flake, "keys", "*.agekey"))
	assert.Assert(t, len(keys) > 0)
	state := filepath.Join(t.TempDir(), "terraform", "terraform.tfstate.age")
	t.Cleanup(func() { os.RemoveAll(terraform.DefaultWorkDir(state)) })
	return &world{flake: flake, state: state, keys: keys, lab: labtest.Open(t, lab.Config{}), log: &bytes.Buffer{}}
}

func (w *world) tf() terraform.Options {
	return terraform.Options{Flake: w.flake, StateFile: w.state, IdentityFiles: w.keys, Out: w.log, ServeAPI: w.serveAPI(), ServeGCP: w.serveGCP()}
}

// serveAPI plugs in the fake API as the front doors do: its servers are
// hosts of the test's lab, opened with the flake's machines and their host
// keys from the vars.
func (w *world) serveAPI() func(context.Context, string) (string, string, func(), error) {
	return fakehcloud.ServeFromEnv(w.openLab)
}

// serveGCP plugs in the fake Compute Engine API likewise, on the same lab.
func (w *world) serveGCP() func(context.Context, string) (string, string, func(), error) {
	return fakegcp.ServeFromEnv(w.openLab)
}

// openLab is the test's lab, opened with the flake's machines and their
// host keys from the vars, as the front doors open theirs.
func (w *world) openLab(ctx context.Context) (*lab.Lab, error) {
	f, err := fleet.Load(ctx, w.flake)
	if err != nil {
		return nil, err
	}
	keys, err := deploy.LabHostKeys(f, w.flake, w.log)
	if err != nil {
		return nil, err
	}
	return w.lab.ForFleet(f, keys)
}

func (w *world) options(in string) Options {
	return Options{Flake: w.flake, StateFile: w.state, IdentityFiles: w.keys, Out: w.log, ServeAPI: w.serveAPI(), ServeGCP: w.serveGCP(), In: strings.NewReader(in)}
}

// planApply is tf:plan then tf:apply --yes on the flake as it is now.
func (w *world) planApply(t testing.TB) *terraform.Plan {
	t.Helper()
	ctx := context.Background()
	s, err := terraform.Open(ctx, w.tf())
	assert.NilError(t, err)
	defer s.Close()
	p, err := s.Workspace.Plan(ctx, s.Rendering)
	assert.NilError(t, err, w.log.String())
	_, err = s.Workspace.Apply(ctx, s.Rendering, terraform.Yes)
	assert.NilError(t, err, w.log.String())
	return p
}

func (w *world) hosts(t testing.TB) map[string]lab.Host {
	t.Helper()
	hs, err := w.lab.Hosts()
	assert.NilError(t, err)
	out := map[string]lab.Host{}
	for _, h := range hs {
		out[h.Name] = h
	}
	return out
}

func (w *world) address(t testing.TB, m string) string {
	t.Helper()
	r, err := terraform.StateReader(w.tf())
	assert.NilError(t, err)
	a, ok, err := r.Address(m)
	assert.NilError(t, err)
	assert.Assert(t, ok, "no address of %s in the state", m)
	return a.String()
}

// sshTrue reaches target the way the deploy pipeline does: through the
// lab's ssh_config and known_hosts (StrictHostKeyChecking yes).
func (w *world) sshTrue(t testing.TB, target string) {
	t.Helper()
	out, err := exec.Command("ssh", "-F", w.lab.SSHConfigPath(), "-o", "BatchMode=yes", target, "hostname; test -d /var/lib/vanixiets").CombinedOutput()
	assert.NilError(t, err, "ssh %s: %s", target, out)
}

// imageKey checks that a server the fake cloud just made presents its
// image's own host key, as a real one does, not its machine's key from
// the flake's vars: that one only the install gives it
// (tasks/deploy/bootstrap.go).
func (w *world) imageKey(t testing.TB, h lab.Host) {
	t.Helper()
	pub, err := os.ReadFile(filepath.Join(w.flake, "vars", "per-machine", h.Name, "openssh", "ssh.id_ed25519.pub", "value"))
	assert.NilError(t, err)
	assert.Assert(t, h.HostKey != nil, "%s has no host key", h.Name)
	assert.Check(t, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.HostKey))) != strings.TrimSpace(string(pub)), "host key of %s: the vars' key before any install", h.Name)
}

func machines(p *terraform.Plan) map[string]string {
	out := map[string]string{}
	for _, c := range p.Changes {
		if c.Machine != "" {
			out[c.Machine] = c.Action
		}
	}
	return out
}

func names(m map[string]lab.Host) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestCloudDoneWhen is issue 8's "done when" on the lab fleet: tf:plan
// shows cinnabar (the enabled Hetzner machine) to create; applying creates
// it as the lab host cinnabar, reachable as root@cinnabar; Ensure on it
// returns its address without terraform; toggling electrum on and off
// creates and destroys only electrum; the encrypted state holds no
// plaintext address or token.
func TestCloudDoneWhen(t *testing.T) {
	repo := labFleetCopy(t)
	w := newWorld(t, filepath.Join(repo, "lab"))
	ctx := context.Background()

	p := w.planApply(t)
	assert.DeepEqual(t, machines(p), map[string]string{"cinnabar": "create", "galena": "create"})
	assert.Check(t, strings.Contains(p.Summary(), "machine cinnabar (hcloud_server.cinnabar): create"), p.Summary())
	assert.Check(t, strings.Contains(p.Summary(), "machine galena (google_compute_instance.galena): create"), p.Summary())
	hosts := w.hosts(t)
	assert.DeepEqual(t, names(hosts), []string{"cinnabar", "galena"})
	assert.Equal(t, hosts["galena"].Addr.String(), w.address(t, "galena"), "the instance's NAT address is its lab host's")
	w.sshTrue(t, "root@galena")
	w.imageKey(t, hosts["galena"])
	addr := w.address(t, "cinnabar")
	assert.Equal(t, hosts["cinnabar"].Addr.String(), addr, "the server's address is its lab host's")
	assert.Equal(t, hosts["cinnabar"].Target, "root@cinnabar")
	w.sshTrue(t, "root@cinnabar")
	w.imageKey(t, hosts["cinnabar"])

	// Ensure on a machine that exists: its address, no terraform run.
	before, err := os.ReadFile(w.state)
	assert.NilError(t, err)
	res, err := Ensure(ctx, w.options(""), "cinnabar")
	assert.NilError(t, err, w.log.String())
	assert.Check(t, res.Cloud && !res.Provisioned && res.Plan == "", "%+v", res)
	assert.Equal(t, res.Addr.String(), addr)
	after, _ := os.ReadFile(w.state)
	assert.Check(t, bytes.Equal(before, after), "state untouched")

	// electrum on: only electrum is created.
	setEnabled(t, repo, "electrum", true)
	p = w.planApply(t)
	assert.DeepEqual(t, machines(p), map[string]string{"electrum": "create"})
	assert.Equal(t, len(p.Changes), 1, p.Summary())
	hosts = w.hosts(t)
	assert.DeepEqual(t, names(hosts), []string{"cinnabar", "electrum", "galena"})
	assert.Equal(t, w.address(t, "cinnabar"), addr, "cinnabar untouched")
	assert.Equal(t, w.address(t, "electrum"), hosts["electrum"].Addr.String())
	w.sshTrue(t, "root@electrum")
	w.imageKey(t, hosts["electrum"])

	// And off: only electrum is destroyed, its lab host with it.
	setEnabled(t, repo, "electrum", false)
	p = w.planApply(t)
	assert.DeepEqual(t, machines(p), map[string]string{"electrum": "delete"})
	assert.Equal(t, len(p.Changes), 1, p.Summary())
	assert.DeepEqual(t, names(w.hosts(t)), []string{"cinnabar", "galena"})
	assert.Equal(t, w.address(t, "cinnabar"), addr)
	w.sshTrue(t, "root@cinnabar")

	// The state at rest: ciphertext only.
	ct, err := os.ReadFile(w.state)
	assert.NilError(t, err)
	assert.Check(t, strings.HasPrefix(string(ct), "-----BEGIN AGE ENCRYPTED FILE-----"))
	for _, plain := range []string{addr, hosts["electrum"].Addr.String(), fakehcloud.LabToken, "hcloud_server", "cinnabar"} {
		assert.Check(t, !bytes.Contains(ct, []byte(plain)), "state file contains %q", plain)
	}
	ents, err := os.ReadDir(filepath.Dir(w.state))
	assert.NilError(t, err)
	assert.Equal(t, len(ents), 1, "the state directory holds the state file only")
}

// TestEnsureCreatesMissingMachine: the deploy pipeline's entry on a cloud
// machine that does not exist yet. Without a terminal and without --yes it
// refuses and says to pass --yes; declined, it creates nothing; confirmed,
// it creates exactly that machine as its lab host and returns once ssh
// answers; the lab, brought up the way deploy does, keeps that host.
func TestEnsureCreatesMissingMachine(t *testing.T) {
	w := newWorld(t, filepath.Join(repoRoot(t), "lab"))
	ctx := context.Background()

	pr, pw, err := os.Pipe()
	assert.NilError(t, err)
	defer pr.Close()
	defer pw.Close()
	o := w.options("")
	o.In = pr
	_, err = Ensure(ctx, o, "cinnabar")
	assert.Error(t, err, "cinnabar does not exist yet and there is no terminal to confirm its creation on: pass --yes (VANIXIETS_YES=1) to create it")
	assert.Check(t, strings.Contains(w.log.String(), "machine cinnabar (hcloud_server.cinnabar): create"), "the plan was shown:\n%s", w.log.String())
	assert.Equal(t, len(w.hosts(t)), 0)

	_, err = Ensure(ctx, w.options("no\n"), "cinnabar")
	assert.ErrorContains(t, err, "cinnabar not created: confirmation declined")
	assert.Equal(t, len(w.hosts(t)), 0)

	res, err := Ensure(ctx, w.options("yes\n"), "cinnabar")
	assert.NilError(t, err, w.log.String())
	assert.Check(t, res.Cloud && res.Provisioned)
	var servers []string
	for _, c := range res.Changes {
		assert.Check(t, c.Action == "create", "%+v", c)
		if strings.HasPrefix(c.Address, "hcloud_server.") {
			servers = append(servers, c.Machine)
		}
	}
	assert.DeepEqual(t, servers, []string{"cinnabar"})
	hosts := w.hosts(t)
	assert.DeepEqual(t, names(hosts), []string{"cinnabar"})
	assert.Equal(t, res.Addr, hosts["cinnabar"].Addr)
	w.sshTrue(t, "root@cinnabar")
	w.imageKey(t, hosts["cinnabar"])

	again, err := Ensure(ctx, w.options(""), "cinnabar")
	assert.NilError(t, err)
	assert.Check(t, !again.Provisioned && again.Addr == res.Addr, "%+v", again)

	// What deploy:machine does next: open the same lab with the fleet's
	// machines and bring cinnabar up. The provisioned host is kept.
	dl, err := lab.Open(lab.Config{Name: w.lab.Name(), Dir: w.lab.Dir(), Range: w.lab.Range(), Machines: labtest.LabFleetMachines(t)})
	assert.NilError(t, err)
	up, err := dl.Up(ctx, []string{"cinnabar"})
	assert.NilError(t, err)
	assert.Equal(t, up[0].Addr, res.Addr)
	assert.Equal(t, up[0].HostKey.Type(), hosts["cinnabar"].HostKey.Type())
	assert.DeepEqual(t, up[0].HostKey.Marshal(), hosts["cinnabar"].HostKey.Marshal())
}
