// Package lab runs the embedded test fleet: one "lab host" per fleet machine,
// all on this one Linux machine, each as real as a single machine allows.
//
// A lab host is
//   - a network namespace joined to the machine by a veth pair; the pair's two
//     addresses form a /30 cut from the lab's reserved range (default
//     10.237.0.0/16) and the rest of the range is a blackhole route on the
//     machine, so no lab traffic can leave it;
//   - a private mount namespace in which the host's own directories are bound
//     over /nix, /etc/nix, /etc/ssh, /root, /run, /var/lib/vanixiets and
//     /var/lib/sops-nix, so its
//     Nix store, profiles, current system and state are really separate from
//     the machine's (Debian's nix-bin lives in /usr/bin and therefore works
//     unchanged against the host's private store);
//   - its own sshd (Debian's openssh-server, "sshd -D" with its own config and
//     host key, UsePAM no, public key only) listening on the host's address,
//     port 22. Every command a deployer runs over ssh sees the private mounts,
//     because sshd was started inside them.
//
// The lab writes a known_hosts, an ssh_config mapping each machine's
// deploy.targetHost (root@cinnabar) to its lab address, and a client key, so
// "ssh -F <SSHConfigPath()> root@cinnabar" verifies the host key strictly.
//
// Everything the lab makes is recorded under its directory before it is made,
// so Down removes exactly that, even after a kill -9 of an earlier run, and Up
// is idempotent: healthy hosts are kept, broken ones repaired.
//
// Several labs may run at once as long as their names and ranges differ; tests
// use package labtest, which derives both from the test.
package lab

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// DefaultRange is the private range the default lab reserves. 10.237/16 is
// rarely used by VPNs, Docker (172.17/16...) or home routers (192.168/16).
var DefaultRange = netip.MustParsePrefix("10.237.0.0/16")

// DefaultName is the name of the lab "go tool mage lab:up" manages.
const DefaultName = "default"

// Machine is one fleet machine as the lab sees it: its name and the ssh
// target the fleet deploys to (deploy.targetHost, e.g. "root@cinnabar").
// The lab's ssh_config maps the target's host part to the lab address.
type Machine struct {
	Name       string
	TargetHost string
	// Class is the fleet's machineClass: "darwin" makes the host as strict
	// as a Mac (posh as /bin/sh, a PATH of macOS's utilities, no /proc:
	// darwin.go); anything else is a Linux host as it is.
	Class string
}

// Config says which lab to open. The zero value is the default lab.
type Config struct {
	// Dir holds the lab's state, keys and host directories.
	// Default: paths.Home()/lab/<Name>.
	Dir string
	// Name distinguishes concurrent labs; it appears in namespace names.
	// Letters, digits, '-' and '_', at most 24 characters. Default "default".
	Name string
	// Range is the private prefix the lab reserves, /16 or smaller (but at
	// least /29). Default DefaultRange. Each host takes a /30 of it.
	Range netip.Prefix
	// Machines are the names Up accepts, each with the target its host
	// answers at: the fleet's machines (MachinesFromFleet). The lab knows no
	// fleet of its own; nil accepts none, and CreateHost makes hosts of any
	// name (the fake cloud's servers).
	Machines []Machine
	// SSHD is the sshd binary (default /usr/sbin/sshd).
	SSHD string
	// SSHDConfigExtra is appended to each host's sshd_config; tests use it to
	// make sshd fail.
	SSHDConfigExtra string
	// HostKey, when set, gives Up the sshd host key of a machine's host:
	// the fleet's own, generated as a var (tasks/vars, generator
	// "openssh"), so the known_hosts derived from the vars matches the lab
	// host. It returns nil to let the lab keep (or generate) the host's
	// key. A host whose key differs is re-keyed and its sshd restarted.
	// An explicit key given to CreateHost wins.
	HostKey func(machine string) (ed25519.PrivateKey, error)
	// Nix says which Nix each host runs, as VANIXIETS_LAB_NIX does: "2.8"
	// (the default), "2.26", or per machine ("2.8,cinnabar=2.26"). Empty:
	// $VANIXIETS_LAB_NIX.
	Nix string
}

// Lab is an opened lab. Its methods serialize on a lock file in Dir, so two
// processes working on the same lab do not interleave.
type Lab struct {
	cfg      Config
	machines map[string]Machine
	order    []string
	nixDef   string            // the Nix version of hosts (cfg.Nix)
	nixPer   map[string]string // per-machine exceptions
}

