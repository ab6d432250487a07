//go:build e2e

package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/sops"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// The install of a bare cloud host (install.go) against the lab's
// bare-image hosts, whose kexec and reboot are the lab's stand-ins: the
// copy into the installer's /mnt, the registration, the profile and the
// resumption are the production code's.

// bareHost makes machine's host anew from a bare image, as the fake
// clouds create servers: its sshd presents the image's own host key, not
// the machine's key from the vars.
func (e *testEnv) bareHost(machine string) lab.Host {
	e.t.Helper()
	ctx := context.Background()
	assert.NilError(e.t, e.lab.DeleteHost(ctx, machine))
	h, err := e.lab.CreateBareHost(ctx, machine, nil)
	assert.NilError(e.t, err)
	assert.Equal(e.t, h.Boot, lab.BootImage)
	assert.Check(e.t, authorized(h.HostKey) != e.varsHostKey(machine), "the image's key is its own")
	_, err = e.lab.Exec(ctx, machine, "sh", "-c", "command -v nix-daemon")
	assert.Assert(e.t, err != nil, "a bare image has no nix-daemon")
	return h
}

// varsHostKey is machine's public host key in the lab flake's vars.
func (e *testEnv) varsHostKey(machine string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(labFlake(e.t), "vars", "per-machine", machine, "openssh", "ssh.id_ed25519.pub", "value"))
	assert.NilError(e.t, err)
	return strings.TrimSpace(string(b))
}

