//go:build e2e

// End-to-end tests of the lab: real namespaces, real sshd, real nix. They
// need root and run in parallel with each other and with other packages'
// labs, each on its own name and random range (package labtest).
package lab_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

var ctx = context.Background()

// machineState is what the lab must leave as it found it.
type machineState struct{ netns, routes, mounts []string }

func lines(t testing.TB, argv ...string) []string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = &stderr // "ip netns list" warns about namespaces other labs are deleting
	out, err := cmd.Output()
	assert.NilError(t, err, "%s: %s", argv, stderr.String())
	var ls []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	sort.Strings(ls)
	return ls
}

func snapshot(t testing.TB) machineState {
	return machineState{
		netns:  lines(t, "ip", "netns", "list"),
		routes: lines(t, "ip", "route", "show", "table", "all"),
		mounts: lines(t, "mount"),
	}
}

// otherLab matches what concurrently running labs (of other tests or
// packages) add and remove while this test runs ("dev ifN": a link being
// deleted, shown by index).
var otherLab = regexp.MustCompile(`\bdev if[0-9]+\b|\bvx-|\bdev vx[0-9a-f]{8}m\b|^blackhole 10\.|/run/netns`)

// assertRestored checks that after Down nothing of lab l is left and
// nothing of the machine's is gone, tolerating other labs' churn.
// assertMageDown takes the lab down through the lab:down target, as a
// user does, and checks that lab:status then finds no hosts and that the
// machine is as it was before the test.
func assertMageDown(t *testing.T, mage func(args ...string) (string, error), before machineState, l *lab.Lab) {
	t.Helper()
	out, err := mage("lab:down")
	assert.NilError(t, err, out)
	out, err = mage("lab:status")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "no hosts"))
	assertRestored(t, before, l)
}

func assertRestored(t *testing.T, before machineState, l *lab.Lab) {
	t.Helper()
	after := snapshot(t)
	r := l.Range().Addr().As4()
	ours := []string{"vx-" + l.Name() + "-", fmt.Sprintf("%d.%d.%d.", r[0], r[1], r[2]), l.Dir()}
	for _, pair := range []struct {
		what          string
		before, after []string
	}{{"ip netns list", before.netns, after.netns}, {"ip route", before.routes, after.routes}, {"mount", before.mounts, after.mounts}} {
		in := func(set []string, s string) bool {
			i := sort.SearchStrings(set, s)
			return i < len(set) && set[i] == s
		}
		for _, a := range pair.after {
			for _, o := range ours {
				if strings.Contains(a, o) {
					t.Errorf("%s still shows the lab's %q: %s", pair.what, o, a)
				}
			}
			if !in(pair.before, a) && !otherLab.MatchString(a) {
				t.Errorf("%s gained %q", pair.what, a)
			}
		}
		for _, b := range pair.before {
			if !in(pair.after, b) && !otherLab.MatchString(b) {
				t.Errorf("%s lost %q", pair.what, b)
			}
		}
	}
	_, err := os.Stat(filepath.Join(l.Dir(), "hosts"))
	assert.Check(t, os.IsNotExist(err), "lab host directories left in %s", l.Dir())
}

func sshRun(t *testing.T, l *lab.Lab, host, cmd string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := l.SSH(ctx, host, cmd, nil, &out, &errb)
	assert.NilError(t, err, "ssh %s %q: %s", host, cmd, errb.String())
	assert.Equal(t, code, 0, "ssh %s %q: %s", host, cmd, errb.String())
	return out.String()
}

func randHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestUpAllMachines is the "done when": eight hosts up and alive,
// nix answering over real ssh inside a host, the host's /nix separate from
// the machine's, a working private store, and Down restoring the machine.
func TestUpAllMachines(t *testing.T) {
	t.Parallel()
	before := snapshot(t)
	l, hosts := labtest.Up(t, lab.Config{})
	assert.Equal(t, len(hosts), 8)

	st, err := l.Status(ctx)
	assert.NilError(t, err)
	assert.Equal(t, len(st), 8)
	for _, s := range st {
		assert.Check(t, s.Alive, "%s: %s", s.Name, s.Problem)
		assert.Check(t, l.Range().Contains(s.Addr), "%s at %s outside %s", s.Name, s.Addr, l.Range())
		assert.Check(t, s.HostKey != nil, s.Name)
		assert.Equal(t, s.Generation, "")
	}

	// Real ssh, strict host keys via the lab's own known_hosts.
	assert.Check(t, is.Contains(sshRun(t, l, "cinnabar", "nix --version"), "nix (Nix)"))
	assert.Check(t, is.Contains(sshRun(t, l, "galena", "cat /etc/nix/nix.conf"), "substituters =\n"))
	// The deploy target of the fleet resolves to the lab address. rosegold
	// is a darwin-class host, whose sessions' PATH has no ip (a Mac has
	// none): the machine's ip is named by its path.
	out, err := exec.Command("ssh", append(l.SSHArgs(), "root@rosegold", "/sbin/ip -4 -o addr show dev eth0")...).CombinedOutput()
	assert.NilError(t, err, string(out))
	assert.Check(t, is.Contains(string(out), labtest.Host(t, hosts, "rosegold").Addr.String()+"/30"))

	// A file written to the host's /nix is the host's alone.
	marker := "lab-e2e-" + randHex()
	sshRun(t, l, "cinnabar", "echo private > /nix/"+marker)
	_, err = os.Stat("/nix/" + marker)
	assert.Check(t, os.IsNotExist(err), "/nix/%s visible on the machine", marker)
	b, err := os.ReadFile(filepath.Join(labtest.Host(t, hosts, "cinnabar").StoreDir, marker))
	assert.NilError(t, err)
	assert.Equal(t, string(b), "private\n")
	_, err = l.Exec(ctx, "galena", "test", "-e", "/nix/"+marker)
	assert.Check(t, err != nil, "cinnabar's /nix file visible in galena")

	// Where a deploy installs a clan machine age key is the host's own: the
	// machine running the lab keeps its /var/lib/sops-nix untouched.
	sshRun(t, l, "cinnabar", "echo key > /var/lib/sops-nix/"+marker)
	_, err = os.Stat("/var/lib/sops-nix/" + marker)
	assert.Check(t, os.IsNotExist(err), "/var/lib/sops-nix/%s visible on the machine", marker)

	// The private store works: add in one host, export, import in another.
	path := strings.TrimSpace(sshRun(t, l, "cinnabar", "echo hello > /root/f && nix-store --add /root/f && nix-store --export $(nix-store --add /root/f) > /root/f.nar"))
	assert.Assert(t, strings.HasPrefix(path, "/nix/store/"), path)
	nar, err := os.ReadFile(filepath.Join(l.Dir(), "hosts", "cinnabar", "root", "f.nar"))
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(l.Dir(), "hosts", "galena", "root", "f.nar"), nar, 0o600))
	imported, err := l.Exec(ctx, "galena", "sh", "-c", "nix-store --import < /root/f.nar && nix-store --verify-path "+path+" && cat "+path)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(imported), "hello"))
	_, err = os.Stat(path)
	assert.Check(t, os.IsNotExist(err), "%s landed in the machine's store", path)

	// The host reaches the machine at its gateway address.
	gw := labtest.Host(t, hosts, "stibnite").Gateway
	_, err = l.Exec(ctx, "stibnite", "ip", "route", "get", gw.String())
	assert.NilError(t, err)
	// No way out: a host has no default route.
	out2, err := l.Exec(ctx, "stibnite", "ip", "route", "get", "192.0.2.1")
	assert.Check(t, err != nil, "host can route out of the lab: %s", out2)

	// A generation written by a deployer shows in Status.
	assert.NilError(t, os.WriteFile(filepath.Join(labtest.Host(t, hosts, "galena").StateDir, "generation"), []byte("7\n"), 0o644))
	sshRun(t, l, "cinnabar", "ln -sfn /nix/store/abc-system /run/current-system")
	st, err = l.Status(ctx)
	assert.NilError(t, err)
	gens := map[string]string{}
	for _, s := range st {
		gens[s.Name] = s.Generation
	}
	assert.Equal(t, gens["galena"], "7")
	assert.Equal(t, gens["cinnabar"], "/nix/store/abc-system")

	assert.NilError(t, l.Down(ctx))
	assertRestored(t, before, l)
	// Down twice is fine.
	assert.NilError(t, l.Down(ctx))
}