// Host is a lab host that is up.
type Host struct {
	Name string
	// Addr is the host's address inside its namespace; sshd listens on it.
	Addr netip.Addr
	// Gateway is the machine's end of the host's veth pair: the address at
	// which the host reaches servers on the machine (a cache, a fake API).
	Gateway netip.Addr
	// Port is sshd's port (22).
	Port int
	// HostKey is the public half of the host's sshd host key.
	HostKey ssh.PublicKey
	// Target is what deployers pass to ssh with "-F SSHConfigPath()",
	// the fleet's deploy.targetHost (e.g. "root@cinnabar").
	Target string
	// StateDir is, on the machine, the directory seen as /var/lib/vanixiets
	// inside the host.
	StateDir string
	// StoreDir is, on the machine, the directory seen as /nix inside the host
	// (hosts/<m>/nix, or hosts/<m>/nix-2.26 for a host on Nix 2.26).
	StoreDir string
	// Nix is the Nix version the host runs (nix.Version28 or Version226).
	Nix string
	// RunDir is, on the machine, the directory seen as /run inside the host
	// (where /run/current-system lives).
	RunDir string
	// Namespace is the network namespace's name (ip netns).
	Namespace string
	// Boot is, for a host a fake cloud created from a bare image
	// (CreateBareHost), what it runs: BootImage (no Nix), BootInstaller
	// (the kexec stand-in) or BootInstalled. "" for a lab host.
	Boot string
}