func authorized(k ssh.PublicKey) string {
	if k == nil {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// onHost runs a shell command inside machine's lab host.
func (e *testEnv) onHost(machine, cmd string) string {
	e.t.Helper()
	out, err := e.lab.Exec(context.Background(), machine, "sh", "-c", cmd)
	assert.NilError(e.t, err, "%s on %s: %s", cmd, machine, out)
	return strings.TrimSpace(string(out))
}

// assertInstalled checks that machine's host runs top from its own store,
// booted from its disk, generation 1 of its system profile.
func (e *testEnv) assertInstalled(machine, top string) {
	e.t.Helper()
	assert.Equal(e.t, e.host(machine).Boot, lab.BootInstalled)
	assert.Equal(e.t, e.current(machine), top)
	assert.Equal(e.t, e.onHost(machine, "test ! -e /etc/is_kexec && nix-store --check-validity "+top+" && readlink /nix/var/nix/profiles/system"), "system-1-link")
	assert.Equal(e.t, e.onHost(machine, "readlink -f /nix/var/nix/profiles/system"), top)
	// It presents the machine's key from the vars, the one the install
	// wrote to its disk: the image's key is gone with the image.
	assert.Equal(e.t, authorized(e.host(machine).HostKey), e.varsHostKey(machine))
	assert.Equal(e.t, e.onHost(machine, "stat -c %a /etc/ssh/ssh_host_ed25519_key"), "600")
}

// TestInstallFromBareImage: a cloud host without Nix is installed by the
// deploy (kexec, closure to the disk, profile, reboot) and then deployed
// as usual; a second deploy copies nothing. A dry run says it would
// install; without an installer the error says how to install.
func TestInstallFromBareImage(t *testing.T) {
	adminkeystest.Unset(t)
	e := newEnv(t)
	e.bareHost("cinnabar")
	withLab := func(o *Options) { o.Flake = labFlake(t) }

	var out bytes.Buffer
	rows, err := e.deploy(func(o *Options) { withLab(o); o.DryRun = true; o.Out = &teeWriter{t: t, b: &out} }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "planned")
	assert.Check(t, is.Contains(out.String(), "would install: the host has no Nix; kexec into an installer"))
	assert.Equal(t, e.host("cinnabar").Boot, lab.BootImage, "a dry run changes nothing")

	out.Reset()
	rows, err = e.deploy(func(o *Options) { withLab(o); o.Out = &teeWriter{t: t, b: &out} }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "installed")
	assert.Check(t, rows[0].Paths >= 4, "the whole closure went to the disk: %d paths", rows[0].Paths)
	assert.Equal(t, rows[0].GenBefore, 0)
	assert.Equal(t, rows[0].GenAfter, 1)
	top := rows[0].Toplevel
	for _, line := range []string{"the host presents its image's key", "vouched for by ssh's known_hosts (", "trusted for the install only",
		"no Nix on the host (a bare image): kexec into the installer", "copying the closure to the disk (/mnt",
		"setting the disk's system profile", "writing the machine's host key from the vars to the disk (/mnt/etc/ssh)", "rebooting into the installed system"} {
		assert.Check(t, is.Contains(out.String(), line))
	}
	e.assertInstalled("cinnabar", top)
	// The secrets went to the installed system, after its boot (the
	// reboot emptied /run), and the activation ran once more with them.
	assert.Equal(t, rows[0].SecretsSent, rows[0].SecretsTotal)
	assert.Check(t, rows[0].SecretsSent > 0)
	assert.Check(t, e.onHost("cinnabar", "ls -A /run/secrets/vars") != "")
	assert.Equal(t, e.onHost("cinnabar", "grep -c ' switch "+top+"$' /var/lib/vanixiets/activations.log"), "2",
		"activated at boot, then by the deploy with its secrets in place")

	out.Reset()
	rows, err = e.deploy(func(o *Options) { withLab(o); o.Out = &teeWriter{t: t, b: &out} }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "unchanged")
	assert.Equal(t, rows[0].Paths, 0)
	assert.Check(t, is.Contains(out.String(), "the host has Nix, nothing to install"))
	e.assertInstalled("cinnabar", top)

	// A cloud machine that presents a key other than its vars key yet
	// runs Nix (re-keyed by hand here, and rebooted) is a changed
	// machine, not a fresh image: the bootstrap trust does not reach it,
	// whatever known_hosts says, and nothing on it changes.
	e.onHost("cinnabar", "rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key")
	assert.NilError(t, e.lab.Reboot(context.Background(), "cinnabar"))
	assert.Check(t, authorized(e.host("cinnabar").HostKey) != e.varsHostKey("cinnabar"))
	gens := e.onHost("cinnabar", "ls /nix/var/nix/profiles")
	for _, dry := range []bool{true, false} {
		_, err = e.deploy(func(o *Options) { withLab(o); o.DryRun = dry }, "cinnabar")
		assert.ErrorContains(t, err, "host key of cinnabar CHANGED")
		assert.ErrorContains(t, err, ssh.FingerprintSHA256(e.host("cinnabar").HostKey))
		assert.ErrorContains(t, err, "yet it runs Nix and is no installer")
	}
	assert.Equal(t, e.onHost("cinnabar", "ls /nix/var/nix/profiles"), gens)

	// Without an Installer (a real machine: no kexec here) the deploy
	// stops before changing the host, saying how to install it.
	e.bareHost("galena")
	_, err = e.deploy(func(o *Options) { withLab(o); o.Lab = noInstaller{lab.ForDeploy(e.lab)} }, "galena")
	assert.ErrorContains(t, err, "galena: the host root@galena")
	assert.ErrorContains(t, err, "has no Nix (it runs its provider's image)")
	assert.ErrorContains(t, err, "clan machines install galena")
	assert.Equal(t, e.host("galena").Boot, lab.BootImage)
}

// TestInstallConsoleVouches: where the provider shows a fresh server's
// host keys (Options.ConsoleHostKeys: a Compute Engine instance's
// console), that decides the first connection: the key it shows is taken
// (and the redial into the installer keeps that trust), another key is
// refused before anything changes, and a console that cannot be read
// leaves it to ssh's known_hosts.
func TestInstallConsoleVouches(t *testing.T) {
	adminkeystest.Unset(t)
	e := newEnv(t)
	other, _, err := ed25519.GenerateKey(nil)
	assert.NilError(t, err)
	otherKey, err := ssh.NewPublicKey(other)
	assert.NilError(t, err)
	for _, tc := range []struct {
		name    string
		console func(image ssh.PublicKey) ([]ssh.PublicKey, error)
		says    string // in the output, when it installs
		err     string // the refusal, when it does not
	}{
		{name: "shows the image's key", console: func(image ssh.PublicKey) ([]ssh.PublicKey, error) { return []ssh.PublicKey{otherKey, image}, nil },
			says: "vouched for by its provider's console: trusted for the install only"},
		{name: "shows another key", console: func(ssh.PublicKey) ([]ssh.PublicKey, error) { return []ssh.PublicKey{otherKey}, nil },
			err: "host key of cinnabar is not its provider's: it presents"},
		{name: "cannot be read", console: func(ssh.PublicKey) ([]ssh.PublicKey, error) { return nil, errors.New("no token") },
			says: "vouched for by ssh's known_hosts ("},
		{name: "has no door", console: func(ssh.PublicKey) ([]ssh.PublicKey, error) { return nil, nil },
			says: "vouched for by ssh's known_hosts ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := e.bareHost("cinnabar")
			var out bytes.Buffer
			asked := 0
			rows, err := e.deploy(func(o *Options) {
				o.Flake = labFlake(t)
				o.Out = &teeWriter{t: t, b: &out}
				o.ConsoleHostKeys = func(_ context.Context, m *fleet.Machine) ([]ssh.PublicKey, error) {
					asked++
					assert.Equal(t, m.Name, "cinnabar")
					return tc.console(h.HostKey)
				}
			}, "cinnabar")
			assert.Equal(t, asked, 1, "asked once, at the first connection only")
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				assert.ErrorContains(t, err, ssh.FingerprintSHA256(h.HostKey))
				assert.ErrorContains(t, err, ssh.FingerprintSHA256(otherKey))
				assert.Equal(t, e.host("cinnabar").Boot, lab.BootImage, "nothing changed on it")
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, rows[0].Result, "installed")
			assert.Check(t, is.Contains(out.String(), tc.says))
			e.assertInstalled("cinnabar", rows[0].Toplevel)
		})
	}
}

