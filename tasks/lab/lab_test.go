package lab

import (
	"context"
	"crypto/ed25519"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

func TestOpenValidates(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"defaults", Config{Dir: dir}, ""},
		{"bad name", Config{Dir: dir, Name: "a b"}, `lab name "a b"`},
		{"long name", Config{Dir: dir, Name: strings.Repeat("x", 25)}, "at most 24"},
		{"public range", Config{Dir: dir, Range: netip.MustParsePrefix("8.8.0.0/16")}, "not private"},
		{"too big", Config{Dir: dir, Range: netip.MustParsePrefix("10.0.0.0/8")}, "between /16 and /29"},
		{"too small", Config{Dir: dir, Range: netip.MustParsePrefix("10.1.1.0/30")}, "between /16 and /29"},
		{"ipv6", Config{Dir: dir, Range: netip.MustParsePrefix("fd00::/64")}, "IPv4"},
		{"bad machine", Config{Dir: dir, Machines: []Machine{{Name: "Bad_Name"}}}, `machine name "Bad_Name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(tc.cfg)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, l.Range(), DefaultRange)
			assert.Equal(t, l.Name(), DefaultName)
			// The lab knows no fleet of its own: machines come from one.
			assert.Equal(t, len(l.Machines()), 0)
		})
	}
}

func TestDefaultFromEnv(t *testing.T) {
	t.Setenv("VANIXIETS_HOME", t.TempDir())
	t.Setenv("VANIXIETS_LAB_NAME", "other")
	t.Setenv("VANIXIETS_LAB_RANGE", "10.99.0.0/20")
	l, err := Default()
	assert.NilError(t, err)
	assert.Equal(t, l.Name(), "other")
	assert.Equal(t, l.Range(), netip.MustParsePrefix("10.99.0.0/20"))
	assert.Equal(t, l.Dir(), filepath.Join(os.Getenv("VANIXIETS_HOME"), "lab", "other"))

	t.Setenv("VANIXIETS_LAB_RANGE", "nonsense")
	_, err = Default()
	assert.ErrorContains(t, err, "VANIXIETS_LAB_RANGE")
}

// Unknown machines are rejected before anything is checked or made, so this
// runs without root.
func TestUpUnknownMachine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := Open(Config{Dir: dir, Machines: []Machine{{Name: "cinnabar"}, {Name: "galena"}}})
	assert.NilError(t, err)
	_, err = l.Up(context.Background(), []string{"cinnabar", "nosuch", "other"})
	assert.Error(t, err, "lab: unknown machine nosuch, other; the fleet has: cinnabar, galena")
	// A lab opened without a fleet says where the machines come from.
	bare, err := Open(Config{Dir: dir})
	assert.NilError(t, err)
	_, err = bare.Up(context.Background(), []string{"ash"})
	assert.ErrorContains(t, err, "opened without a fleet")
	assert.ErrorContains(t, err, "lab:up --flake <flake>")
	_, err = os.Stat(dir)
	assert.Assert(t, os.IsNotExist(err), "Up of an unknown machine made %s", dir)
}

func TestSubnet(t *testing.T) {
	for _, tc := range []struct {
		rng      string
		index    int
		gw, addr string
		ok       bool
	}{
		{"10.237.0.0/16", 0, "10.237.0.1", "10.237.0.2", true},
		{"10.237.0.0/16", 1, "10.237.0.5", "10.237.0.6", true},
		{"10.237.0.0/16", 64, "10.237.1.1", "10.237.1.2", true},
		{"10.237.0.0/16", 16383, "10.237.255.253", "10.237.255.254", true},
		{"10.237.0.0/16", 16384, "", "", false},
		{"192.168.7.0/29", 1, "192.168.7.5", "192.168.7.6", true},
		{"192.168.7.0/29", 2, "", "", false},
		{"10.1.2.0/24", -1, "", "", false},
	} {
		l, err := Open(Config{Dir: t.TempDir(), Range: netip.MustParsePrefix(tc.rng)})
		assert.NilError(t, err)
		gw, addr, ok := l.subnet(tc.index)
		assert.Equal(t, ok, tc.ok, "%s #%d", tc.rng, tc.index)
		if ok {
			assert.Equal(t, gw.String(), tc.gw)
			assert.Equal(t, addr.String(), tc.addr)
		}
	}
}

func TestNamesFitLinkLimit(t *testing.T) {
	a, _ := Open(Config{Dir: "/a", Name: strings.Repeat("n", 24)})
	b, _ := Open(Config{Dir: "/b", Name: strings.Repeat("n", 24)})
	ns, veth := a.names("cinnabar")
	assert.Equal(t, ns, "vx-"+strings.Repeat("n", 24)+"-cinnabar")
	assert.Assert(t, len(veth) <= 15, veth)
	_, vethB := b.names("cinnabar")
	_, vethA2 := a.names("galena")
	assert.Assert(t, veth != vethB && veth != vethA2)
}

const routesJSON = `[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},
{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},
{"type":"blackhole","dst":"10.237.0.0/16","flags":[]},
{"dst":"10.237.0.0/30","dev":"vx01020304m","protocol":"kernel","scope":"link","prefsrc":"10.237.0.1","flags":[]},
{"type":"local","dst":"10.237.0.1","dev":"vx01020304m","table":"local","protocol":"kernel","scope":"host","prefsrc":"10.237.0.1","flags":[]},
{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},
{"type":"local","dst":"172.20.0.5","dev":"eth1","table":"local","flags":[]}]`

func TestOverlaps(t *testing.T) {
	rs, err := parseRoutes([]byte(routesJSON))
	assert.NilError(t, err)
	own := map[string]bool{"vx01020304m": true}
	for _, tc := range []struct {
		rng       string
		ownBH     bool
		own       map[string]bool
		wantRoute string
	}{
		{"10.237.0.0/16", true, own, ""},                                       // the lab's own routes
		{"10.237.0.0/16", false, own, "blackhole 10.237.0.0/16"},               // someone else's blackhole
		{"10.237.0.0/16", true, nil, "10.237.0.0/30 dev vx01020304m"},          // links of another lab
		{"10.237.5.0/24", false, own, "blackhole 10.237.0.0/16"},               // inside another lab's range
		{"192.0.0.0/16", false, nil, "192.0.2.0/24 dev eth0"},                  // machine's LAN
		{"172.20.0.0/24", false, nil, "local 172.20.0.5 dev eth1 table local"}, // machine address
		{"10.238.0.0/16", false, nil, ""},                                      // free; default route ignored
		{"192.168.0.0/16", false, nil, ""},
	} {
		r, bad := overlaps(rs, netip.MustParsePrefix(tc.rng), tc.ownBH, tc.own)
		if tc.wantRoute == "" {
			assert.Assert(t, !bad, "%s: unexpected overlap with %s", tc.rng, r)
			continue
		}
		assert.Assert(t, bad, "%s: want overlap with %s", tc.rng, tc.wantRoute)
		assert.Equal(t, r.String(), tc.wantRoute)
	}
}

func FuzzParseRoutes(f *testing.F) {
	f.Add([]byte(routesJSON))
	f.Add([]byte(`[{"dst":"10.0.0.1"}]`))
	f.Add([]byte(`[{"dst":"::1/128"}]`))
	f.Add([]byte(`[{"dst":"garbage"}]`))
	rng := netip.MustParsePrefix("10.0.0.0/16")
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseRoutes(b)
		if err != nil {
			return
		}
		r, bad := overlaps(rs, rng, false, nil)
		if bad {
			p, ok := r.prefix()
			if !ok || !p.Overlaps(rng) {
				t.Fatalf("overlap reported for %v that does not overlap %s", r, rng)
			}
		}
		for _, r := range rs {
			if p, ok := r.prefix(); ok && p.Overlaps(rng) && r.Dst != "default" && !bad {
				t.Fatalf("route %v overlaps %s but was not reported", r, rng)
			}
		}
	})
}

func TestSplitMachines(t *testing.T) {
	for in, want := range map[string][]string{
		"":                         nil,
		"all":                      nil,
		"cinnabar":                 {"cinnabar"},
		"cinnabar,galena":          {"cinnabar", "galena"},
		" cinnabar , galena ,,":    {"cinnabar", "galena"},
		"cinnabar galena,argentum": {"cinnabar", "galena", "argentum"},
	} {
		assert.DeepEqual(t, SplitMachines(in), want)
	}
}

func TestSSHAlias(t *testing.T) {
	for in, want := range map[string][2]string{
		"root@cinnabar":        {"root", "cinnabar"},
		"cinnabar":             {"root", "cinnabar"},
		"admin@galena:2222":    {"admin", "galena"},
		"root@10.0.0.1":        {"root", "10.0.0.1"},
		"a@b@host.example.org": {"a@b", "host.example.org"},
	} {
		u, h := sshAlias(in)
		assert.DeepEqual(t, [2]string{u, h}, want)
	}
}

// TestSSHFiles pins the known_hosts and ssh_config the lab writes: the
// deployer's ssh must find each machine under its targetHost name and
// verify its key strictly.
func TestSSHFiles(t *testing.T) {
	key := func(seed byte) ssh.PublicKey {
		s := make([]byte, ed25519.SeedSize)
		s[0] = seed
		return publicKey(ed25519.NewKeyFromSeed(s))
	}
	hosts := []Host{
		{Name: "galena", Addr: netip.MustParseAddr("10.237.0.6"), Port: 22, HostKey: key(2), Target: "root@galena"},
		{Name: "cinnabar", Addr: netip.MustParseAddr("10.237.0.2"), Port: 22, HostKey: key(1), Target: "admin@cinnabar.zt:22"},
		{Name: "nokey", Addr: netip.MustParseAddr("10.237.0.10"), Port: 22, Target: "root@nokey"},
	}
	kh, cfg := sshFiles(hosts, "/lab/client_ed25519", "/lab dir/known_hosts")
	golden.Assert(t, string(kh), "known_hosts.golden")
	golden.Assert(t, string(cfg), "ssh_config.golden")
	assert.Check(t, is.Contains(string(kh), "cinnabar.zt,cinnabar,10.237.0.2 ssh-ed25519 "))
}

func TestEnsureKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	k1, changed, err := ensureKey(p, nil, "c")
	assert.NilError(t, err)
	assert.Assert(t, changed)
	k2, changed, err := ensureKey(p, nil, "c")
	assert.NilError(t, err)
	assert.Assert(t, !changed && k1.Equal(k2))
	_, want, _ := ed25519.GenerateKey(nil)
	k3, changed, err := ensureKey(p, want, "c")
	assert.NilError(t, err)
	assert.Assert(t, changed && k3.Equal(want))
	st, err := os.Stat(p)
	assert.NilError(t, err)
	assert.Equal(t, st.Mode().Perm(), os.FileMode(0o600))
	pub, err := os.ReadFile(p + ".pub")
	assert.NilError(t, err)
	parsed, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	assert.NilError(t, err)
	assert.DeepEqual(t, parsed.Marshal(), publicKey(want).Marshal())
}

func TestProcStart(t *testing.T) {
	s, z, err := procStart(os.Getpid())
	assert.NilError(t, err)
	assert.Assert(t, !z && s > 0)
	assert.Assert(t, alive(os.Getpid(), s))
	assert.Assert(t, !alive(os.Getpid(), s+1), "a different start time must mean a different process")
	assert.Assert(t, !alive(0, 0))
}

// A host answers at its machine's targetHost user: any user but root is an
// alias of root in the host's own passwd, replacing a machine account of
// the same name.
func TestHostPasswd(t *testing.T) {
	machine, err := os.ReadFile("/etc/passwd")
	assert.NilError(t, err)
	for _, tc := range []struct {
		target string
		user   string // "" : the machine's passwd unchanged
	}{
		{target: "root@cinnabar"},
		{target: "cinnabar"},
		{target: "admin@ash.grove.test:2222", user: "admin"},
		{target: "daemon@elm", user: "daemon"}, // a machine account, made root's alias
	} {
		t.Run(tc.target, func(t *testing.T) {
			got, err := hostPasswd(tc.target)
			assert.NilError(t, err)
			if tc.user == "" {
				assert.Equal(t, string(got), string(machine))
				return
			}
			var mine []string
			for _, line := range strings.Split(string(got), "\n") {
				if strings.HasPrefix(line, tc.user+":") {
					mine = append(mine, line)
				}
			}
			assert.DeepEqual(t, mine, []string{tc.user + ":x:0:0:lab stand-in for root:/root:/bin/sh"})
			assert.Assert(t, strings.HasPrefix(string(got), "root:"), "root stays first")
		})
	}
}
