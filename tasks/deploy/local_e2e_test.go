//go:build e2e

package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// The machine you sit at, deployed by itself: the suite's compiled
// targets run INSIDE a lab host (its mount and network namespaces: its
// own /nix, /run, /var/lib/vanixiets; the machine's /usr and /tmp) and
// deploy that host with --local, as darwin-rebuild switch does on a Mac.
// No SSH (the deployer has no key, no ssh_config, no known_hosts for it),
// no copy: the host evaluates and builds with its own Nix and activates
// through the same activation and magic rollback as a remote deploy.

var suiteBin struct {
	once sync.Once
	path string
	err  error
}

// compiledSuite is the magefiles' targets compiled into one binary
// (labtest.CompiledTargets), in a directory every user can read.
func compiledSuite(t *testing.T) string {
	t.Helper()
	suiteBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "vanixiets-suite-")
		if err != nil {
			suiteBin.err = err
			return
		}
		os.Chmod(dir, 0o755)
		out := filepath.Join(dir, "vanixiets")
		suiteBin.path = out // removed by removeCompiledSuite, even when the compile fails
		// Moved out of the test's own temporary directory, which no
		// other user of the host may enter.
		if err := os.Rename(labtest.CompiledTargets(t), out); err != nil {
			suiteBin.err = err
		}
	})
	assert.NilError(t, suiteBin.err)
	return suiteBin.path
}

// removeCompiledSuite removes the compiled suite once every test is done
// (TestMain).
func removeCompiledSuite() {
	if suiteBin.path != "" {
		os.RemoveAll(filepath.Dir(suiteBin.path))
	}
}

// localEnv is a lab host that deploys itself, with the flake and the
// suite's home in a directory any user of the host can read.
type localEnv struct {
	*testEnv
	machine string
	dir     string // readable by all: flake/, home/
	flake   string
	bin     string
}

// newLocalEnv brings up machine's lab host (of its own lab), with a copy
// of the test flake (testdata/flake) to deploy it from.
func newLocalEnv(t *testing.T, machine string) *localEnv {
	e := newEnv(t)
	e.lab = labtest.Open(t, lab.Config{Machines: []lab.Machine{{Name: machine}}})
	le := &localEnv{testEnv: e, machine: machine, bin: compiledSuite(t)}
	dir, err := os.MkdirTemp("", "vanixiets-local-")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	assert.NilError(t, os.Chmod(dir, 0o755))
	le.dir, le.flake = dir, filepath.Join(dir, "flake")
	assert.NilError(t, os.MkdirAll(le.flake, 0o755))
	for _, f := range []string{"flake.nix", "params.nix"} {
		b, err := os.ReadFile(filepath.Join(e.flake, f))
		assert.NilError(t, err)
		assert.NilError(t, os.WriteFile(filepath.Join(le.flake, f), b, 0o644))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = e.lab.Up(ctx, []string{machine})
	assert.NilError(t, err)
	return le
}

func (le *localEnv) params(s string) {
	le.t.Helper()
	assert.NilError(le.t, os.WriteFile(filepath.Join(le.flake, "params.nix"), []byte(s), 0o644))
}

// run runs the suite inside the host with a clean environment: argv after
// "env -i" assignments, as root unless user is given (then through
// setpriv, with that user's home). pre wraps the command (unshare...).
func (le *localEnv) run(user string, pre []string, args ...string) (string, error) {
	le.t.Helper()
	home := filepath.Join(le.dir, "home-"+orRoot(user))
	assert.NilError(le.t, os.MkdirAll(home, 0o755))
	argv := append([]string{}, pre...)
	if user != "" {
		uid := lookupUID(le.t, user)
		assert.NilError(le.t, os.Chown(home, uid, uid))
		argv = append(argv, "setpriv", "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(uid), "--clear-groups")
	}
	argv = append(argv, "env", "-i", "-C", "/", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME="+home,
		"VANIXIETS_HOME="+filepath.Join(home, "vanixiets"), "VANIXIETS_LAB=0", le.bin)
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := le.lab.Exec(ctx, le.machine, argv...)
	le.t.Logf("%s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

func orRoot(u string) string {
	if u == "" {
		return "root"
	}
	return u
}

func lookupUID(t testing.TB, user string) int {
	b, err := os.ReadFile("/etc/passwd")
	assert.NilError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 3 && f[0] == user {
			uid, err := strconv.Atoi(f[2])
			assert.NilError(t, err)
			return uid
		}
	}
	t.Fatalf("no user %s in /etc/passwd", user)
	return 0
}

// state reads the host's system: what runs, the profile's generation and
// the agent's log.
func (le *localEnv) state() (current string, gen int, log string) {
	h := le.host(le.machine)
	current, _ = os.Readlink(filepath.Join(h.RunDir, "current-system"))
	if l, err := os.Readlink(filepath.Join(h.StoreDir, "var", "nix", "profiles", "system")); err == nil {
		gen, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "system-"), "-link"))
	}
	b, _ := os.ReadFile(filepath.Join(h.StateDir, "deploy.log"))
	return current, gen, string(b)
}

