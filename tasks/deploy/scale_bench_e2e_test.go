//go:build e2e

package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/status"
)

// The fleet at scale: the generated 64-machine fleet (testdata/fleets/forest,
// tools/fleetgen) on a 64-host lab. These benchmarks are bench:deploy's,
// not the e2e job's (TestForest64 is the one e2e test on such a lab).

// forestFlake is the generated fleet's flake.
func forestFlake(tb testing.TB) string {
	return labtest.Repo("testdata", "fleets", "forest")
}

// forest is one 64-host lab of the generated fleet, with its own cache and
// deploy directory.
type forest struct {
	tb    testing.TB
	lab   *lab.Lab
	opt   deploy.Options
	names []string // the fleet's machines, sorted
}

// forestRepo copies the generated fleet, and the files it imports, into a
// git repository of its own: the flake's input is every tracked file of
// its repository (fleet.FilesOf), so in this shared checkout an edit to
// any file would turn a benchmark's "nothing changed" into an evaluation.
func forestRepo(tb testing.TB) string {
	tb.Helper()
	src := filepath.Join(forestFlake(tb), "..", "..", "..")
	repo := tb.TempDir()
	for _, f := range []string{"testdata/fleets/forest/flake.nix", "testdata/fleets/grove/keys/ops.agekey",
		"modules/_fleet/shape.nix", "modules/_fleet/lib.nix", "lab/nix/system.nix"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, f)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	flake := filepath.Join(repo, "testdata", "fleets", "forest")
	link, err := os.Readlink(filepath.Join(forestFlake(tb), "keys", "ops.agekey"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(flake, "keys"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(flake, "keys", "ops.agekey")); err != nil {
		tb.Fatal(err)
	}
	treetest.GitAdd(tb, repo)
	return flake
}

func newForest(tb testing.TB) *forest {
	tb.Helper()
	labtest.NeedRoot(tb)
	flake := forestRepo(tb)
	f, err := fleet.NewLoader().Load(context.Background(), flake)
	if err != nil {
		tb.Fatal(err)
	}
	if len(f.Machines) != 64 {
		tb.Fatalf("the generated fleet has %d machines, want 64", len(f.Machines))
	}
	dir := tb.TempDir()
	l := labtest.Open(tb, lab.Config{Machines: lab.MachinesFromFleet(f)})
	return &forest{tb: tb, lab: l, names: f.MachineNames(), opt: deploy.Options{
		Flake: flake, Lab: lab.ForDeploy(l), Cache: cache.NewLocal(filepath.Join(dir, "cache")), Dir: filepath.Join(dir, "deploy"),
		Timeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, VarsDir: "-",
	}}
}

func (f *forest) deployer(mod func(*deploy.Options)) *deploy.Deployer {
	o := f.opt
	if mod != nil {
		mod(&o)
	}
	d, err := deploy.New(o)
	if err != nil {
		f.tb.Fatal(err)
	}
	return d
}

// spread picks n of the fleet's machines, evenly over the sorted names, so
// that every size holds both classes and several roles once it can.
func (f *forest) spread(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, f.names[i*len(f.names)/n])
	}
	return out
}

// fresh deletes the machines' hosts and brings them up again, empty (not
// timed: the figures are the deploy's).
func (f *forest) fresh(names []string) {
	for _, n := range names {
		if err := f.lab.DeleteHost(context.Background(), n); err != nil {
			f.tb.Fatal(err)
		}
	}
	if err := f.deployer(nil).UpLab(context.Background(), names); err != nil {
		f.tb.Fatal(err)
	}
}