// noInstaller is a lab without the install stand-ins: what a deploy to
// real machines has.
type noInstaller struct{ Lab }

// installChildEnv carries, to a child process of this test binary, the
// deployment it is to run (TestInstallKilledResumes kills it).
const installChildEnv = "VANIXIETS_TEST_INSTALL_CHILD"

type installChildCfg struct {
	LabDir, LabName, LabRange, Flake, Cache, Dir, Machine string
}

func TestMain(m *testing.M) {
	if v := os.Getenv(installChildEnv); v != "" {
		os.Exit(installChild(v))
	}
	code := m.Run()
	removeCompiledSuite() // local_e2e_test.go
	os.Exit(code)
}

// installChild is the deployer TestInstallKilledResumes kills: the suite's
// own deploy, compiled into this binary, progress on stdout.
func installChild(v string) int {
	var c installChildCfg
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		fmt.Println(err)
		return 2
	}
	l, err := lab.Open(lab.Config{Dir: c.LabDir, Name: c.LabName, Range: netip.MustParsePrefix(c.LabRange)})
	if err == nil {
		var d *Deployer
		d, err = New(Options{Flake: c.Flake, Lab: lab.ForDeploy(l), Cache: cache.NewLocal(c.Cache), Dir: c.Dir,
			Timeout: 3 * time.Second, ConnectTimeout: 3 * time.Second, Out: os.Stdout})
		if err == nil {
			_, err = d.Run(context.Background(), []string{c.Machine})
		}
	}
	if err != nil {
		fmt.Println("deploy failed:", err)
		return 1
	}
	return 0
}

