//go:build e2e

package deploy

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// labFlake is the repository's lab flake (the main command's fleet).
func labFlake(b testing.TB) string {
	return labtest.Repo("lab")
}

// BenchmarkDeployCinnabarCold: deploy cinnabar of the lab flake to a fresh
// lab host (deleted before each iteration; build cached). Target <= 10 s.
func BenchmarkDeployCinnabarCold(b *testing.B) {
	e := newEnv(b)
	o := e.options(func(o *Options) { o.Flake = labFlake(b); o.Out = nil })
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e.lab.DeleteHost(context.Background(), "cinnabar")
		d, _ := New(o)
		b.StartTimer()
		rows, err := d.Run(context.Background(), []string{"cinnabar"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rows[0].Paths), "paths")
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/deploy")
}

// BenchmarkDeployCinnabarNoChange: second deploy, nothing changed.
// Target <= 2 s and 0 paths copied.
func BenchmarkDeployCinnabarNoChange(b *testing.B) {
	e := newEnv(b)
	o := e.options(func(o *Options) { o.Flake = labFlake(b); o.Out = nil })
	d, _ := New(o)
	if _, err := d.Run(context.Background(), []string{"cinnabar"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	paths := 0
	for i := 0; i < b.N; i++ {
		d, _ := New(o)
		rows, err := d.Run(context.Background(), []string{"cinnabar"})
		if err != nil {
			b.Fatal(err)
		}
		paths += rows[0].Paths
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/deploy")
	b.ReportMetric(float64(paths), "paths-copied")
}

// BenchmarkDeployFleet8: the 8 lab machines in parallel on fresh hosts vs
// cinnabar alone on a fresh host. Target ratio <= 2.
func BenchmarkDeployFleet8(b *testing.B) {
	e := newEnv(b)
	o := e.options(func(o *Options) { o.Flake = labFlake(b); o.Out = nil })
	var one, all, cpu, cpuOne, selfOne, selfAll time.Duration
	for i := 0; i < b.N; i++ {
		hs, _ := e.lab.Hosts()
		for _, h := range hs {
			e.lab.DeleteHost(context.Background(), h.Name)
		}
		// Hosts up first (keyed from the vars, as a deploy makes them):
		// the benchmark measures deploying, not lab:up.
		d, _ := New(o)
		if err := d.UpLab(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		d, _ = New(o)
		t0 := time.Now()
		c0, s0 := MachineCPU(), DeployerCPU()
		if _, err := d.Run(context.Background(), []string{"cinnabar"}); err != nil {
			b.Fatal(err)
		}
		one += time.Since(t0)
		cpuOne += MachineCPU() - c0
		selfOne += DeployerCPU() - s0
		d, _ = New(o)
		t0 = time.Now()
		c0, s0 = MachineCPU(), DeployerCPU()
		if _, err := d.Run(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		all += time.Since(t0)
		cpu += MachineCPU() - c0
		selfAll += DeployerCPU() - s0
	}
	// On a small machine the eight deployments are CPU-bound: the lab's
	// hosts (their sshd, nix-daemon, nix-env, activation scripts) run on the
	// deployer's cores. cpu-ms/eight over cores is the floor of ms/eight;
	// cpu-ms/eight against 8 x cpu-ms/one shows what running them at once
	// adds (nothing, when the deployer scales).
	// The deployer's own share (this process and the local nix processes it
	// ran), without the lab hosts' side: what a real fleet's deployer pays.
	b.ReportMetric(float64(selfOne.Milliseconds())/float64(b.N), "deployer-cpu-ms/one")
	b.ReportMetric(float64(selfAll.Milliseconds())/float64(b.N), "deployer-cpu-ms/eight")
	b.ReportMetric(float64(cpuOne.Milliseconds())/float64(b.N), "cpu-ms/one")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/eight")
	b.ReportMetric(float64(runtime.NumCPU()), "cores")
	b.ReportMetric(float64(one.Milliseconds())/float64(b.N), "ms/one")
	b.ReportMetric(float64(all.Milliseconds())/float64(b.N), "ms/eight")
	b.ReportMetric(float64(all)/float64(one), "ratio")
}

// BenchmarkCopy200MB: closure.Copy vs nix copy --to ssh-ng:// of the same
// 200 MB closure to the same (emptied) lab host, in the same run. Both
// skip the signature check (nix copy --no-check-sigs; no CheckSigs): the
// figure compares moving bytes.
func BenchmarkCopy200MB(b *testing.B) {
	e := newEnv(b)
	e.params(fmt.Sprintf(`{ bigMB = %d; }`, 200))
	n, err := nix.New()
	if err != nil {
		b.Fatal(err)
	}
	res, err := n.Build(context.Background(), nix.Installable(e.flake, "nixosConfigurations.alpha.config.system.build.toplevel"))
	if err != nil {
		b.Fatal(err)
	}
	top := res[0].Out()
	var ours, theirs time.Duration
	var bytes int64
	for i := 0; i < b.N; i++ {
		fresh := func() *remote.Client {
			e.lab.DeleteHost(context.Background(), "alpha")
			if _, err := e.lab.Up(context.Background(), []string{"alpha"}); err != nil {
				b.Fatal(err)
			}
			cfgb, _ := os.ReadFile(e.lab.SSHConfigPath())
			sc, _ := remote.ParseSSHConfig(cfgb)
			rc, _ := remote.Resolve("root@alpha", sc, nil)
			c, err := remote.Dial(context.Background(), rc)
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
		c := fresh()
		t0 := time.Now()
		rep, err := closure.Copy(context.Background(), n, c, closure.Options{}, top)
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		bytes = rep.Bytes
		c.Close()
		c = fresh()
		c.Close()
		t0 = time.Now()
		err = n.Copy(context.Background(), nix.CopyOptions{To: "ssh-ng://root@alpha", SSHOpts: "-F " + e.lab.SSHConfigPath(), NoCheckSigs: true}, top)
		if err != nil {
			b.Fatal(err)
		}
		theirs += time.Since(t0)
	}
	mbps := func(d time.Duration) float64 { return float64(bytes) * float64(b.N) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mbps(ours), "MB/s-ours")
	b.ReportMetric(mbps(theirs), "MB/s-nix-copy")
	b.ReportMetric(mbps(ours)/mbps(theirs)*100, "%-of-nix-copy")
}

// DeployerCPU is the CPU time of this process and of the children it has
// waited for (the local nix processes a deployment runs). The lab hosts'
// side (sshd, what it runs) is not among them while their sshd lives.
// Exported for the scale benchmarks in package deploy_test.
func DeployerCPU() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// MachineCPU is the machine's busy CPU time so far, all cores and every
// process (/proc/stat: user, nice, system, irq, softirq): the lab hosts'
// side, which a real fleet's hosts would run on their own CPUs, is
// MachineCPU's growth less DeployerCPU's.
func MachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			sum += v
		}
	}
	return time.Duration(sum) * 10 * time.Millisecond // USER_HZ = 100
}