// TestLocalDeployAsRoot: the host deploys itself with --local (and
// without it, when the host name is the machine's), confirms from a fresh
// process after its health checks, rolls itself back a generation
// (deploy:rollback --local), and stays on its generation when an
// activation fails or a health check does (magic rollback, the abort from
// the confirming process).
func TestLocalDeployAsRoot(t *testing.T) {
	le := newLocalEnv(t, "alpha")
	v := uniqueVersion(t) // never built on the machine running the lab
	le.params(fmt.Sprintf(`{ version = "%s-1"; }`, v))
	deploy := func(extra ...string) (string, error) {
		return le.run("", nil, append([]string{"deploy:machine", "alpha", "--flake", le.flake, "--timeout", "5s"}, extra...)...)
	}

	out, err := deploy("--local")
	assert.NilError(t, err, out)
	v1, gen, _ := le.state()
	assert.Assert(t, strings.Contains(v1, "-nixos-system-alpha-test"), "the host runs %q", v1)
	assert.Equal(t, gen, 1)
	assert.Check(t, is.Contains(out, "nothing to copy, the store is this machine's"))
	assert.Check(t, is.Contains(out, "generation 0 -> 1"))
	assert.Check(t, !strings.Contains(out, "sudo"), "root needs no sudo")
	_, err = os.Lstat(v1)
	assert.Assert(t, os.IsNotExist(err), "built on the machine running the lab, not in the host: %v", err)

	// A new generation: activated, pending, confirmed by a new process.
	le.params(fmt.Sprintf(`{ version = "%s-2"; }`, v))
	out, err = deploy("--local")
	assert.NilError(t, err, out)
	v2, gen, log := le.state()
	assert.Assert(t, v2 != v1)
	assert.Equal(t, gen, 2)
	assert.Check(t, is.Contains(log, "confirmed "+v2), "the confirmation reached the host's agent:\n%s", log)

	// Nothing changed: nothing activated.
	out, err = deploy("--local")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "unchanged"))

	// deploy:rollback --local: back one generation, here.
	out, err = le.run("", nil, "deploy:rollback", "alpha", "--local", "--flake", le.flake)
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "alpha: generation 2 -> 1"))
	cur, gen, _ := le.state()
	assert.Equal(t, cur, v1)
	assert.Equal(t, gen, 1)
	out, err = deploy("--local") // v2 again
	assert.NilError(t, err, out)
	cur, genV2, _ := le.state()
	assert.Equal(t, cur, v2)
	assert.Assert(t, genV2 > 1, "generation %d (a new one, or Nix's latest when it holds v2 already)", genV2)

	// A failing activation rolls back: the host stays on v2.
	le.params(fmt.Sprintf(`{ version = "%s-3"; mode = "fail"; }`, v))
	out, err = deploy("--local")
	assert.Assert(t, err != nil, out)
	assert.Check(t, is.Contains(out, "rolled back"))
	cur, gen, _ = le.state()
	assert.Equal(t, cur, v2)
	assert.Equal(t, gen, genV2)

	// A failing health check, run by the confirming process, aborts the
	// pending activation: the agent rolls back at once.
	le.params(fmt.Sprintf(`{ version = "%s-4"; health = [ "test -e /run/no-such-file" ]; }`, v))
	out, err = deploy("--local")
	assert.Assert(t, err != nil, out)
	assert.Check(t, is.Contains(out, `health check "test -e /run/no-such-file" failed`))
	assert.Check(t, is.Contains(out, "rolled back"))
	cur, gen, _ = le.state()
	assert.Equal(t, cur, v2)
	assert.Equal(t, gen, genV2)

	// No --local: the host's name is the machine's, so it is this machine.
	le.params(fmt.Sprintf(`{ version = "%s-5"; }`, v))
	out, err = le.run("", []string{"unshare", "--uts", "sh", "-c", `hostname alpha.example && exec "$@"`, "sh"},
		"deploy:machine", "alpha", "--flake", le.flake, "--timeout", "5s")
	assert.NilError(t, err, out)
	v5, gen, _ := le.state()
	assert.Assert(t, strings.Contains(v5, "-nixos-system-alpha-test") && v5 != v2, v5)
	assert.Assert(t, gen > genV2, "generation %d", gen)

	// --local deploys one machine, the one it runs on.
	out, err = le.run("", nil, "deploy:fleet", "alpha", "beta", "--flake", le.flake, "--local")
	assert.Assert(t, err != nil, out)
	assert.Check(t, is.Contains(out, "--local deploys the machine this runs on: name exactly that machine (got alpha, beta)"))
}