// TestUpIdempotentAndRepairsStale: a second Up keeps healthy hosts (same
// sshd), and a lab whose sshd was killed or whose namespace vanished is
// repaired by the next Up from a fresh process's view (a new *Lab).
func TestUpIdempotentAndRepairsStale(t *testing.T) {
	t.Parallel()
	before := snapshot(t)
	l, hosts := labtest.Up(t, lab.Config{}, "cinnabar", "galena", "argentum")
	pids := func(l *lab.Lab) map[string]int {
		st, err := l.Status(ctx)
		assert.NilError(t, err)
		m := map[string]int{}
		for _, s := range st {
			assert.Check(t, s.Alive, "%s: %s", s.Name, s.Problem)
			m[s.Name] = s.PID
		}
		return m
	}
	first := pids(l)
	again, err := l.Up(ctx, []string{"galena", "cinnabar", "argentum"})
	assert.NilError(t, err)
	assert.DeepEqual(t, pids(l), first)
	assert.Equal(t, labtest.Host(t, again, "cinnabar").Addr, labtest.Host(t, hosts, "cinnabar").Addr)

	// Crash damage: sshd killed, a namespace gone.
	assert.NilError(t, syscall.Kill(first["cinnabar"], syscall.SIGKILL))
	out, err := exec.Command("ip", "netns", "del", labtest.Host(t, hosts, "galena").Namespace).CombinedOutput()
	assert.NilError(t, err, string(out))
	waitDead(t, first["cinnabar"])
	st, err := l.Status(ctx)
	assert.NilError(t, err)
	for _, s := range st {
		assert.Equal(t, s.Alive, s.Name == "argentum", "%s: %s", s.Name, s.Problem)
	}

	l2, err := lab.Open(lab.Config{Dir: l.Dir(), Name: l.Name(), Range: l.Range(), Machines: labtest.LabFleetMachines(t)})
	assert.NilError(t, err)
	_, err = l2.Up(ctx, nil) // now every machine
	assert.NilError(t, err)
	now := pids(l2)
	assert.Equal(t, len(now), 8)
	assert.Equal(t, now["argentum"], first["argentum"], "healthy host restarted")
	assert.Check(t, now["cinnabar"] != first["cinnabar"])
	assert.Check(t, is.Contains(sshRun(t, l2, "galena", "nix --version"), "nix (Nix)"))

	assert.NilError(t, l2.Down(ctx))
	assertRestored(t, before, l2)
}

func waitDead(t *testing.T, pid int) {
	for i := 0; i < 500; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d did not die", pid)
}

var (
	buildOnce sync.Once
	fleetlab  string
	buildErr  error
)

// buildFleetlab builds tools/fleetlab once per test binary.
func buildFleetlab(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fleetlab-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		fleetlab = filepath.Join(dir, "fleetlab")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		out, err := exec.Command(goBin, "build", "-o", fleetlab, "github.com/vanixiets/vanixiets/tools/fleetlab").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build tools/fleetlab: %v: %s", err, out)
		}
	})
	assert.NilError(t, buildErr)
	return fleetlab
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fleetlab != "" {
		os.RemoveAll(filepath.Dir(fleetlab))
	}
	os.Exit(code)
}

