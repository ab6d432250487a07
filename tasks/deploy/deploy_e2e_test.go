//go:build e2e

package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/nettest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestDeployUpdateNoChangeRollback(t *testing.T) {
	e := newEnv(t)
	rows, err := e.deploy(nil, "alpha", "gamma")
	assert.NilError(t, err)
	assert.Equal(t, len(rows), 2)
	for _, r := range rows {
		assert.Equal(t, r.Result, "ok")
		assert.Assert(t, r.Paths > 0)
		assert.Equal(t, e.current(r.Machine), r.Toplevel)
	}
	v1 := rows[0].Toplevel

	e.params(`{ version = "2"; }`)
	rows, err = e.deploy(nil, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].GenBefore, 1)
	assert.Equal(t, rows[0].GenAfter, 2)
	assert.Equal(t, rows[0].Paths, 1, "only the toplevel changed")
	v2 := rows[0].Toplevel
	assert.Assert(t, v2 != v1)
	assert.Equal(t, e.current("alpha"), v2)

	rows, err = e.deploy(nil, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "unchanged")
	assert.Equal(t, rows[0].Paths, 0)

	d, err := New(e.options(nil))
	assert.NilError(t, err)
	from, to, err := d.Rollback(context.Background(), "alpha")
	assert.NilError(t, err)
	assert.Equal(t, from.Generation, 2)
	assert.Equal(t, to.Generation, 1)
	assert.Equal(t, e.current("alpha"), v1)

	// Dry run: plans the switch back to v2, changes nothing.
	rows, err = e.deploy(func(o *Options) { o.DryRun = true }, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "planned")
	assert.Equal(t, e.current("alpha"), v1)
}

// faultMachines are the machines the fault tests run on: alpha (nixos
// class) and gamma (darwin class, whose lab host is as strict as a Mac:
// posh, macOS's utilities only, no /proc; tasks/lab darwin.go).
var faultMachines = []string{"alpha", "gamma"}

// onEachFaultMachine runs body for each of faultMachines, in a lab of its
// own where the machine runs v1, the flake's first system.
func onEachFaultMachine(t *testing.T, body func(t *testing.T, e *testEnv, m, v1 string)) {
	for _, m := range faultMachines {
		t.Run(m, func(t *testing.T) {
			e := newEnv(t)
			rows, err := e.deploy(nil, m)
			assert.NilError(t, err)
			body(t, e, m, rows[0].Toplevel)
		})
	}
}

func TestFailingActivationStaysOnOldGeneration(t *testing.T) {
	onEachFaultMachine(t, func(t *testing.T, e *testEnv, m, v1 string) {
		e.params(`{ version = "2"; mode = "fail"; }`)
		rows, err := e.deploy(nil, m)
		var rb *activate.RollbackError
		assert.Assert(t, errors.As(err, &rb), "want a rollback, got %v", err)
		assert.Equal(t, rows[0].Result, "rolled back")
		assert.Assert(t, rows[0].RolledBack)
		assert.Equal(t, e.current(m), v1)
		log, _ := os.ReadFile(filepath.Join(e.host(m).StateDir, "deploy.log"))
		assert.Assert(t, is.Contains(string(log), "rollback"))
	})
}

func TestActivationBreakingSSHRollsBack(t *testing.T) {
	onEachFaultMachine(t, func(t *testing.T, e *testEnv, m, v1 string) {
		e.params(`{ version = "2"; mode = "break-ssh"; }`)
		t0 := time.Now()
		rows, err := e.deploy(nil, m)
		assert.Assert(t, err != nil, "a deploy that cannot confirm must fail")
		assert.Assert(t, rows[0].Result != "ok")
		// The host rolls itself back within the timeout (3 s) plus slack.
		waitFor(t, 15*time.Second, "host back on v1", func() bool { return e.current(m) == v1 })
		t.Logf("rolled back %s after the deploy started", time.Since(t0).Round(100*time.Millisecond))
		assert.Equal(t, rows[0].Result, "rolled back", "%v", err)

		// ssh works again, and the next deploy completes.
		e.params(`{ version = "3"; }`)
		rows, err = e.deploy(nil, m)
		assert.NilError(t, err)
		assert.Equal(t, e.current(m), rows[0].Toplevel)
	})
}

func TestChangedHostKeyRefused(t *testing.T) {
	e := newEnv(t)
	_, err := e.deploy(nil, "alpha")
	assert.NilError(t, err)

	// Deploy through an ssh_config whose known_hosts holds another key.
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	other := "alpha ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
	assert.NilError(t, os.WriteFile(kh, []byte(other), 0o644))
	cfg, err := os.ReadFile(e.lab.SSHConfigPath())
	assert.NilError(t, err)
	s := strings.ReplaceAll(string(cfg), e.lab.KnownHostsPath(), kh)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(s), 0o644))
	e.params(`{ version = "2"; }`)
	_, err = e.deploy(func(o *Options) { o.Lab = nil; o.SSHConfig = filepath.Join(dir, "ssh_config") }, "alpha")
	assert.ErrorContains(t, err, "CHANGED")
	assert.ErrorContains(t, err, "SHA256:")
}