// TestLocalDeployThroughSudo: a deployer that is not root (nobody, whose
// Nix goes through the host's nix-daemon) deploys the host through sudo -n
// when sudoers lets it run /bin/sh without a password, and is refused,
// with the fix, when sudo would ask for one with no terminal; nothing
// changes then.
func TestLocalDeployThroughSudo(t *testing.T) {
	if _, err := exec.LookPath("sudo"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI without sudo: scripts/install-lab-deps.sh installs it")
		}
		t.Skip("no sudo: scripts/install-lab-deps.sh installs it")
	}
	le := newLocalEnv(t, "beta")
	ctx := context.Background()
	// The host's own sudoers, bound over /etc/sudoers in its mount
	// namespace only, and a nix-daemon for the user's Nix.
	sudoers := filepath.Join(le.dir, "sudoers")
	write := func(rule string) {
		// In place: the bind mount holds this inode.
		f, err := os.OpenFile(sudoers, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o440)
		assert.NilError(t, err)
		_, err = f.WriteString("Defaults env_reset\nDefaults secure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\nroot ALL=(ALL:ALL) ALL\n" + rule + "\n")
		assert.NilError(t, err)
		assert.NilError(t, f.Close())
	}
	write("nobody ALL=(root) NOPASSWD: /bin/sh")
	_, err := le.lab.Exec(ctx, "beta", "mount", "--bind", sudoers, "/etc/sudoers")
	assert.NilError(t, err)
	stopDaemon := startHostDaemon(t, le.lab, "beta")
	defer stopDaemon()

	deploy := func() (string, error) {
		return le.run("nobody", nil, "deploy:machine", "beta", "--local", "--flake", le.flake, "--timeout", "5s")
	}
	out, err := deploy()
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "not root: the host-side scripts run through sudo -n /bin/sh"))
	v1, gen, log := le.state()
	assert.Assert(t, strings.Contains(v1, "-nixos-system-beta-test"), v1)
	assert.Equal(t, gen, 1)
	assert.Check(t, is.Contains(log, "switch "+v1))

	le.params(`{ version = "sudo-2"; }`)
	out, err = deploy()
	assert.NilError(t, err, out)
	v2, gen, log := le.state()
	assert.Equal(t, gen, 2)
	assert.Check(t, is.Contains(log, "confirmed "+v2), "confirmed through a new sudo:\n%s", log)

	// sudo now wants a password, and there is no terminal.
	write("nobody ALL=(root) ALL")
	le.params(`{ version = "sudo-3"; }`)
	out, err = deploy()
	assert.Assert(t, err != nil, out)
	for _, want := range []string{
		"deploying this machine as nobody needs root, and sudo asks for a password with no terminal to ask on",
		// sudo's own words follow the command; on a machine whose host
		// name does not resolve (a fresh one) sudo first says "unable to
		// resolve host", so the two are checked apart.
		"(sudo -n /bin/sh: sudo: ",
		"sudo: a password is required)",
		"run the deploy from a terminal",
		`"nobody ALL=(root) NOPASSWD: /bin/sh"`,
	} {
		assert.Check(t, is.Contains(out, want))
	}
	cur, gen, _ := le.state()
	assert.Equal(t, cur, v2, "nothing changed")
	assert.Equal(t, gen, 2)
}