// TestInstallKilledResumes: a deployer SIGKILLed in the middle of an
// install (a child process running the suite's deploy) leaves a host the
// next deploy installs and deploys; a deploy after that copies nothing.
// "before the reboot" is exact: the test holds the lab's lock, which the
// reboot stand-in needs, so the deployer is killed waiting for it, with
// the closure on the disk and the profile set. The other two are killed
// the moment they say what they start, wherever that lands.
func TestInstallKilledResumes(t *testing.T) {
	adminkeystest.Unset(t)
	e := newEnv(t)
	tests := []struct {
		name, machine string
		hold          string // take the lab's lock at this line, then kill at kill
		kill          string
	}{
		{name: "during the kexec", machine: "cinnabar", kill: "kexec into the installer"},
		{name: "during the copy", machine: "galena", kill: "copying the closure to the disk"},
		{name: "before the reboot", machine: "electrum", hold: "setting the disk's system profile", kill: "rebooting into the installed system"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := e.t
			e.t = t
			defer func() { e.t = parent }()
			h := e.bareHost(tc.machine)
			cfg, _ := json.Marshal(installChildCfg{LabDir: e.lab.Dir(), LabName: e.lab.Name(), LabRange: e.lab.Range().String(),
				Flake: labFlake(t), Cache: filepath.Join(e.dir, "cache"), Dir: filepath.Join(e.dir, "deploy"), Machine: tc.machine})
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), installChildEnv+"="+string(cfg))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			assert.NilError(t, cmd.Start())
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait(); pw.Close() }()
			var unlock func()
			await := func(want string) {
				t.Helper()
				deadline := time.After(2 * time.Minute)
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("the deployer ended before %q", want)
						}
						t.Log("child: " + l)
						if strings.Contains(l, want) {
							return
						}
					case <-deadline:
						t.Fatalf("no %q from the deployer", want)
					}
				}
			}
			if tc.hold != "" {
				await(tc.hold)
				unlock = flock(t, filepath.Join(e.lab.Dir(), "lock"))
			}
			await(tc.kill)
			if unlock != nil {
				time.Sleep(300 * time.Millisecond) // in Reboot, waiting for the lock
			}
			assert.NilError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL))
			err := <-done
			if unlock != nil {
				unlock()
			}
			var ee *exec.ExitError
			assert.Assert(t, errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL, "want the deployer killed, got %v", err)
			for l := range lines {
				t.Log("child: " + l)
			}
			st, _ := e.lab.Hosts()
			for _, x := range st {
				if x.Name == tc.machine {
					t.Logf("killed with %s booting %q", tc.machine, x.Boot)
				}
			}
			if tc.hold != "" {
				// Exactly between the profile and the reboot.
				assert.Equal(t, e.host(tc.machine).Boot, lab.BootInstaller)
				e.onHost(tc.machine, "test -e /etc/is_kexec")
				for _, m := range []string{"copied", "profile"} {
					b, err := os.ReadFile(filepath.Join(h.StateDir, "install", m))
					assert.NilError(t, err, "the %s marker on the disk", m)
					assert.Check(t, strings.HasPrefix(string(b), "/nix/store/"))
				}
			}

			rows, err := e.deploy(func(o *Options) { o.Flake = labFlake(t) }, tc.machine)
			assert.NilError(t, err)
			if tc.hold != "" {
				assert.Equal(t, rows[0].Result, "installed")
				assert.Equal(t, rows[0].Paths, 0, "the closure was on the disk already")
			}
			e.assertInstalled(tc.machine, rows[0].Toplevel)
			if tc.hold != "" {
				b, err := os.ReadFile(filepath.Join(h.StateDir, "install", "profile"))
				assert.NilError(t, err)
				assert.Equal(t, strings.TrimSpace(string(b)), rows[0].Toplevel)
			}

			rows, err = e.deploy(func(o *Options) { o.Flake = labFlake(t) }, tc.machine)
			assert.NilError(t, err)
			assert.Equal(t, rows[0].Result, "unchanged")
			assert.Equal(t, rows[0].Paths, 0)
		})
	}
}

// flock takes an exclusive lock on path and returns its release.
func flock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	assert.NilError(t, err)
	assert.NilError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	return func() { f.Close() }
}