// TestKilledRun kills "fleetlab up" with SIGKILL part-way through at
// several points; Down from the records alone must remove everything, and
// a later Up must complete the lab.
func TestKilledRun(t *testing.T) {
	t.Parallel()
	bin := buildFleetlab(t)
	for _, delay := range []time.Duration{30 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			before := snapshot(t)
			home := t.TempDir()
			cfg := labtest.Config(t, lab.Config{})
			cfg.Dir = filepath.Join(home, "lab", cfg.Name)
			cmd := exec.Command(bin, "up")
			cmd.Env = append(os.Environ(), "VANIXIETS_HOME="+home, "VANIXIETS_LAB_NAME="+cfg.Name, "VANIXIETS_LAB_RANGE="+cfg.Range.String())
			assert.NilError(t, cmd.Start())
			time.Sleep(delay)
			cmd.Process.Kill()
			cmd.Wait()

			l := labtest.Open(t, cfg)
			assert.NilError(t, l.Down(ctx))
			assertRestored(t, before, l)

			// Kill again, then let Up finish what the killed run started.
			cmd = exec.Command(bin, "up", "cinnabar,galena")
			cmd.Env = append(os.Environ(), "VANIXIETS_HOME="+home, "VANIXIETS_LAB_NAME="+cfg.Name, "VANIXIETS_LAB_RANGE="+cfg.Range.String())
			assert.NilError(t, cmd.Start())
			time.Sleep(delay)
			cmd.Process.Kill()
			cmd.Wait()
			hs, err := l.Up(ctx, []string{"cinnabar", "galena"})
			assert.NilError(t, err)
			assert.Equal(t, len(hs), 2)
			assert.Check(t, is.Contains(sshRun(t, l, "galena", "nix --version"), "nix (Nix)"))
			assert.NilError(t, l.Down(ctx))
			assertRestored(t, before, l)
		})
	}
}

// TestRangeOverlap: a range overlapping a route the machine has (here an
// "unreachable" route of our own making, or another lab's range) is refused
// naming the route, and nothing is made.
func TestRangeOverlap(t *testing.T) {
	// Not parallel: its own "unreachable" route would come and go inside
	// the before/after snapshots of the parallel tests (TestKilledRun saw
	// it "lost"); sequential tests finish before parallel ones start.
	before := snapshot(t)
	var rng = labtest.RandomRange()
	sub := strings.TrimSuffix(rng.String(), "/24") + "/26"
	for {
		out, err := exec.Command("ip", "route", "add", "unreachable", sub).CombinedOutput()
		if err == nil {
			break
		}
		if !strings.Contains(string(out), "File exists") {
			t.Fatalf("ip route add unreachable %s: %s", sub, out)
		}
		rng = labtest.RandomRange()
		sub = strings.TrimSuffix(rng.String(), "/24") + "/26"
	}
	t.Cleanup(func() { exec.Command("ip", "route", "del", "unreachable", sub).Run() })

	l := labtest.Open(t, lab.Config{Range: rng})
	_, err := l.Up(ctx, []string{"cinnabar"})
	assert.Assert(t, errors.Is(err, lab.ErrRangeOverlap), "%v", err)
	assert.ErrorContains(t, err, `"unreachable `+sub+`"`)
	assert.ErrorContains(t, err, "choose another private range")
	_, err = os.Stat(filepath.Join(l.Dir(), "hosts"))
	assert.Check(t, os.IsNotExist(err), "hosts made despite the overlap")
	exec.Command("ip", "route", "del", "unreachable", sub).Run()
	assertRestored(t, before, l)

	// Another lab's range: the first lab keeps it, the second is refused.
	a, _ := labtest.Up(t, lab.Config{}, "cinnabar")
	inside := strings.TrimSuffix(a.Range().String(), "/24") + "/28"
	b := labtest.Open(t, lab.Config{Range: netipPrefix(t, inside)})
	_, err = b.Up(ctx, []string{"cinnabar"})
	assert.Assert(t, errors.Is(err, lab.ErrRangeOverlap), "%v", err)
	assert.ErrorContains(t, err, strings.TrimSuffix(a.Range().Addr().String(), "0"))
	st, err := a.Status(ctx)
	assert.NilError(t, err)
	assert.Check(t, st[0].Alive)
}