func TestUnreachableHostOthersGoOn(t *testing.T) {
	e := newEnv(t)
	// beta's target is a port nothing listens on (the lab's ssh config
	// sends it through the lab's network, where the connection is
	// refused). The handshake timeout itself is tested in tasks/remote
	// (TestConnectTimeout).
	addr := fmt.Sprintf("127.0.0.1:%d", nettest.FreePort(t))
	e.params(fmt.Sprintf(`{ targets = { beta = "root@%s"; }; }`, addr))
	rows, err := e.deploy(func(o *Options) { o.ConnectTimeout = 2 * time.Second })
	assert.ErrorContains(t, err, "beta")
	assert.ErrorContains(t, err, "connect")
	got := map[string]string{}
	for _, r := range rows {
		got[r.Machine] = r.Result
	}
	assert.DeepEqual(t, got, map[string]string{"alpha": "ok", "beta": "failed", "gamma": "ok"})
}

func TestUnknownMachine(t *testing.T) {
	e := newEnv(t)
	_, err := e.deploy(nil, "nosuch")
	var um *fleet.UnknownMachineError
	assert.Assert(t, errors.As(err, &um), "%v", err)
	assert.ErrorContains(t, err, "alpha, beta, gamma")
	_, err = e.deploy(nil, "@nosuchtag")
	assert.ErrorContains(t, err, "no machine has tag")
}

// TestOtherMachineBrokenDoesNotBlock: a machine whose configuration does
// not evaluate, or does not build, fails alone, with Nix's message; the
// others deploy (alone or in the same fleet deployment).
func TestOtherMachineBrokenDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	e.params(`{ broken = [ "beta" ]; }`)
	rows, err := e.deploy(nil, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
	_, err = e.deploy(nil, "beta")
	assert.ErrorContains(t, err, "machine beta is broken on purpose")

	for _, tc := range []struct{ params, want string }{
		{`{ version = "2"; broken = [ "beta" ]; }`, "machine beta is broken on purpose"},
		{`{ version = "3"; unbuildable = [ "beta" ]; }`, "building beta fails on purpose"},
	} {
		e.params(tc.params)
		rows, err = e.deploy(nil, "alpha", "beta", "gamma")
		var fe *FailedError
		assert.Assert(t, errors.As(err, &fe), "%v", err)
		assert.Equal(t, len(fe.Lines), 1, "only beta fails: %v", fe.Lines)
		assert.ErrorContains(t, err, tc.want)
		byName := map[string]Summary{}
		for _, r := range rows {
			byName[r.Machine] = r
		}
		assert.Equal(t, byName["alpha"].Result, "ok", tc.params)
		assert.Equal(t, byName["gamma"].Result, "ok", tc.params)
		assert.Equal(t, byName["beta"].Result, "failed", tc.params)
	}
}

// TestHelperDeploy is not a test: TestSIGKILL runs the test binary with
// it to get a deployer process it can kill.
func TestHelperDeploy(t *testing.T) {
	if os.Getenv("VANIXIETS_DEPLOY_HELPER") == "" {
		t.Skip("helper process only")
	}
	var cfg lab.Config
	cfg.Name, cfg.Dir = os.Getenv("HELPER_LAB_NAME"), os.Getenv("HELPER_LAB_DIR")
	cfg.Range = netip.MustParsePrefix(os.Getenv("HELPER_LAB_RANGE"))
	cfg.Machines = []lab.Machine{{Name: "alpha"}, {Name: "beta"}, {Name: "gamma"}}
	l, err := lab.Open(cfg)
	assert.NilError(t, err)
	e := &testEnv{t: t, flake: os.Getenv("HELPER_FLAKE"), lab: l, dir: os.Getenv("HELPER_DIR")}
	e.cache = nil
	o := e.options(func(o *Options) { o.Out = os.Stdout })
	o.Cache = openCache(filepath.Join(e.dir, "cache"))
	d, err := New(o)
	assert.NilError(t, err)
	machine := os.Getenv("HELPER_MACHINE")
	if machine == "" {
		machine = "alpha"
	}
	_, err = d.Run(context.Background(), []string{machine})
	fmt.Println("helper deploy:", err)
}