// HostStatus is one row of Status.
type HostStatus struct {
	Host
	// Alive is true when the host's namespace exists and its sshd runs.
	Alive bool
	// Generation is the host's current system generation: the content of
	// /var/lib/vanixiets/generation, else the target of /run/current-system,
	// else "" (nothing deployed yet).
	Generation string
	// Problem says what is wrong when not Alive.
	Problem string
	// PID is the host's sshd (its listener; sessions are its children).
	PID int
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$`)
var hostRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Open checks cfg, fills defaults and returns the lab. It creates nothing;
// Up and CreateHost check root, namespaces and tools before making anything.
func Open(cfg Config) (*Lab, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if !nameRE.MatchString(cfg.Name) {
		return nil, fmt.Errorf("lab name %q: use letters, digits, '-' and '_', at most 24 characters", cfg.Name)
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(paths.Home(), "lab", cfg.Name)
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab directory %q: %w", cfg.Dir, err)
	}
	cfg.Dir = abs
	if !cfg.Range.IsValid() {
		cfg.Range = DefaultRange
	}
	cfg.Range = cfg.Range.Masked()
	if !cfg.Range.Addr().Is4() || cfg.Range.Bits() < 16 || cfg.Range.Bits() > 29 {
		return nil, fmt.Errorf("lab range %s: want an IPv4 prefix between /16 and /29 (e.g. %s)", cfg.Range, DefaultRange)
	}
	if !cfg.Range.Addr().IsPrivate() {
		return nil, fmt.Errorf("lab range %s is not private (RFC 1918): pick one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", cfg.Range)
	}
	if cfg.SSHD == "" {
		cfg.SSHD = "/usr/sbin/sshd"
	}
	if cfg.Nix == "" {
		cfg.Nix = os.Getenv("VANIXIETS_LAB_NIX")
	}
	l := &Lab{cfg: cfg, machines: map[string]Machine{}}
	if l.nixDef, l.nixPer, err = parseLabNix(cfg.Nix); err != nil {
		return nil, err
	}
	for _, m := range cfg.Machines {
		if !hostRE.MatchString(m.Name) {
			return nil, fmt.Errorf("lab machine name %q: use lower-case letters, digits and '-'", m.Name)
		}
		if m.TargetHost == "" {
			m.TargetHost = "root@" + m.Name
		}
		l.machines[m.Name] = m
		l.order = append(l.order, m.Name)
	}
	return l, nil
}

// Default opens the default lab: name $VANIXIETS_LAB_NAME (else "default"),
// range $VANIXIETS_LAB_RANGE (else DefaultRange), directory
// $VANIXIETS_LAB_DIR (else paths.Home()/lab/<name>), and no machines: the
// front doors reopen it with a fleet's (ForFleet) before bringing hosts up.
func Default() (*Lab, error) {
	cfg := Config{Name: os.Getenv("VANIXIETS_LAB_NAME"), Dir: os.Getenv("VANIXIETS_LAB_DIR")}
	if r := os.Getenv("VANIXIETS_LAB_RANGE"); r != "" {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("VANIXIETS_LAB_RANGE=%q: want a prefix like %s", r, DefaultRange)
		}
		cfg.Range = p
	}
	return Open(cfg)
}

// Name returns the lab's name.
func (l *Lab) Name() string { return l.cfg.Name }

// Dir returns the lab's directory.
func (l *Lab) Dir() string { return l.cfg.Dir }

// Range returns the lab's reserved prefix.
func (l *Lab) Range() netip.Prefix { return l.cfg.Range }

// Machines returns the names Up accepts, in fleet order.
func (l *Lab) Machines() []string { return append([]string(nil), l.order...) }

// KnownHostsPath is the known_hosts file listing every up host under its
// machine name and address. Rewritten atomically whenever a host changes.
func (l *Lab) KnownHostsPath() string { return filepath.Join(l.cfg.Dir, "known_hosts") }

// SSHConfigPath is an ssh_config (for "ssh -F", or NIX_SSHOPTS="-F ...")
// mapping each host's target name to its address, with the client key, the
// lab's known_hosts and StrictHostKeyChecking yes.
func (l *Lab) SSHConfigPath() string { return filepath.Join(l.cfg.Dir, "ssh_config") }

// ClientKeyPath is the private ed25519 key every lab host accepts for root.
func (l *Lab) ClientKeyPath() string { return filepath.Join(l.cfg.Dir, "client_ed25519") }

// SigningKeyDir holds the fleet signing key the lab's hosts trust
// (signing-key.sec, signing-key.pub): <lab dir>/deploy/key, where the
// deployer keeps its key when it deploys to this lab.
func (l *Lab) SigningKeyDir() string { return filepath.Join(l.cfg.Dir, "deploy", "key") }

// SigningKeyName is the name in the lab's signing key ("name:base64").
const SigningKeyName = "vanixiets-fleet-1"

// SigningKey returns the lab's fleet signing key (secret key file, public
// key text), generating it when missing. Every host's nix.conf lists the
// public key in trusted-public-keys from the moment the host is made, so a
// deployer that signs with it passes the hosts' signature checks.
func (l *Lab) SigningKey(ctx context.Context) (secretFile, public string, err error) {
	unlock, err := l.lock()
	if err != nil {
		return "", "", err
	}
	defer unlock()
	return l.signingKeyLocked(ctx)
}

func (l *Lab) signingKeyLocked(ctx context.Context) (string, string, error) {
	sec, pub, err := closure.EnsureKey(ctx, l.SigningKeyDir(), SigningKeyName)
	if err != nil {
		return "", "", l.errf("signing key: %v", err)
	}
	return sec, pub, nil
}

// SSHArgs are the ssh options that reach the lab's hosts: "-F SSHConfigPath()".
func (l *Lab) SSHArgs() []string { return []string{"-F", l.SSHConfigPath()} }

// checkMachines rejects names not in the fleet, listing the known ones.
func (l *Lab) checkMachines(names []string) error {
	var bad []string
	for _, n := range names {
		if _, ok := l.machines[n]; !ok {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 && len(l.order) == 0 {
		return fmt.Errorf("lab: unknown machine %s: this lab was opened without a fleet; bring hosts up from the fleet's flake (go tool mage lab:up --flake <flake>)", strings.Join(bad, ", "))
	}
	if len(bad) > 0 {
		return fmt.Errorf("lab: unknown machine %s; the fleet has: %s", strings.Join(bad, ", "), strings.Join(l.order, ", "))
	}
	return nil
}

// Up brings up one host per named machine (nil or empty: every machine),
// keeping hosts that are already up and repairing broken ones. If anything
// fails, hosts this call created are removed again and the error names the
// failing host (with sshd's log when sshd did not start).
func (l *Lab) Up(ctx context.Context, machines []string) ([]Host, error) {
	if len(machines) == 0 {
		machines = l.Machines()
	}
	if len(machines) == 0 {
		return nil, l.errf("no machines to bring up: the lab was opened without a fleet (go tool mage lab:up --flake <flake>)")
	}
	if err := l.checkMachines(machines); err != nil {
		return nil, err
	}
	return l.up(ctx, machines, nil, "")
}

// CreateHost brings up (or keeps) one host named name, which need not be a
// fleet machine (the fake cloud creates servers by name). hostKey is the sshd
// host key to use; nil keeps the host's existing key or generates one. A
// different key for an existing host replaces its key and restarts its sshd.
func (l *Lab) CreateHost(ctx context.Context, name string, hostKey ed25519.PrivateKey) (Host, error) {
	if !hostRE.MatchString(name) {
		return Host{}, fmt.Errorf("lab host name %q: use lower-case letters, digits and '-'", name)
	}
	hs, err := l.up(ctx, []string{name}, map[string]ed25519.PrivateKey{name: hostKey}, "")
	if err != nil {
		return Host{}, err
	}
	return hs[0], nil
}

// DeleteHost stops the host's sshd, removes its namespaces, veth pair and
// directories (its store included) and its known_hosts entry. Deleting a host
// that does not exist is not an error.
func (l *Lab) DeleteHost(ctx context.Context, name string) error {
	return l.deleteHost(ctx, name)
}

// Down deletes every host and the lab's route, then the lab directory: the
// machine's namespaces, links, routes and mounts are as before the first Up.
func (l *Lab) Down(ctx context.Context) error { return l.down(ctx) }

// Status reports every recorded host, in name order, and whether it is alive.
func (l *Lab) Status(ctx context.Context) ([]HostStatus, error) { return l.status(ctx) }

// Exec runs argv inside the host's network and mount namespaces (via nsenter
// into its sshd), as root, and returns its combined output. The error carries
// the output's last lines.
func (l *Lab) Exec(ctx context.Context, name string, argv ...string) ([]byte, error) {
	return l.exec(ctx, name, argv...)
}

// Hosts returns the hosts that are recorded (up or not), in name order.
func (l *Lab) Hosts() ([]Host, error) { return l.hosts() }

// errf builds a one-line error prefixed with the lab's name.
func (l *Lab) errf(format string, a ...any) error {
	return fmt.Errorf("lab %s: "+format, append([]any{l.cfg.Name}, a...)...)
}