// TestSSHDFailsToStart: sshd refusing its config is reported with its log,
// and every part of the failed hosts is removed; an existing host stays.
func TestSSHDFailsToStart(t *testing.T) {
	t.Parallel()
	before := snapshot(t)
	bad := labtest.Open(t, lab.Config{SSHDConfigExtra: "NoSuchOption yes\n"})
	_, err := bad.Up(ctx, []string{"cinnabar", "galena"})
	assert.ErrorContains(t, err, "sshd exited at start")
	assert.ErrorContains(t, err, "NoSuchOption")
	assert.ErrorContains(t, err, "sshd.log")
	assertRestored(t, before, bad)

	// Same lab, good config: cinnabar up. Then the bad config adds a host.
	good, _ := labtest.Up(t, lab.Config{}, "cinnabar")
	cfg := lab.Config{Dir: good.Dir(), Name: good.Name(), Range: good.Range(), SSHDConfigExtra: "NoSuchOption yes\n"}
	bad2, err := lab.Open(cfg)
	assert.NilError(t, err)
	_, err = bad2.CreateHost(ctx, "web-1", nil)
	assert.ErrorContains(t, err, "host web-1: sshd exited at start")
	st, err := good.Status(ctx)
	assert.NilError(t, err)
	assert.Equal(t, len(st), 1)
	assert.Check(t, st[0].Name == "cinnabar" && st[0].Alive)
	assert.Check(t, !strings.Contains(strings.Join(lines(t, "ip", "netns", "list"), "\n"), "vx-"+good.Name()+"-web-1"))
	kh, err := os.ReadFile(good.KnownHostsPath())
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(kh), "web-1"))
	assert.Check(t, is.Contains(sshRun(t, good, "cinnabar", "echo ok"), "ok"))
}

// TestCreateHostWithKey: the fake cloud's seam. A given host key is what
// sshd presents (strictly verified over ssh), a new key replaces it, and
// DeleteHost removes the host entirely.
func TestCreateHostWithKey(t *testing.T) {
	t.Parallel()
	before := snapshot(t)
	l, _ := labtest.Up(t, lab.Config{}, "cinnabar")
	_, k1, err := ed25519.GenerateKey(nil)
	assert.NilError(t, err)
	h, err := l.CreateHost(ctx, "web-1", k1)
	assert.NilError(t, err)
	want, _ := ssh.NewPublicKey(k1.Public())
	assert.DeepEqual(t, h.HostKey.Marshal(), want.Marshal())
	assert.Equal(t, h.Target, "root@web-1")
	served := sshRun(t, l, "web-1", "cat /etc/ssh/ssh_host_ed25519_key.pub")
	assert.Check(t, is.Contains(served, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(want)))))

	// Same key again: kept (same address, no restart).
	h2, err := l.CreateHost(ctx, "web-1", k1)
	assert.NilError(t, err)
	assert.Equal(t, h2.Addr, h.Addr)

	_, k2, _ := ed25519.GenerateKey(nil)
	h3, err := l.CreateHost(ctx, "web-1", k2)
	assert.NilError(t, err)
	want2, _ := ssh.NewPublicKey(k2.Public())
	assert.DeepEqual(t, h3.HostKey.Marshal(), want2.Marshal())
	served = sshRun(t, l, "web-1", "cat /etc/ssh/ssh_host_ed25519_key.pub")
	assert.Check(t, is.Contains(served, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(want2)))))

	_, err = l.CreateHost(ctx, "Bad_Name", nil)
	assert.ErrorContains(t, err, `lab host name "Bad_Name"`)

	assert.NilError(t, l.DeleteHost(ctx, "web-1"))
	assert.NilError(t, l.DeleteHost(ctx, "web-1"))
	kh, err := os.ReadFile(l.KnownHostsPath())
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(kh), "web-1"))
	_, err = l.Exec(ctx, "web-1", "true")
	assert.ErrorContains(t, err, "no host web-1")
	st, err := l.Status(ctx)
	assert.NilError(t, err)
	assert.Equal(t, len(st), 1)
	assert.NilError(t, l.Down(ctx))
	assertRestored(t, before, l)
}

