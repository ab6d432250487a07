package lab

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/tail"
)

// ErrRangeOverlap is wrapped by errors for a lab range that overlaps a route
// the machine already has (another lab's included); callers that pick ranges
// at random (package labtest) retry with another.
var ErrRangeOverlap = errors.New("overlaps the machine's route")

// sshPort is the port every lab host's sshd listens on (each has its own address).
const sshPort = 22

// nixConf is each host's /etc/nix/nix.conf: no substituters (nothing leaves
// the machine, and an empty list saves DNS retries), no sandbox and no build
// users, as Debian's nix-bin runs as root without a daemon.
const nixConf = `experimental-features = nix-command flakes
substituters =
sandbox = false
build-users-group =
`

// hostNixConf is nixConf plus the fleet signing key the host trusts: set
// when the host is made, so a deployment's paths pass the host's own
// signature check (its nix-daemon's, on import) from the first deploy,
// without the deployer editing the host's configuration.
func hostNixConf(signingPub string) string {
	if signingPub == "" {
		return nixConf
	}
	return nixConf + "trusted-public-keys = " + signingPub + "\n"
}

// hostGroups is the host's /etc/group: the machine's, plus a "wheel"
// group with gid 0 when the machine has none. Lab hosts stand in for
// nix-darwin machines too, where root's primary group is wheel (gid 0), so
// the fleet's darwin secrets (owner root, group wheel) install as they
// would on a Mac.
func hostGroups() ([]byte, error) {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "wheel:") {
			return b, nil
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(b, "wheel:x:0:root\n"...), nil
}

// hostPasswd is the host's /etc/passwd: the machine's, with the user of
// the machine's deploy.targetHost ("admin@ash.example" -> admin) made an
// alias of root (uid 0, home /root) when it is not root. The fleet's
// targetHost then works unchanged: sshd finds the user, root's
// authorized_keys let the lab's client in, and what the deployer runs has
// root's rights, as a real machine's admin has through sudo.
func hostPasswd(target string) ([]byte, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	user, _ := sshAlias(target)
	if user == "root" {
		return b, nil
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.HasPrefix(line, user+":") {
			out = append(out, line)
		}
	}
	out = append(out, user+":x:0:0:lab stand-in for root:/root:/bin/sh")
	return []byte(strings.Join(out, "\n") + "\n"), nil
}