// hostsCPU is the CPU the lab hosts' side has used so far: for each host's
// sshd, its own time and that of its ended descendants (each connection's
// sshd, reaped when the connection ends, brings its sessions' and their
// commands' time with it). Unlike deploy.MachineCPU it counts nothing else that
// runs on this shared machine. Call it when the deploy's connections are
// closed.
func (f *forest) hostsCPU() time.Duration {
	st, err := f.lab.Status(context.Background())
	if err != nil {
		f.tb.Fatal(err)
	}
	var sum int64
	for _, h := range st {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(h.PID) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14-17)
			v, _ := strconv.ParseInt(fs[i], 10, 64)
			sum += v
		}
	}
	return time.Duration(sum) * 10 * time.Millisecond // USER_HZ = 100
}

// resetPeakRSS starts a new peak resident size for this process (Linux:
// writing 5 to /proc/self/clear_refs resets VmHWM).
func resetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Fatal(err)
	}
}

// peakRSSKB is this process's peak resident size since resetPeakRSS.
func peakRSSKB(tb testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// slope is the least-squares slope of ys over xs: the cost of one more.
func slope(xs, ys []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// BenchmarkScaleFleetCPU: the deployer's own CPU (this process and its nix
// children; the lab hosts' side excluded) for a deploy of 1, 8, 32 and 64
// machines of the generated fleet to fresh hosts (4 paths copied and one
// activation each), its growth rate (cpu-ms/extra-machine: the
// least-squares slope over the four sizes; target at most 15 ms), the
// marginal cost of each step up (linear or better: a later step costs no
// more per machine than an earlier one), and the deployer's peak resident
// size during the 64 (target at most 200 MB).
//
// Two passes: "cold" is each size's first deploy, whose selection the
// flake was never evaluated for (the toplevels' evaluation runs, one nix
// eval per class, as after a change to the flake; the closures are built
// already), and the warm pass deploys the same sizes again to fresh hosts
// with that evaluation cached: what a deploy costs per machine.
func BenchmarkScaleFleetCPU(b *testing.B) {
	f := newForest(b)
	sizes := []int{1, 8, 32, 64}
	var (
		cold, warm, wall = make([]time.Duration, len(sizes)), make([]time.Duration, len(sizes)), make([]time.Duration, len(sizes))
		rss              float64
	)
	pass := func(cpu []time.Duration) {
		for j, n := range sizes {
			names := f.spread(n)
			b.StopTimer()
			f.fresh(names)
			d := f.deployer(nil)
			if n == 64 {
				runtime.GC()
				resetPeakRSS(b)
			}
			b.StartTimer()
			t0, c0 := time.Now(), deploy.DeployerCPU()
			rows, err := d.Run(context.Background(), names)
			if err != nil {
				b.Fatalf("%d machines: %v\n%s", n, err, deploy.Table(rows))
			}
			cpu[j] += deploy.DeployerCPU() - c0
			wall[j] += time.Since(t0)
			if n == 64 {
				rss = max(rss, peakRSSKB(b))
			}
			for _, r := range rows {
				if r.Paths == 0 {
					b.Fatalf("%s copied nothing to its fresh host:\n%s", r.Machine, deploy.Table(rows))
				}
			}
		}
	}
	for i := 0; i < b.N; i++ {
		if i == 0 {
			pass(cold)
			for j := range wall {
				wall[j] = 0
			}
		}
		pass(warm)
	}
	xs := make([]float64, len(sizes))
	report := func(cpu []time.Duration, runs int, suffix string) {
		ys := make([]float64, len(sizes))
		for j, n := range sizes {
			xs[j] = float64(n)
			ys[j] = float64(cpu[j].Milliseconds()) / float64(runs)
			b.ReportMetric(ys[j], "cpu-ms/"+strconv.Itoa(n)+suffix)
		}
		b.ReportMetric(slope(xs, ys), "cpu-ms/extra-machine"+suffix)
		for j := 1; j < len(sizes); j++ {
			b.ReportMetric((ys[j]-ys[j-1])/(xs[j]-xs[j-1]), "cpu-ms/extra-"+strconv.Itoa(sizes[j-1])+"-"+strconv.Itoa(sizes[j])+suffix)
		}
	}
	report(cold, 1, "-cold")
	report(warm, b.N, "")
	for j, n := range sizes {
		b.ReportMetric(float64(wall[j].Milliseconds())/float64(b.N), "wall-ms/"+strconv.Itoa(n))
	}
	b.ReportMetric(rss/1024, "peak-RSS-MB/64")
}

// BenchmarkScaleRedeploy64NoChange: a deploy of all 64 machines with nothing
// changed (target at most 5 s), after one that put everything in place:
// 0 paths, no activation, the deployer's CPU for it.
func BenchmarkScaleRedeploy64NoChange(b *testing.B) {
	f := newForest(b)
	if rows, err := f.deployer(nil).Run(context.Background(), nil); err != nil {
		b.Fatalf("%v\n%s", err, deploy.Table(rows))
	}
	b.ResetTimer()
	var cpu, all, hosts time.Duration
	for i := 0; i < b.N; i++ {
		c0, m0, h0 := deploy.DeployerCPU(), deploy.MachineCPU(), f.hostsCPU()
		rows, err := f.deployer(nil).Run(context.Background(), nil)
		if err != nil {
			b.Fatalf("%v\n%s", err, deploy.Table(rows))
		}
		cpu += deploy.DeployerCPU() - c0
		all += deploy.MachineCPU() - m0
		b.StopTimer()
		time.Sleep(200 * time.Millisecond) // the hosts' sshd reap their ended connections
		hosts += f.hostsCPU() - h0
		b.StartTimer()
		for _, r := range rows {
			if r.Paths != 0 || r.Result != "unchanged" {
				b.Fatalf("%s: %d paths, %s on a redeploy with nothing changed", r.Machine, r.Paths, r.Result)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/redeploy64")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "deployer-cpu-ms")
	// Everything the machine did meanwhile: the hosts' sshd, sessions and
	// nix-daemons (and whatever else runs on this shared machine).
	b.ReportMetric(float64(all.Milliseconds())/float64(b.N), "machine-cpu-ms")
	// The hosts' side alone: on a real fleet it runs on the hosts' CPUs.
	b.ReportMetric(float64(hosts.Milliseconds())/float64(b.N), "hosts-cpu-ms")
	b.ReportMetric(float64(runtime.NumCPU()), "cores")
}

// BenchmarkScaleStatus64: fleet:status (tasks/status.Run) over the 64 deployed
// machines (target at most 2 s): one connection per host, the flake's
// toplevels meanwhile. A status before the timer records the toplevels
// (status.Toplevels), as the previous fleet:status of an unchanged flake
// has; the first after an edit evaluates them again.
func BenchmarkScaleStatus64(b *testing.B) {
	f := newForest(b)
	if rows, err := f.deployer(nil).Run(context.Background(), nil); err != nil {
		b.Fatalf("%v\n%s", err, deploy.Table(rows))
	}
	n, err := nix.New()
	if err != nil {
		b.Fatal(err)
	}
	opt := status.Options{Toplevels: &status.Toplevels{Flake: f.opt.Flake, Cache: f.opt.Cache, Nix: n}}
	if _, err := status.Run(context.Background(), f.deployer(nil), nil, opt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var cpu, all time.Duration
	for i := 0; i < b.N; i++ {
		c0, m0 := deploy.DeployerCPU(), deploy.MachineCPU()
		rows, err := status.Run(context.Background(), f.deployer(nil), nil, opt)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			if r.State != status.UpToDate {
				b.Fatalf("%s: %s (%s)", r.Machine, r.State, r.Error)
			}
		}
		if len(rows) != 64 {
			b.Fatalf("%d rows, want 64", len(rows))
		}
		cpu += deploy.DeployerCPU() - c0
		all += deploy.MachineCPU() - m0
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/status64")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "deployer-cpu-ms")
	b.ReportMetric(float64(all.Milliseconds())/float64(b.N), "machine-cpu-ms")
}