// TestNotRoot: the lab refuses clearly before making anything.
func TestNotRoot(t *testing.T) {
	t.Parallel()
	bin := buildFleetlab(t)
	home := t.TempDir()
	os.Chmod(home, 0o777)
	os.Chmod(filepath.Dir(bin), 0o755)
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "up")
	cmd.Env = append(os.Environ(), "VANIXIETS_HOME="+home, "VANIXIETS_LAB_NAME=notroot", "VANIXIETS_LAB_RANGE="+labtest.RandomRange().String())
	out, err := cmd.CombinedOutput()
	assert.Check(t, err != nil)
	assert.Check(t, is.Contains(string(out), "must run as root"))
	_, err = os.Stat(filepath.Join(home, "lab"))
	assert.Check(t, os.IsNotExist(err), "non-root run made %s", filepath.Join(home, "lab"))
}

// BenchmarkUp8 brings up all 8 machines from nothing (Down untimed) and
// reports each idle host's sshd resident size.
func BenchmarkUp8(b *testing.B) {
	var rss, pss float64
	var n int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := labtest.Open(b, lab.Config{})
		b.StartTimer()
		if _, err := l.Up(ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st, err := l.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range st {
			rss += procKB(b, fmt.Sprintf("/proc/%d/status", s.PID), "VmRSS:")
			pss += procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", s.PID), "Pss:")
			n++
		}
		if err := l.Down(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(rss/float64(n), "sshd-RSS-kB/host")
	// PSS shares the common pages (libc, sshd's text) between the hosts:
	// what one more idle host really costs.
	b.ReportMetric(pss/float64(n), "sshd-PSS-kB/host")
}

// BenchmarkDown8 takes down a lab of 8 hosts (Up untimed).
func BenchmarkDown8(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := labtest.Open(b, lab.Config{})
		if _, err := l.Up(ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := l.Down(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// procKB reads a "<key> <n> kB" line of a /proc file.
func procKB(b *testing.B, path, key string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	b.Fatalf("no %s in %s", key, path)
	return 0
}

func netipPrefix(t *testing.T, s string) netip.Prefix {
	p, err := netip.ParsePrefix(s)
	assert.NilError(t, err)
	return p
}

// TestHostKeyHookAndSigningKey: Config.HostKey gives a machine's host its
// key (the fleet's generated one, in real use), a changed answer re-keys a
// kept host; every host's nix.conf trusts the lab's signing key from its
// creation on.
func TestHostKeyHookAndSigningKey(t *testing.T) {
	t.Parallel()
	_, k1, _ := ed25519.GenerateKey(nil)
	_, k2, _ := ed25519.GenerateKey(nil)
	key := k1
	cfg := lab.Config{HostKey: func(m string) (ed25519.PrivateKey, error) {
		if m == "cinnabar" {
			return key, nil
		}
		return nil, nil
	}}
	l, hs := labtest.Up(t, cfg, "cinnabar", "galena")
	want1, _ := ssh.NewPublicKey(k1.Public())
	byName := map[string]lab.Host{}
	for _, h := range hs {
		byName[h.Name] = h
	}
	assert.DeepEqual(t, byName["cinnabar"].HostKey.Marshal(), want1.Marshal())
	assert.Check(t, !bytes.Equal(byName["galena"].HostKey.Marshal(), want1.Marshal()))
	served := sshRun(t, l, "cinnabar", "cat /etc/ssh/ssh_host_ed25519_key.pub")
	assert.Check(t, is.Contains(served, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(want1)))))

	_, pub, err := l.SigningKey(ctx)
	assert.NilError(t, err)
	assert.Check(t, strings.HasPrefix(pub, lab.SigningKeyName+":"), pub)
	conf := sshRun(t, l, "galena", "cat /etc/nix/nix.conf")
	assert.Check(t, is.Contains(conf, "trusted-public-keys = "+pub))
	assert.Check(t, is.Contains(conf, "substituters ="))

	key = k2
	hs, err = l.Up(ctx, []string{"cinnabar"})
	assert.NilError(t, err)
	want2, _ := ssh.NewPublicKey(k2.Public())
	assert.DeepEqual(t, hs[0].HostKey.Marshal(), want2.Marshal())
	served = sshRun(t, l, "cinnabar", "cat /etc/ssh/ssh_host_ed25519_key.pub")
	assert.Check(t, is.Contains(served, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(want2)))))
}