// mountScript runs (as "sh -c") inside the host's fresh network namespace
// and private mount namespace: it binds the host's directories over the
// machine's and becomes sshd. /root goes last because the host directory
// itself may live under the machine's /root. $1 is the host directory, $2
// the sshd binary, $3 the store directory's name (nix, or nix-2.26 for a
// host on Nix 2.26), and for a 2.26 host $4 the wrapper bound over
// /usr/bin/nix (every nix-* command is a link to it) and $5 its install
// directory, bound at /run/vanixiets-nix-2.26 after /run (the wrapper finds
// its trixie root there, since the machine's /root is hidden next).
//
// $6 is the host's kind, empty for an installed Linux host:
//   - darwin (darwin.go): $7 posh, bound over /bin/sh, and /proc covered,
//     last (mount itself reads /proc), except on a 2.26 host, whose Nix
//     cannot start without /proc/self/exe;
//   - image or installer, a bare-image host not installed yet (bare.go):
//     $7 the directory of whiteout layers, whose "dirs" file lists
//     "<layer> <machine directory>" lines. An image has no Nix at all (no
//     /etc/nix, no 2.26 wrapper); an installer runs from its own
//     directory with the disk it installs at /mnt.
const mountScript = `set -e
d=$1 kind=${6:-} wrap=$4 run=$1/run state=$1/state sops=$1/sops-nix i=$1/installer
case "$kind" in
image)
  while read -r n p; do
    mount -t overlay vx-bare-image -o "lowerdir=$7/$n:$p" "$p"
  done < "$7/dirs"
  mount --bind "$d/$3" /nix
  wrap=
  ;;
installer)
  mount -t overlay vx-kexec -o "lowerdir=$i/etc-layer:/etc" /etc
  mount --bind "$i/nix" /nix
  mount --bind "$i/etc-nix" /etc/nix
  mount --bind "$i/mnt" /mnt
  mount --bind "$d/$3" /mnt/nix
  mount --bind "$d/state" /mnt/var/lib/vanixiets
  mount --bind "$d/sops-nix" /mnt/var/lib/sops-nix
  mount --bind "$d/disk-etc-ssh" /mnt/etc/ssh
  run=$i/run state=$i/state sops=$i/sops-nix
  ;;
'' | darwin)
  mount --bind "$d/$3" /nix
  mount --bind "$d/etc-nix" /etc/nix
  ;;
*) echo "lab host: unknown kind $kind" >&2; exit 2 ;;
esac
mount --bind "$d/etc-ssh" /etc/ssh
mount --bind "$d/etc-group" /etc/group
mount --bind "$d/etc-passwd" /etc/passwd
mount --bind "$state" /var/lib/vanixiets
mount --bind "$sops" /var/lib/sops-nix
mount --bind "$run" /run
if [ -n "$wrap" ]; then
  mkdir -p /run/vanixiets-nix-2.26
  mount --bind "$5" /run/vanixiets-nix-2.26
  mount --bind "$wrap" /usr/bin/nix
fi
mount --bind "$d/root" /root
if [ "$kind" = darwin ]; then
  mount --bind "$7" /bin/sh
  # Nix 2.26 (a Linux build) finds itself through /proc/self/exe, where
  # a Mac's Nix asks the kernel another way: a 2.26 host keeps /proc, and
  # the scripts' independence of it is proven on the 2.8 hosts (and by
  # hostsh.Lint) alone.
  [ -n "$4" ] || mount -t tmpfs -o ro,mode=0555,size=4k vx-darwin-no-proc /proc
fi
cd /
exec "$2" -D -e -f /etc/ssh/sshd_config
`

func sshdConfig(addr netip.Addr, extra string) string {
	return fmt.Sprintf(`# sshd of a vanixiets lab host (run as "sshd -D -e -f /etc/ssh/sshd_config").
ListenAddress %s:%d
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /root/.ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 64
Subsystem sftp internal-sftp
%s`, addr, sshPort, extra)
}

var (
	preflightMu  sync.Mutex
	preflightErr = map[string]error{}
)

// preflight checks, once per process, that the lab can work here: root,
// namespaces allowed, tools installed, mount points present.
func preflight(ctx context.Context, sshd string) error {
	preflightMu.Lock()
	defer preflightMu.Unlock()
	if err, ok := preflightErr[sshd]; ok {
		return err
	}
	err := doPreflight(ctx, sshd)
	preflightErr[sshd] = err
	return err
}

// Preflight says whether the lab can work here (root, namespaces, sshd,
// iproute2) before anything else is done: a front door calls it before it
// evaluates the fleet, so that a run as another user hears "must run as
// root", not an evaluation error of a Nix that user cannot use.
func (l *Lab) Preflight(ctx context.Context) error { return preflight(ctx, l.cfg.SSHD) }

func doPreflight(ctx context.Context, sshd string) error {
	if os.Geteuid() != 0 {
		return errors.New("lab: must run as root (network and mount namespaces need it); re-run with sudo")
	}
	var missing []string
	for _, t := range []string{"ip", "unshare", "nsenter", "nix", "nix-store"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if _, err := os.Stat(sshd); err != nil {
		missing = append(missing, sshd)
	}
	if len(missing) > 0 {
		return fmt.Errorf("lab: missing %s; run scripts/install-lab-deps.sh", strings.Join(missing, ", "))
	}
	if err := run(ctx, "unshare", "--mount", "--net", "true"); err != nil {
		return fmt.Errorf("lab: this machine does not allow network/mount namespaces (%v); run on a VM or a privileged container", err)
	}
	// Bind targets must exist on the machine. /nix, /var/lib/vanixiets and
	// /var/lib/sops-nix (where a deploy installs a clan machine age key)
	// may not; an empty directory is all the lab leaves there.
	for _, d := range []string{"/nix", "/etc/nix", "/etc/ssh", "/var/lib/vanixiets", "/var/lib/sops-nix"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("lab: create mount point %s: %v", d, err)
		}
	}
	return nil
}

