package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/vanixiets/vanixiets/tasks/tail"
)

// run runs a command and returns a one-line error carrying its output.
func run(ctx context.Context, argv ...string) error {
	_, err := output(ctx, argv...)
	return err
}

func output(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, tail.LastLines(out.String(), 3))
	}
	return out.Bytes(), nil
}

// route is one entry of "ip -j route show table all".
type route struct {
	Type  string `json:"type"`
	Dst   string `json:"dst"`
	Dev   string `json:"dev"`
	Table string `json:"table"`
}

func (r route) String() string {
	s := r.Dst
	if r.Type != "" && r.Type != "unicast" {
		s = r.Type + " " + s
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != "" && r.Table != "main" {
		s += " table " + r.Table
	}
	return s
}

func (r route) prefix() (netip.Prefix, bool) {
	if r.Dst == "" || r.Dst == "default" {
		return netip.Prefix{}, false
	}
	if p, err := netip.ParsePrefix(r.Dst); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(r.Dst); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// routes lists the machine's IPv4 routes in every table.
func routes(ctx context.Context) ([]route, error) {
	out, err := output(ctx, "ip", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	return parseRoutes(out)
}

// parseRoutes parses the JSON of "ip -j route show".
func parseRoutes(b []byte) ([]route, error) {
	var rs []route
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("parse ip -j route output: %v", err)
	}
	return rs, nil
}

// overlaps returns the first machine route that overlaps the lab's range and
// is not the lab's own (its blackhole route or a route over one of its links).
// Default routes do not count: they cover everything and are what the
// blackhole route is there to override.
func overlaps(rs []route, rng netip.Prefix, ownBlackhole bool, ownDevs map[string]bool) (route, bool) {
	for _, r := range rs {
		p, ok := r.prefix()
		if !ok || !p.Overlaps(rng) {
			continue
		}
		if ownDevs[r.Dev] {
			continue
		}
		if ownBlackhole && r.Type == "blackhole" && p == rng && (r.Table == "" || r.Table == "main") {
			continue
		}
		return r, true
	}
	return route{}, false
}

func netnsExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

func linkExists(dev string) bool {
	_, err := os.Stat("/sys/class/net/" + dev)
	return err == nil
}

// isMountPoint reports whether path is a mount point in this process's
// mount namespace.
func isMountPoint(path string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && fields[4] == path {
			return true
		}
	}
	return false
}

// The first "ip netns add" on a machine makes /run/netns a shared bind
// mount of itself, which outlives every namespace. So that Down can leave
// "mount" as it was, the lab makes that mount itself and leaves a marker
// (netnsMarker) saying it did; the Down that sees /run/netns empty removes
// both. Labs of other processes coordinate by an flock on /run/netns held
// around "ip netns add" and around that check, so a namespace is never
// added between another lab's emptiness check and its unmount.
const (
	netnsDir    = "/run/netns"
	netnsMarker = "/run/vanixiets-lab-netns-mount"
)

func withNetnsLock(fn func() error) error {
	if _, err := os.Stat(netnsDir); os.IsNotExist(err) {
		if err := os.MkdirAll(netnsDir, 0o755); err != nil {
			return err
		}
		// Only create the marker when we made the directory too.
		if _, err := os.Stat(netnsMarker); os.IsNotExist(err) {
			os.WriteFile(netnsMarker, []byte("dir\n"), 0o644)
		}
	}
	f, err := os.Open("/run")
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock /run: %v", err)
	}
	return fn()
}

// ensureNetnsMount makes /run/netns a shared self bind mount (what iproute2
// would do), recording that the lab made it. Call under withNetnsLock.
func ensureNetnsMount() error {
	if isMountPoint(netnsDir) {
		return nil
	}
	b, _ := os.ReadFile(netnsMarker)
	if !strings.Contains(string(b), "mount") {
		if err := os.WriteFile(netnsMarker, append(b, "mount\n"...), 0o644); err != nil {
			return err
		}
	}
	if err := bindShared(netnsDir); err != nil {
		return fmt.Errorf("make %s a shared bind mount: %v", netnsDir, err)
	}
	return nil
}

// releaseNetnsMount undoes ensureNetnsMount (and the directory) when a lab
// made them and no named namespace is left, whoever's.
func releaseNetnsMount() error {
	return withNetnsLock(func() error {
		b, err := os.ReadFile(netnsMarker)
		if err != nil {
			return nil
		}
		if ents, err := os.ReadDir(netnsDir); err != nil || len(ents) > 0 {
			return nil
		}
		if strings.Contains(string(b), "mount") {
			for i := 0; i < 8 && isMountPoint(netnsDir); i++ {
				if err := unmount(netnsDir); err != nil {
					return fmt.Errorf("unmount %s: %v", netnsDir, err)
				}
			}
		}
		os.Remove(netnsMarker)
		if strings.Contains(string(b), "dir") {
			os.Remove(netnsDir)
		}
		return nil
	})
}

// addNetwork makes the host's namespace and veth pair: the machine side
// (r.Veth) has r.Gateway/30, the host side is eth0 with r.Addr/30 and a
// route to the whole lab range via the machine.
func (l *Lab) addNetwork(ctx context.Context, r hostRecord) error {
	err := withNetnsLock(func() error {
		if err := ensureNetnsMount(); err != nil {
			return err
		}
		return run(ctx, "ip", "netns", "add", r.Netns)
	})
	if err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "link", "add", r.Veth, "type", "veth", "peer", "name", "eth0", "netns", r.Netns},
		{"ip", "addr", "add", r.Gateway.String() + "/30", "dev", r.Veth},
		{"ip", "link", "set", r.Veth, "up"},
		{"ip", "-n", r.Netns, "link", "set", "lo", "up"},
		{"ip", "-n", r.Netns, "addr", "add", r.Addr.String() + "/30", "dev", "eth0"},
		{"ip", "-n", r.Netns, "link", "set", "eth0", "up"},
		{"ip", "-n", r.Netns, "route", "add", l.cfg.Range.String(), "via", r.Gateway.String()},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// removeNetwork deletes the namespace (which deletes the veth pair with it)
// and then the machine side of the pair if it is still there. Missing parts
// are not errors: this also cleans up after a crash half-way through.
func removeNetwork(ctx context.Context, r hostRecord) error {
	var errs []string
	if r.Netns != "" && netnsExists(r.Netns) {
		if err := run(ctx, "ip", "netns", "del", r.Netns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if r.Veth != "" && linkExists(r.Veth) {
		if err := run(ctx, "ip", "link", "del", r.Veth); err != nil && linkExists(r.Veth) {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// netnsPIDs lists the processes inside a named network namespace.
func netnsPIDs(ctx context.Context, ns string) []int {
	if !netnsExists(ns) {
		return nil
	}
	out, err := output(ctx, "ip", "netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var p int
		if _, err := fmt.Sscan(f, &p); err == nil && p > 1 && p != os.Getpid() {
			pids = append(pids, p)
		}
	}
	return pids
}

// envPIDs lists processes whose environment holds the line env: every
// process the lab starts for a host carries VANIXIETS_LAB_HOST=<host dir>,
// from "ip netns exec" through sshd, so a run killed between starting sshd
// and recording its pid leaves nothing Down cannot find.
func envPIDs(env string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(env + "\x00")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if bytes.HasPrefix(b, want) || bytes.Contains(b, append([]byte{0}, want...)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