// startHostDaemon runs a nix-daemon inside the lab host (its namespaces,
// its /nix), for the host's users who are not root; stop ends it.
func startHostDaemon(t *testing.T, l *lab.Lab, machine string) (stop func()) {
	t.Helper()
	st, err := l.Status(context.Background())
	assert.NilError(t, err)
	pid := 0
	for _, s := range st {
		if s.Name == machine {
			pid = s.PID
		}
	}
	assert.Assert(t, pid > 0, "no sshd for %s", machine)
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-m", "-n", "--", "nix-daemon")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	assert.NilError(t, cmd.Start())
	hs, err := l.Hosts()
	assert.NilError(t, err)
	sock := filepath.Join(labtest.Host(t, hs, machine).StoreDir, "var", "nix", "daemon-socket", "socket")
	waitFor(t, 10*time.Second, "nix-daemon's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	return func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// TestLocalDeploySecrets: the repository's lab fleet deploys its cinnabar
// from inside cinnabar's host (--local, --no-provision: the machine is
// there already): the secrets are decrypted on the deploying side and
// installed by the upload's script through the local shell, each with its
// content and mode; the second deploy sends none.
func TestLocalDeploySecrets(t *testing.T) {
	le := newLocalEnv(t, "cinnabar")
	deploy := func() (string, error) {
		return le.run("", nil, "deploy:machine", "cinnabar", "--local", "--no-provision", "--flake", labFlake(t), "--timeout", "5s")
	}
	out, err := deploy()
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "using the lab's test identities"))
	v := labVars(t)
	before, after, err := v.DeploySecrets("cinnabar")
	assert.NilError(t, err)
	all := append(before, after...)
	assert.Assert(t, len(all) > 0)
	assert.Check(t, is.Contains(out, fmt.Sprintf("%d/%d", len(all), len(all))), "every secret sent")
	run := le.host("cinnabar").RunDir
	for _, n := range all {
		got, err := os.ReadFile(filepath.Join(run, "secrets", "vars", n))
		assert.NilError(t, err, "secret %s on the host", n)
		want, err := v.Get("cinnabar", n)
		assert.NilError(t, err)
		assert.Check(t, string(got) == string(want), "content of %s", n)
	}
	cur, gen, _ := le.state()
	assert.Assert(t, strings.Contains(cur, "cinnabar"), cur)
	assert.Equal(t, gen, 1)

	out, err = deploy()
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, fmt.Sprintf("0/%d", len(all))), "nothing sent the second time")
}

// TestLabHasNoLocalMachine: a lab deploy goes to the lab host even when
// the machine's name is this machine's host name, and --local with a lab
// is refused before anything happens.
func TestLabHasNoLocalMachine(t *testing.T) {
	e := newEnv(t)
	rows, err := e.deploy(func(o *Options) { o.HostName = "alpha" }, "alpha")
	assert.NilError(t, err)
	assert.Assert(t, rows[0].Paths > 0, "copied to the lab host")
	assert.Equal(t, e.current("alpha"), rows[0].Toplevel)

	_, err = e.deploy(func(o *Options) { o.Local = true }, "alpha")
	assert.ErrorContains(t, err, "--local deploys the machine this runs on, and a lab deploy goes to lab hosts")
}