func (l *Lab) target(name string) string {
	if m, ok := l.machines[name]; ok {
		return m.TargetHost
	}
	return "root@" + name
}

// up brings up the named hosts; a host it creates is made from image ("":
// a lab host with Nix; imageBare: a cloud image, see bare.go).
func (l *Lab) up(ctx context.Context, names []string, keys map[string]ed25519.PrivateKey, image string) ([]Host, error) {
	if err := preflight(ctx, l.cfg.SSHD); err != nil {
		return nil, err
	}
	if err := l.darwinPreflight(names); err != nil {
		return nil, err
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	lr, err := l.loadLab()
	if err != nil {
		return nil, l.errf("%v", err)
	}
	if lr.Range != l.cfg.Range {
		return nil, l.errf("is up with range %s, not %s; run lab:down first to change its range", lr.Range, l.cfg.Range)
	}
	recs, err := l.loadHosts()
	if err != nil {
		return nil, l.errf("%v", err)
	}
	fresh := len(recs) == 0 && !lr.Blackhole
	clientKey, _, err := ensureKey(l.ClientKeyPath(), nil, "vanixiets-lab-"+l.cfg.Name)
	if err != nil {
		return nil, l.errf("client key: %v", err)
	}
	_, signingPub, err := l.signingKeyLocked(ctx)
	if err != nil {
		return nil, err
	}
	if err := l.ensureRange(ctx, &lr, recs); err != nil {
		if fresh {
			l.downLocked(ctx)
		}
		return nil, err
	}

	// Allocate addresses and write every new host's record before making
	// anything for it.
	byName := map[string]hostRecord{}
	used := map[int]bool{}
	for _, r := range recs {
		byName[r.Name] = r
		if r.Index >= 0 {
			used[r.Index] = true
		}
	}
	var plan []hostRecord
	var created []hostRecord
	for _, n := range names {
		r, ok := byName[n]
		if m, known := l.machines[n]; ok && known && r.Target != m.TargetHost {
			// The fleet moved the machine to another targetHost: the host
			// answers at the new one (ssh_config, its passwd).
			r.Target = m.TargetHost
			if err := writeJSON(l.hostFile(n), r); err != nil {
				l.rollback(ctx, created, fresh)
				return nil, l.errf("record host %s: %v", n, err)
			}
		}
		if !ok || r.Index < 0 {
			idx := 0
			for used[idx] {
				idx++
			}
			gw, addr, fits := l.subnet(idx)
			if !fits {
				l.rollback(ctx, created, fresh)
				return nil, l.errf("range %s is full (%d hosts); pick a larger one", l.cfg.Range, idx)
			}
			used[idx] = true
			ns, veth := l.names(n)
			r = hostRecord{Name: n, Target: l.target(n), Index: idx, Netns: ns, Veth: veth, Gateway: gw, Addr: addr}
			if image == imageBare {
				r.Image, r.Boot = imageBare, BootImage
			}
			if err := writeJSON(l.hostFile(n), r); err != nil {
				l.rollback(ctx, created, fresh)
				return nil, l.errf("record host %s: %v", n, err)
			}
			created = append(created, r)
		}
		plan = append(plan, r)
	}

	// Host keys from the hook, asked one at a time (it may decrypt).
	want := map[string]ed25519.PrivateKey{}
	for _, r := range plan {
		k := keys[r.Name]
		// A host a cloud created keeps the key it has: its image's own
		// (a real image makes one at first boot, which no one chose) or,
		// once installed, the one the install wrote to its disk. The
		// hook (the vars' key) is for hosts the lab stands up itself.
		if k == nil && l.cfg.HostKey != nil && r.Image != imageBare {
			var err error
			if k, err = l.cfg.HostKey(r.Name); err != nil {
				l.rollback(ctx, created, fresh)
				return nil, l.errf("host %s: host key: %v", r.Name, err)
			}
		}
		want[r.Name] = k
	}
	hosts := make([]Host, len(plan))
	errs := make([]error, len(plan))
	var wg sync.WaitGroup
	for i := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hosts[i], errs[i] = l.ensureHost(ctx, plan[i], clientKey, want[plan[i].Name], signingPub)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		l.rollback(ctx, created, fresh)
		return nil, err
	}
	if err := l.writeSSHFiles(); err != nil {
		return nil, err
	}
	return hosts, nil
}