// BenchmarkInstallBareHost: deploy cinnabar of the lab flake to a host
// fresh from a bare image (made before each iteration, not timed; build
// cached): kexec, closure to the disk, profile, reboot, then the deploy's
// own steps. Target <= 10 s.
func BenchmarkInstallBareHost(b *testing.B) {
	adminkeystest.Unset(b)
	e := newEnv(b)
	o := e.options(func(o *Options) { o.Flake = labFlake(b); o.Out = nil })
	paths := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e.bareHost("cinnabar")
		d, err := New(o)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rows, err := d.Run(context.Background(), []string{"cinnabar"})
		if err != nil {
			b.Fatal(err)
		}
		if rows[0].Result != "installed" {
			b.Fatalf("cinnabar: %s, want installed", rows[0].Result)
		}
		paths = rows[0].Paths
	}
	b.ReportMetric(float64(paths), "paths")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/install")
}

// TestInstallPlacesClanMachineKey: a machine keyed the clan way (its secrets
// encrypted to clan's generated age key, as every machine of the user's
// tree is) gets that key on the disk, at sops-nix's key file, before the
// reboot into the installed system, as clan's install passes it to
// nixos-anywhere: the installed system can decrypt its own secrets from
// its first activation. The fixture is the lab's vars, copied, with
// cinnabar given its generated key and its secrets rekeyed to it.
func TestInstallPlacesClanMachineKey(t *testing.T) {
	adminkeystest.Unset(t)
	tree := t.TempDir()
	for _, d := range []string{"vars", "sops"} {
		out, err := exec.Command("cp", "-a", filepath.Join(labFlake(t), d), filepath.Join(tree, d)).CombinedOutput()
		assert.NilError(t, err, "%s", out)
	}
	f, err := fleet.NewLoader().Load(context.Background(), labFlake(t))
	assert.NilError(t, err)
	v := vars.New(f, filepath.Join(tree, "vars"))
	files := f.LabIdentityFiles(labFlake(t))
	v.Identities = func() ([]age.Identity, error) { return adminkeys.ReadFiles(files...) }
	assert.NilError(t, v.CreateMachineAgeKey("cinnabar"))
	_, err = v.Rekey()
	assert.NilError(t, err)
	key, ok, err := v.MachineAgeKey("cinnabar")
	assert.NilError(t, err)
	assert.Assert(t, ok)

	e := newEnv(t)
	e.bareHost("cinnabar")
	var out bytes.Buffer
	rows, err := e.deploy(func(o *Options) {
		o.Flake, o.VarsDir, o.Out = labFlake(t), filepath.Join(tree, "vars"), &teeWriter{t: t, b: &out}
	}, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "installed")
	log := out.String()
	wrote := strings.Index(log, "writing the machine's sops-nix age key from the vars to the disk (/mnt/var/lib/sops-nix/key.txt)")
	reboot := strings.Index(log, "rebooting into the installed system")
	assert.Check(t, wrote >= 0 && reboot > wrote, "the key goes to the disk before the reboot:\n%s", log)
	assert.Check(t, is.Equal(e.onHost("cinnabar", "cat /var/lib/sops-nix/key.txt"), strings.TrimSpace(string(key))))
	assert.Check(t, is.Equal(e.onHost("cinnabar", "stat -c %a:%u /var/lib/sops-nix/key.txt"), "600:0"))

	// The key on the host opens cinnabar's secrets as committed.
	id, err := age.ParseX25519Identity(e.onHost("cinnabar", "cat /var/lib/sops-nix/key.txt"))
	assert.NilError(t, err)
	secret := filepath.Join(tree, "vars", "per-machine", "cinnabar", "openssh", "ssh.id_ed25519", "secret")
	ct, err := os.ReadFile(secret)
	assert.NilError(t, err)
	_, err = sops.Decrypt(sops.Binary, ct, []age.Identity{id})
	assert.NilError(t, err)
}
