package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A host behind a jump host is how the fleet's laptops are reached: they
// sit behind the zerotier controller, and their owners ssh to them with
// ProxyJump through it. HideBehind makes a lab host like that, with
// nothing but the kernel's own routing:
//
// Every host's link is a veth pair whose machine end holds the host's
// gateway address; the machine reaches the host through it, and nothing
// else does (no forwarding between hosts). HideBehind moves that machine
// end, address and all, into the jump host's network namespace. From then
// on the hidden host's /30 is connected to the jump host only: the jump
// host reaches it directly (so its sshd can open the deployer's
// connection onward), while on the machine the address falls under the
// lab's blackhole route and any connection to it fails at once. No
// firewall rule, no sysctl and no route outside the two namespaces is
// changed, so taking either namespace down (Down, DeleteHost) removes the
// pair with it and leaves nothing behind.
//
// Up treats a hidden host's link as missing and rebuilds it on the
// machine (store and state kept): hide it again after an Up.

// behindFile records, before the link moves, which host name is behind.
func (l *Lab) behindFile(name string) string { return filepath.Join(l.hostDir(name), "behind") }

// HideBehind makes host name reachable only through host jump (both up):
// its link moves into jump's namespace. Hiding a host that is already
// behind jump does nothing.
func (l *Lab) HideBehind(ctx context.Context, name, jump string) error {
	if err := preflight(ctx, l.cfg.SSHD); err != nil {
		return err
	}
	if name == jump {
		return l.errf("host %s cannot be hidden behind itself; name another host as its jump host", name)
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var r, j hostRecord
	for _, x := range []struct {
		n   string
		rec *hostRecord
	}{{name, &r}, {jump, &j}} {
		ok, err := readJSON(l.hostFile(x.n), x.rec)
		if err != nil {
			return l.errf("%v", err)
		}
		if !ok || x.rec.Index < 0 || !netnsExists(x.rec.Netns) {
			return l.errf("no host %s is up (run lab:up %s)", x.n, x.n)
		}
	}
	if l.behind(r) == jump {
		return nil
	}
	if !linkExists(r.Veth) {
		return l.errf("host %s: its link %s is not on the machine (behind another host? run lab:up %s to bring it back)", name, r.Veth, name)
	}
	if err := os.WriteFile(l.behindFile(name), []byte(jump+"\n"), 0o644); err != nil {
		return l.errf("record host %s behind %s: %v", name, jump, err)
	}
	for _, s := range [][]string{
		{"ip", "link", "set", r.Veth, "netns", j.Netns},
		{"ip", "-n", j.Netns, "addr", "add", r.Gateway.String() + "/30", "dev", r.Veth},
		{"ip", "-n", j.Netns, "link", "set", r.Veth, "up"},
	} {
		if err := run(ctx, s...); err != nil {
			return l.errf("hide host %s behind %s: %v", name, jump, err)
		}
	}
	return nil
}

// Behind returns the host that host name is hidden behind, "" when it is
// on the machine's network as usual.
func (l *Lab) Behind(name string) string {
	var r hostRecord
	if ok, err := readJSON(l.hostFile(name), &r); err != nil || !ok {
		return ""
	}
	return l.behind(r)
}

// behind checks the record against the kernel: the host is behind its
// jump host only while its link is in the jump host's namespace.
func (l *Lab) behind(r hostRecord) string {
	b, err := os.ReadFile(l.behindFile(r.Name))
	if err != nil {
		return ""
	}
	jump := strings.TrimSpace(string(b))
	var j hostRecord
	if ok, err := readJSON(l.hostFile(jump), &j); err != nil || !ok || !netnsExists(j.Netns) {
		return ""
	}
	if run(context.Background(), "ip", "-n", j.Netns, "link", "show", "dev", r.Veth) != nil {
		return ""
	}
	return jump
}

// linkProblem is Status's word on a host whose link is not on the machine:
// none when it is behind its jump host on purpose.
func (l *Lab) linkProblem(r hostRecord) string {
	if jump := l.behind(r); jump != "" {
		return ""
	}
	return fmt.Sprintf("link %s missing (run lab:up)", r.Veth)
}