// rollback removes the hosts this call created (and the whole lab if the
// call started from nothing), so a failed Up leaves nothing half-made.
func (l *Lab) rollback(ctx context.Context, created []hostRecord, fresh bool) {
	if fresh {
		l.downLocked(ctx)
		return
	}
	for _, r := range created {
		l.deleteHostLocked(ctx, r)
	}
	l.writeSSHFiles()
}

// ensureRange refuses a range that overlaps a route of the machine and adds
// the lab's blackhole route for it (recorded first).
func (l *Lab) ensureRange(ctx context.Context, lr *labRecord, recs []hostRecord) error {
	rs, err := routes(ctx)
	if err != nil {
		return l.errf("%v", err)
	}
	own := map[string]bool{}
	for _, r := range recs {
		if r.Veth != "" {
			own[r.Veth] = true
		}
	}
	if r, bad := overlaps(rs, l.cfg.Range, lr.Blackhole, own); bad {
		return fmt.Errorf("lab %s: range %s %w %q; choose another private range (Config.Range or VANIXIETS_LAB_RANGE)", l.cfg.Name, l.cfg.Range, ErrRangeOverlap, r.String())
	}
	have := false
	for _, r := range rs {
		if p, ok := r.prefix(); ok && p == l.cfg.Range && r.Type == "blackhole" && (r.Table == "" || r.Table == "main") {
			have = true
		}
	}
	if have {
		return writeJSON(l.labFile(), lr)
	}
	lr.Blackhole = true
	if err := writeJSON(l.labFile(), lr); err != nil {
		return l.errf("record: %v", err)
	}
	if err := run(ctx, "ip", "route", "add", "blackhole", l.cfg.Range.String()); err != nil {
		lr.Blackhole = false
		writeJSON(l.labFile(), lr)
		if strings.Contains(err.Error(), "File exists") {
			// Another lab added the same range between our check and now.
			return fmt.Errorf("lab %s: range %s %w \"blackhole %s\" (added concurrently); choose another private range", l.cfg.Name, l.cfg.Range, ErrRangeOverlap, l.cfg.Range)
		}
		return l.errf("add blackhole route: %v", err)
	}
	return nil
}

// hostKeyPath is, on the machine, the host's sshd host key.
func (l *Lab) hostKeyPath(name string) string {
	return filepath.Join(l.hostDir(name), "etc-ssh", "ssh_host_ed25519_key")
}