func TestSIGKILLDeployer(t *testing.T) {
	tests := []struct {
		name, machine, mode string
		bigMB               int
		killAt              string // output line that triggers the kill
	}{
		{"mid-activation", "alpha", "slow", 0, "alpha      activate  ..."},
		{"mid-copy", "alpha", "ok", 200, "alpha      copy      ..."},
		// gamma's host is darwin class: the agent detaches without setsid.
		{"darwin mid-activation", "gamma", "slow", 0, "gamma      activate  ..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rows, err := e.deploy(nil, tc.machine)
			assert.NilError(t, err)
			v1 := rows[0].Toplevel

			e.params(fmt.Sprintf(`{ version = "2"; mode = %q; bigMB = %d; }`, tc.mode, tc.bigMB))
			cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperDeploy$", "-test.v")
			cmd.Env = append(os.Environ(), "VANIXIETS_DEPLOY_HELPER=1", "HELPER_LAB_NAME="+e.lab.Name(), "HELPER_LAB_DIR="+e.lab.Dir(), "HELPER_LAB_RANGE="+e.lab.Range().String(),
				"HELPER_FLAKE="+e.flake, "HELPER_DIR="+e.dir, "HELPER_MACHINE="+tc.machine)
			out, err := cmd.StdoutPipe()
			assert.NilError(t, err)
			assert.NilError(t, cmd.Start())
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			sc := bufio.NewScanner(out)
			killed := false
			for sc.Scan() {
				t.Log("helper: " + sc.Text())
				if strings.Contains(sc.Text(), tc.killAt) {
					time.Sleep(300 * time.Millisecond)
					cmd.Process.Signal(os.Kill)
					killed = true
					break
				}
			}
			assert.Assert(t, killed, "the helper never reached %q", tc.killAt)
			cmd.Wait()

			// The host ends on a working generation: v1 (rolled back, or never left).
			time.Sleep(5 * time.Second) // slow activation (3 s) + confirmation window (3 s) - elapsed
			waitFor(t, 20*time.Second, "host on v1", func() bool { return e.current(tc.machine) == v1 })
			if tc.mode == "slow" {
				// Killed mid-activation, the deployer never confirmed: the
				// agent outlived it, activated, and rolled back by itself,
				// then let go of the machine's lock.
				h := e.host(tc.machine)
				waitFor(t, 10*time.Second, "the agent's rollback in deploy.log", func() bool {
					log, _ := os.ReadFile(filepath.Join(h.StateDir, "deploy.log"))
					return strings.Contains(string(log), "-> "+v1+": no confirmation within 3s")
				})
				waitFor(t, 5*time.Second, "the machine's lock released", func() bool {
					_, err := os.Lstat(filepath.Join(h.RunDir, "vanixiets", "deploy", "lock"))
					return os.IsNotExist(err)
				})
			}

			// The next deploy completes.
			e.params(`{ version = "3"; }`)
			rows, err = e.deploy(nil, tc.machine)
			assert.NilError(t, err)
			assert.Equal(t, e.current(tc.machine), rows[0].Toplevel)
		})
	}
}

// TestLabHostsTrustSigningKeyAtCreation: a lab host trusts the fleet key
// from its creation, so the first deploy verifies signatures without
// editing the host's nix.conf; a host that does not trust the key refuses
// the paths (verification stays on).
func TestLabHostsTrustSigningKeyAtCreation(t *testing.T) {
	e := newEnv(t)
	_, err := e.lab.Up(context.Background(), []string{"alpha"})
	assert.NilError(t, err)
	confPath := filepath.Join(e.lab.Dir(), "hosts", "alpha", "etc-nix", "nix.conf")
	conf, err := os.ReadFile(confPath)
	assert.NilError(t, err)
	_, pub, err := e.lab.SigningKey(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(string(conf), "trusted-public-keys = "+pub))

	rows, err := e.deploy(nil, "alpha")
	assert.NilError(t, err)
	assert.Assert(t, rows[0].Paths > 0)
	after, err := os.ReadFile(confPath)
	assert.NilError(t, err)
	assert.Equal(t, string(after), string(conf), "the deploy left nix.conf alone")

	// A host that does not trust the key (signed with the same key, the
	// lab's, but outside the lab so nothing restores its trust): the copy
	// fails the host's check.
	untrusting := strings.ReplaceAll(string(conf), "trusted-public-keys = "+pub+"\n", "")
	assert.NilError(t, os.WriteFile(confPath, []byte(untrusting), 0o644))
	e.params(`{ version = "2"; }`)
	_, err = e.deploy(func(o *Options) {
		o.Lab, o.SSHConfig, o.Dir = nil, e.lab.SSHConfigPath(), filepath.Join(e.lab.Dir(), "deploy")
	}, "alpha")
	assert.ErrorContains(t, err, "does not trust")
	// The host's own daemon refused it (Nix's words, not a check of ours;
	// each version has its own, see tasks/nix).
	assert.Assert(t, nix.MissingSignatureRe.MatchString(err.Error()), "%v", err)
	// The lab restores its trust; the deploy goes through.
	rows, err = e.deploy(nil, "alpha")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].GenAfter, 2)
}