// ensureHost makes the host r healthy: kept as is when its namespace, link
// and sshd are there (and its key is unchanged), otherwise rebuilt around
// its existing directories.
func (l *Lab) ensureHost(ctx context.Context, r hostRecord, clientKey ed25519.PrivateKey, want ed25519.PrivateKey, signingPub string) (Host, error) {
	dir := l.hostDir(r.Name)
	key, changed, err := ensureKey(l.hostKeyPath(r.Name), want, "root@"+r.Name)
	if err != nil {
		return Host{}, l.errf("host %s: host key: %v", r.Name, err)
	}
	// nix.conf is read by each nix command, so a kept host picks up a new
	// signing key without a restart.
	conf := filepath.Join(dir, "etc-nix", "nix.conf")
	if b, err := os.ReadFile(conf); err == nil && string(b) != hostNixConf(signingPub) {
		if err := fsutil.WriteFile(conf, []byte(hostNixConf(signingPub)), 0o644); err != nil {
			return Host{}, l.errf("host %s: %v", r.Name, err)
		}
	}
	// Healthy means reachable: a run killed right after starting sshd
	// leaves one that may still be coming up (or stuck).
	_, groupErr := os.Stat(filepath.Join(dir, "etc-group")) // hosts made before it existed are rebuilt
	// A host whose target user changed (or made before etc-passwd) is
	// rebuilt so that its sshd knows the user.
	wantPasswd, err := l.hostPasswdOf(r.Name, r.Target)
	if err != nil {
		return Host{}, l.errf("host %s: %v", r.Name, err)
	}
	havePasswd, passwdErr := os.ReadFile(filepath.Join(dir, "etc-passwd"))
	if passwdErr == nil && string(havePasswd) != string(wantPasswd) {
		passwdErr = errors.New("target user changed")
	}
	// A host whose Nix version changed is rebuilt around the other store.
	wantNix := l.nixFor(r.Name)
	nixChanged := recordedNix(r) != wantNix
	r.Nix = wantNix
	if err := os.MkdirAll(filepath.Join(dir, storeDir(wantNix)), 0o755); err != nil {
		return Host{}, l.errf("host %s: %v", r.Name, err)
	}
	// A host whose class changed is rebuilt as the other kind.
	classChanged := r.Class != l.classFor(r.Name)
	r.Class = l.classFor(r.Name)
	healthy := !nixChanged && !classChanged && groupErr == nil && passwdErr == nil && netnsExists(r.Netns) && linkExists(r.Veth) && alive(r.PID, r.StartTime) &&
		l.waitListening(r, 3*time.Second) == nil
	if healthy && !changed {
		return l.hostOf(r, publicKey(key)), nil
	}
	if healthy {
		// Only the key changed: restart sshd in the existing namespace.
		l.stopProcs(ctx, r)
	} else {
		l.stopProcs(ctx, r)
		if err := removeNetwork(ctx, r); err != nil {
			return Host{}, l.errf("host %s: remove stale network: %v", r.Name, err)
		}
		if err := l.writeHostFiles(r, clientKey, signingPub); err != nil {
			return Host{}, l.errf("host %s: %v", r.Name, err)
		}
		if err := l.addNetwork(ctx, r); err != nil {
			return Host{}, l.errf("host %s: %v", r.Name, err)
		}
	}
	r, err = l.startSSHD(r)
	if err != nil {
		return Host{}, err
	}
	_ = dir
	return l.hostOf(r, publicKey(key)), nil
}

// writeHostFiles lays out the directories bound over the host's /nix,
// /etc/nix, /etc/ssh, /root, /run, /var/lib/vanixiets and /var/lib/sops-nix.
// Existing content
// (a store, a generation) is kept.
func (l *Lab) writeHostFiles(r hostRecord, clientKey ed25519.PrivateKey, signingPub string) error {
	dir := l.hostDir(r.Name)
	for _, d := range []struct {
		p    string
		mode os.FileMode
	}{{"nix", 0o755}, {"etc-nix", 0o755}, {"etc-ssh", 0o755}, {"root", 0o700}, {"root/.ssh", 0o700}, {"run", 0o755}, {"run/sshd", 0o755}, {"state", 0o755}, {"sops-nix", 0o700}} {
		if err := os.MkdirAll(filepath.Join(dir, d.p), d.mode); err != nil {
			return err
		}
		os.Chmod(filepath.Join(dir, d.p), d.mode)
	}
	auth := ssh.MarshalAuthorizedKey(publicKey(clientKey))
	groups, err := hostGroups()
	if err != nil {
		return err
	}
	passwd, err := l.hostPasswdOf(r.Name, r.Target)
	if err != nil {
		return err
	}
	if r.Class == ClassDarwin {
		groups = darwinGroups(groups)
		if err := writeDarwinFiles(dir, storeDir(recordedNix(r))); err != nil {
			return err
		}
	}
	files := []struct {
		p    string
		data string
		mode os.FileMode
	}{
		{"etc-nix/nix.conf", hostNixConf(signingPub), 0o644},
		{"etc-ssh/sshd_config", sshdConfig(r.Addr, l.sshdExtra(r)), 0o644},
		{"root/.ssh/authorized_keys", string(auth), 0o600},
		{"etc-group", string(groups), 0o644},
		{"etc-passwd", string(passwd), 0o644},
	}
	for _, f := range files {
		if err := fsutil.WriteFile(filepath.Join(dir, f.p), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// startSSHD starts the host's sshd inside its network namespace and a new
// private mount namespace, records its pid, and waits until it accepts TCP
// connections on the host's address. When sshd dies first, the error shows
// its log.
func (l *Lab) startSSHD(r hostRecord) (hostRecord, error) {
	dir := l.hostDir(r.Name)
	logPath := filepath.Join(dir, "sshd.log")
	if err := fsutil.WriteFile(filepath.Join(dir, "etc-ssh", "sshd_config"), []byte(sshdConfig(r.Addr, l.sshdExtra(r))), 0o644); err != nil {
		return r, l.errf("host %s: %v", r.Name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return r, l.errf("host %s: %v", r.Name, err)
	}
	defer logf.Close()
	// ip netns exec and unshare exec (not fork), so the pid we start is
	// sshd's pid: the record and Exec's nsenter both rely on that.
	var wrapper, nixDir string
	if recordedNix(r) == nix.Version226 {
		if wrapper, nixDir, err = nix226Mounts(); err != nil {
			return r, err
		}
	}
	args := []string{dir, l.cfg.SSHD, storeDir(recordedNix(r)), wrapper, nixDir}
	if r.Class == ClassDarwin {
		args = append(args, ClassDarwin, poshPath)
	}
	kind, err := l.bareMount(r) // a bare-image host before its install (bare.go)
	if err != nil {
		return r, err
	}
	args = append(args, kind...)
	cmd := exec.Command("ip", append([]string{"netns", "exec", r.Netns,
		"unshare", "--mount", "--propagation", "private",
		"sh", "-c", mountScript, "lab-host"}, args...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", l.hostEnv(r.Name)}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return r, l.errf("host %s: start sshd: %v", r.Name, err)
	}
	go cmd.Wait() // reap it if it dies while this process lives
	r.PID = cmd.Process.Pid
	r.StartTime, _, _ = procStart(r.PID)
	if err := writeJSON(l.hostFile(r.Name), r); err != nil {
		stop(r.PID, r.StartTime, time.Second)
		return r, l.errf("record host %s: %v", r.Name, err)
	}
	if err := l.waitListening(r, 10*time.Second); err != nil {
		return r, err
	}
	return r, nil
}

// waitListening waits until the host's sshd accepts TCP connections on the
// host's address. When sshd dies first, or does not listen in time, the
// error shows its log.
func (l *Lab) waitListening(r hostRecord, timeout time.Duration) error {
	logPath := filepath.Join(l.hostDir(r.Name), "sshd.log")
	addr := net.JoinHostPort(r.Addr.String(), strconv.Itoa(sshPort))
	deadline := time.Now().Add(timeout)
	for {
		if !alive(r.PID, r.StartTime) {
			time.Sleep(20 * time.Millisecond) // let the log be flushed
			b, _ := os.ReadFile(logPath)
			return l.errf("host %s: sshd exited at start; its log (%s): %s", r.Name, logPath, tail.LastLines(string(b), 15))
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			return l.errf("host %s: sshd not listening on %s after %s (%v); its log (%s): %s", r.Name, addr, timeout, err, logPath, tail.LastLines(string(b), 15))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostEnv marks every process the lab starts for host name.
func (l *Lab) hostEnv(name string) string { return "VANIXIETS_LAB_HOST=" + l.hostDir(name) }

// stopProcs stops the host's sshd and every process left in its namespace
// (ssh sessions, Exec commands) or carrying its mark (an sshd whose start
// a killed run never recorded).
func (l *Lab) stopProcs(ctx context.Context, r hostRecord) {
	stop(r.PID, r.StartTime, 2*time.Second)
	for i := 0; i < 200; i++ {
		pids := append(netnsPIDs(ctx, r.Netns), envPIDs(l.hostEnv(r.Name))...)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedHost opens a change to host name as every such change starts:
// the machine can run the lab (preflight), the lab's lock is held, and the
// host's record is read (found false: there is none). When err is nil the
// caller holds the lock and must call unlock.
func (l *Lab) lockedHost(ctx context.Context, name string) (r hostRecord, found bool, unlock func(), err error) {
	if err := preflight(ctx, l.cfg.SSHD); err != nil {
		return r, false, nil, err
	}
	unlock, err = l.lock()
	if err != nil {
		return r, false, nil, err
	}
	found, err = readJSON(l.hostFile(name), &r)
	if err != nil {
		unlock()
		return r, false, nil, l.errf("%v", err)
	}
	return r, found, unlock, nil
}

func (l *Lab) deleteHost(ctx context.Context, name string) error {
	r, ok, unlock, err := l.lockedHost(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	if !ok {
		if _, err := os.Stat(l.hostDir(name)); err != nil {
			return nil
		}
		r = hostRecord{Name: name}
	}
	if err := l.deleteHostLocked(ctx, r); err != nil {
		return err
	}
	return l.writeSSHFiles()
}

// deleteHostLocked removes one host: processes, network, directories.
func (l *Lab) deleteHostLocked(ctx context.Context, r hostRecord) error {
	l.stopProcs(ctx, r)
	if err := removeNetwork(ctx, r); err != nil {
		return l.errf("host %s: %v", r.Name, err)
	}
	if err := os.RemoveAll(l.hostDir(r.Name)); err != nil {
		return l.errf("host %s: remove %s: %v", r.Name, l.hostDir(r.Name), err)
	}
	return nil
}

func (l *Lab) down(ctx context.Context) error {
	if err := preflight(ctx, l.cfg.SSHD); err != nil {
		return err
	}
	if _, err := os.Stat(l.cfg.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return l.downLocked(ctx)
}

// downLocked removes every recorded host, the blackhole route, the
// /run/netns mount if the lab made it, and the lab's files.
func (l *Lab) downLocked(ctx context.Context) error {
	lr, err := l.loadLab()
	if err != nil {
		return l.errf("%v", err)
	}
	recs, err := l.loadHosts()
	if err != nil {
		return l.errf("%v", err)
	}
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.deleteHostLocked(ctx, recs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if lr.Blackhole {
		rs, err := routes(ctx)
		if err != nil {
			return l.errf("%v", err)
		}
		for _, r := range rs {
			if p, ok := r.prefix(); ok && p == lr.Range && r.Type == "blackhole" && (r.Table == "" || r.Table == "main") {
				if err := run(ctx, "ip", "route", "del", "blackhole", lr.Range.String()); err != nil {
					return l.errf("remove blackhole route: %v", err)
				}
			}
		}
	}
	if err := releaseNetnsMount(); err != nil {
		return l.errf("%v", err)
	}
	for _, p := range []string{"hosts", "known_hosts", "ssh_config", "client_ed25519", "client_ed25519.pub", "deploy", "lab.json", "lock"} {
		if err := os.RemoveAll(filepath.Join(l.cfg.Dir, p)); err != nil {
			return l.errf("remove %s: %v", p, err)
		}
	}
	os.Remove(l.cfg.Dir) // only if empty
	return nil
}

// hostOf builds the public view of a record.
func (l *Lab) hostOf(r hostRecord, key ssh.PublicKey) Host {
	dir := l.hostDir(r.Name)
	return Host{
		Name: r.Name, Addr: r.Addr, Gateway: r.Gateway, Port: sshPort, HostKey: key, Target: r.Target,
		StateDir: filepath.Join(dir, "state"), StoreDir: filepath.Join(dir, storeDir(recordedNix(r))), Nix: recordedNix(r),
		RunDir: filepath.Join(dir, "run"), Namespace: r.Netns, Boot: r.Boot,
	}
}

func (l *Lab) readHostKey(name string) ssh.PublicKey {
	b, err := os.ReadFile(l.hostKeyPath(name) + ".pub")
	if err != nil {
		return nil
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil
	}
	return k
}

func (l *Lab) hosts() ([]Host, error) {
	recs, err := l.loadHosts()
	if err != nil {
		return nil, l.errf("%v", err)
	}
	var hs []Host
	for _, r := range recs {
		if r.Index < 0 {
			continue
		}
		hs = append(hs, l.hostOf(r, l.readHostKey(r.Name)))
	}
	return hs, nil
}

// writeSSHFiles rewrites known_hosts and ssh_config from the records.
func (l *Lab) writeSSHFiles() error {
	hs, err := l.hosts()
	if err != nil {
		return err
	}
	kh, cfg := sshFiles(hs, l.ClientKeyPath(), l.KnownHostsPath())
	if err := fsutil.WriteFile(l.KnownHostsPath(), kh, 0o644); err != nil {
		return l.errf("%v", err)
	}
	if err := fsutil.WriteFile(l.SSHConfigPath(), cfg, 0o644); err != nil {
		return l.errf("%v", err)
	}
	return nil
}

func (l *Lab) status(ctx context.Context) ([]HostStatus, error) {
	recs, err := l.loadHosts()
	if err != nil {
		return nil, l.errf("%v", err)
	}
	var st []HostStatus
	for _, r := range recs {
		s := HostStatus{Host: l.hostOf(r, l.readHostKey(r.Name)), PID: r.PID}
		switch {
		case r.Index < 0:
			s.Problem = "never brought up (run lab:up)"
		case !netnsExists(r.Netns):
			s.Problem = "network namespace " + r.Netns + " missing (run lab:up)"
		case !linkExists(r.Veth) && l.linkProblem(r) != "": // jump.go: none when hidden behind a jump host
			s.Problem = l.linkProblem(r)
		case !alive(r.PID, r.StartTime):
			s.Problem = "sshd not running (run lab:up)"
		default:
			s.Alive = true
		}
		s.Generation = generation(s.StateDir, s.RunDir)
		st = append(st, s)
	}
	return st, nil
}

// generation reads the host's current system generation from its state
// directory, else the target of its /run/current-system.
func generation(stateDir, runDir string) string {
	if b, err := os.ReadFile(filepath.Join(stateDir, "generation")); err == nil {
		if g := strings.TrimSpace(string(b)); g != "" {
			return g
		}
	}
	if t, err := os.Readlink(filepath.Join(runDir, "current-system")); err == nil {
		return t
	}
	return ""
}

func (l *Lab) exec(ctx context.Context, name string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, l.errf("exec on %s: no command given", name)
	}
	var r hostRecord
	ok, err := readJSON(l.hostFile(name), &r)
	if err != nil {
		return nil, l.errf("%v", err)
	}
	if !ok {
		return nil, l.errf("no host %s (run lab:up %s)", name, name)
	}
	if !alive(r.PID, r.StartTime) {
		return nil, l.errf("host %s is down (run lab:up %s)", name, name)
	}
	args := append([]string{"nsenter", "-t", strconv.Itoa(r.PID), "-m", "-n", "--"}, argv...)
	out, err := output(ctx, args...)
	if err != nil {
		return out, l.errf("host %s: %v", name, err)
	}
	return out, nil
}
