package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/tail"
)

// Bare-image hosts: what a cloud API creates.
//
// A real Hetzner or Compute Engine server boots the provider's image
// (Debian, Ubuntu): sshd and a shell, no Nix, no /nix store. The fleet's
// system gets onto it by an install, as nixos-anywhere does it: kexec into
// an installer that has Nix, partition and mount the disk at /mnt, copy the
// system closure into /mnt's store, set the disk's system profile, install
// the bootloader, reboot into the installed system.
//
// The fake clouds create their servers with CreateBareHost, and a lab host
// so made goes through the same three boots (hostRecord.Boot):
//
//	image      the provider's image: every Nix command, library and
//	           /etc/nix of the machine is hidden in the host's mount
//	           namespace (overlay mounts whose top layer holds whiteouts
//	           for them), /nix is the disk's empty store directory.
//	installer  the kexec stand-in (Kexec): sshd restarted in a new mount
//	           namespace that sees the machine's Nix, marked like the
//	           nixos-images kexec installer (/etc/is_kexec), with a fresh
//	           in-memory store of its own at /nix, an /etc/nix that does not
//	           trust the fleet key, and the host's disk mounted at /mnt
//	           (/mnt/nix is the store the installed system will boot with,
//	           /mnt/var/lib/vanixiets and /mnt/etc/ssh the disk's state and
//	           host keys, the latter empty until the install writes the
//	           machine's key there). It keeps the image's host key, as the
//	           kexec installer does, and its address.
//	installed  the reboot stand-in (Reboot): the host restarts as an
//	           ordinary lab host on its disk (its store at /nix, a fresh
//	           /run, the host key the install wrote to /mnt/etc/ssh, or a
//	           new one when it wrote none) and runs the activation of the
//	           system its profile names, as a NixOS stage 2 does at boot.
//
// Host keys are a real image's too: the image's sshd presents a key of
// its own, made at its first boot, never the machine's key from vars (the
// lab's HostKey hook passes bare hosts by). Only the installed system
// presents the machine's key, so a deployer that trusts the vars' key
// alone cannot reach a fresh image and must learn the image's key another
// way (tasks/deploy/bootstrap.go), exactly as against a real cloud.
//
// What the stand-ins do not do, and only a real machine proves: kexec
// itself, partitioning and file systems (disko), the bootloader. The
// deployer's part of the install (tasks/deploy/install.go) is the same on
// both.

// Image names what a host was created from (hostRecord.Image).
const imageBare = "bare"

// Boots of a bare-image host (hostRecord.Boot, Host.Boot).
const (
	BootImage     = "image"
	BootInstaller = "installer"
	BootInstalled = "installed"
)

// KexecMarker is the file the installer has and no other system has: the
// nixos-images kexec installer's own mark, which the deployer reads.
const KexecMarker = "/etc/is_kexec"

// installerNixConf is the installer's /etc/nix/nix.conf: no substituters
// (nothing leaves the machine) and, unlike an installed host's, no fleet
// key among the trusted ones, as a stock installer image has none.
const installerNixConf = `experimental-features = nix-command flakes
substituters =
sandbox = false
build-users-group =
`

// hiddenNixDirs are the machine's directories that may hold Nix (its
// commands, libraries, /etc/nix); an image host sees none of their "nix"
// and "nix-*" entries. A directory that is a symbolic link (/bin on a
// merged /usr) is covered by its target.
var hiddenNixDirs = []string{"/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib", "/usr/libexec", "/etc"}

// isNixEntry says whether a directory entry is part of a Nix install.
func isNixEntry(name string) bool { return name == "nix" || strings.HasPrefix(name, "nix-") }

// CreateBareHost is CreateHost for a server a cloud API creates: the host
// boots the provider's image (no Nix, an empty /nix) until an install
// takes it through Kexec and Reboot. An existing host of that name is kept
// as it is, whatever it boots (a lab:up host that already runs Nix stays
// one: the lab does not wipe a disk to make a server look new).
func (l *Lab) CreateBareHost(ctx context.Context, name string, hostKey ed25519.PrivateKey) (Host, error) {
	if !hostRE.MatchString(name) {
		return Host{}, fmt.Errorf("lab host name %q: use lower-case letters, digits and '-'", name)
	}
	if strings.ContainsAny(l.cfg.Dir, ",:") {
		return Host{}, l.errf("directory %s holds ',' or ':', which an overlay mount option cannot take; choose another (Config.Dir or VANIXIETS_LAB_DIR) for bare-image hosts", l.cfg.Dir)
	}
	hs, err := l.up(ctx, []string{name}, map[string]ed25519.PrivateKey{name: hostKey}, imageBare)
	if err != nil {
		return Host{}, err
	}
	return hs[0], nil
}

// Kexec boots host name into the installer (the kexec stand-in): its sshd
// and every session end, and it comes back at the same address with the
// same host key, in an installer with Nix, a fresh in-memory store and its
// disk at /mnt. The boot is recorded before anything changes, so a lab:up
// after a kill mid-way finishes it. Only a bare-image host has an installer.
func (l *Lab) Kexec(ctx context.Context, name string) error {
	return l.reboot(ctx, name, BootInstaller)
}

// Reboot restarts host name from its disk (the reboot stand-in): sshd and
// every session end, /run starts empty, the installer's memory is gone, and
// the host comes back as an ordinary lab host whose store is the one the
// install filled; then it runs the activation of the system its profile
// (/nix/var/nix/profiles/system) names, as a NixOS boot does. A disk with
// no system profile would not boot: that is an error.
func (l *Lab) Reboot(ctx context.Context, name string) error {
	if err := l.reboot(ctx, name, BootInstalled); err != nil {
		return err
	}
	out, err := l.exec(ctx, name, "sh", "-c", bootActivation)
	if err != nil {
		return l.errf("host %s: boot: %v: %s", name, err, tail.LastLines(string(out), 10))
	}
	return nil
}

// bootActivation is the lab's stage 2: the activation of the generation the
// system profile points at (what a NixOS bootloader entry boots).
const bootActivation = `P=/nix/var/nix/profiles/system
if [ ! -e "$P" ]; then echo "no system on the disk ($P is missing): the host would not boot" >&2; exit 1; fi
if [ -x "$P/activate" ]; then exec "$P/activate"; fi
exec "$P/bin/switch-to-configuration" switch`

func (l *Lab) reboot(ctx context.Context, name, boot string) error {
	r, ok, unlock, err := l.lockedHost(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	if !ok || r.Index < 0 {
		return l.errf("no host %s (it was never created)", name)
	}
	if r.Image != imageBare {
		return l.errf("host %s was not created from a bare image (CreateBareHost): it has no installer to boot", name)
	}
	prev := r.Boot
	r.Boot = boot
	if err := writeJSON(l.hostFile(name), r); err != nil {
		return l.errf("record host %s: %v", name, err)
	}
	l.stopProcs(ctx, r)
	dir := l.hostDir(name)
	// What was in memory is gone: the installer's own store and files
	// (a new kexec starts from a fresh image) and, at a reboot, /run.
	if err := os.RemoveAll(filepath.Join(dir, "installer")); err != nil {
		return l.errf("host %s: %v", name, err)
	}
	switch boot {
	case BootInstalled:
		if err := emptyDir(filepath.Join(dir, "run")); err != nil {
			return l.errf("host %s: %v", name, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "run", "sshd"), 0o755); err != nil {
			return l.errf("host %s: %v", name, err)
		}
		if prev != BootInstalled { // the first boot from the disk
			if err := l.bootHostKey(name); err != nil {
				return err
			}
		}
	}
	if !netnsExists(r.Netns) || !linkExists(r.Veth) {
		// The network went with a crash of the machine: make it again.
		if err := removeNetwork(ctx, r); err != nil {
			return l.errf("host %s: %v", name, err)
		}
		if err := l.addNetwork(ctx, r); err != nil {
			return l.errf("host %s: %v", name, err)
		}
	}
	if _, err := l.startSSHD(r); err != nil {
		return err
	}
	if boot == BootInstalled {
		// The host answers with its disk's key now: the lab's
		// known_hosts says so (the installer kept the image's).
		return l.writeSSHFiles()
	}
	return nil
}

// diskSSHDir is, in a host's directory, the /etc/ssh of the disk an
// install writes (the installer's /mnt/etc/ssh): where the deployer puts
// the machine's host key for the installed system to present.
const diskSSHDir = "disk-etc-ssh"

// bootHostKey makes the key on the installed disk the one the host's sshd
// presents from its first boot from that disk on (later boots keep what
// /etc/ssh holds then): the key the install wrote to /mnt/etc/ssh
// or, when it wrote none, a new one, as a NixOS sshd makes at its first
// start. The image's key is gone with the image either way.
func (l *Lab) bootHostKey(name string) error {
	key, ok, err := readKey(filepath.Join(l.hostDir(name), diskSSHDir, "ssh_host_ed25519_key"))
	if err != nil {
		return l.errf("host %s: the installed disk's host key: %v", name, err)
	}
	if !ok {
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return l.errf("host %s: %v", name, err)
		}
	}
	if _, _, err := ensureKey(l.hostKeyPath(name), key, "root@"+name); err != nil {
		return l.errf("host %s: host key: %v", name, err)
	}
	return nil
}

// emptyDir removes everything inside dir (and makes dir when missing).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// bareMount returns mountScript's kind arguments ($6, $7) of a bare-image
// host that is not installed yet, after laying out what its boot needs;
// nil for every other host.
func (l *Lab) bareMount(r hostRecord) (kind []string, err error) {
	if r.Image != imageBare || r.Boot == BootInstalled {
		return nil, nil
	}
	if r.Class == ClassDarwin {
		// A cloud server boots a Linux image; $6 is a darwin host's class.
		return nil, l.errf("host %s: a bare cloud image cannot be darwin-class", r.Name)
	}
	dir := l.hostDir(r.Name)
	layers := filepath.Join(dir, "bare-layers")
	switch r.Boot {
	case BootImage:
		if err := writeWhiteouts(layers); err != nil {
			return nil, l.errf("host %s: hide Nix: %v", r.Name, err)
		}
	case BootInstaller:
		if err := l.writeInstaller(filepath.Join(dir, "installer")); err != nil {
			return nil, l.errf("host %s: installer: %v", r.Name, err)
		}
		// The disk the installer formats: its /etc/ssh starts empty (the
		// image's keys stay with the image, and the installer carries
		// them in memory). Made here, at every start of an installer, and
		// not only at the kexec: a kexec killed after it recorded its
		// boot is finished by the next start (TestInstallKilledResumes).
		if err := os.MkdirAll(filepath.Join(dir, diskSSHDir), 0o755); err != nil {
			return nil, l.errf("host %s: %v", r.Name, err)
		}
		if recordedNix(r) == nix.Version226 {
			// The installer's 2.26 fills the disk's store through
			// --store /mnt, never as its /nix, so the wrapper does not
			// mark it as it marks a store it makes: the lab does, for
			// the installed host's 2.26 (this directory is 2.26's alone).
			mark := filepath.Join(dir, storeDir(nix.Version226), nix.Nix226StoreMark)
			if _, err := os.Stat(mark); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(filepath.Dir(mark), 0o755); err != nil {
					return nil, l.errf("host %s: %v", r.Name, err)
				}
				if err := fsutil.WriteFile(mark, []byte(nix.Version226+"\n"), 0o644); err != nil {
					return nil, l.errf("host %s: %v", r.Name, err)
				}
			}
		}
	default:
		return nil, l.errf("host %s: unknown boot %q in %s", r.Name, r.Boot, l.hostFile(r.Name))
	}
	return []string{r.Boot, layers}, nil
}

// writeWhiteouts makes, under layers, one overlay layer per machine
// directory holding Nix entries, each entry a whiteout (a 0/0 character
// device: overlayfs shows the name as absent), and the "dirs" list the
// mount script reads.
func writeWhiteouts(layers string) error {
	if err := os.RemoveAll(layers); err != nil {
		return err
	}
	if err := os.MkdirAll(layers, 0o755); err != nil {
		return err
	}
	var list strings.Builder
	for i, d := range hiddenNixDirs {
		st, err := os.Lstat(d)
		if err != nil || !st.IsDir() {
			continue // missing, or a link to a directory listed too
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		layer := filepath.Join(layers, fmt.Sprint(i))
		n := 0
		for _, e := range ents {
			if !isNixEntry(e.Name()) {
				continue
			}
			if n == 0 {
				if err := os.Mkdir(layer, 0o755); err != nil {
					return err
				}
			}
			if err := syscall.Mknod(filepath.Join(layer, e.Name()), syscall.S_IFCHR|0o000, 0); err != nil {
				return fmt.Errorf("whiteout %s: %v", filepath.Join(d, e.Name()), err)
			}
			n++
		}
		if n > 0 {
			fmt.Fprintf(&list, "%d %s\n", i, d)
		}
	}
	return fsutil.WriteFile(filepath.Join(layers, "dirs"), []byte(list.String()), 0o644)
}

// writeInstaller lays out the installer's memory (kept when there: a
// lab:up restarting an installer host finds what the installer had), and
// the mount points of the disk at /mnt.
func (l *Lab) writeInstaller(i string) error {
	for _, d := range []string{"nix", "etc-nix", "etc-layer", "run/sshd", "state", "sops-nix",
		"mnt/nix", "mnt/var/lib/vanixiets", "mnt/var/lib/sops-nix", "mnt/etc/ssh"} {
		if err := os.MkdirAll(filepath.Join(i, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll("/mnt", 0o755); err != nil { // the bind target on the machine
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(i, "etc-nix", "nix.conf"), []byte(installerNixConf), 0o644); err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(i, "etc-layer", filepath.Base(KexecMarker)), []byte("vanixiets lab: kexec installer stand-in\n"), 0o644)
}

// Kexec is the install's kexec for a deployment (deploy.Installer).
func (d *Deployable) Kexec(ctx context.Context, machine string) error {
	return d.l.Kexec(ctx, machine)
}

// Reboot is the install's reboot for a deployment (deploy.Installer).
func (d *Deployable) Reboot(ctx context.Context, machine string) error {
	return d.l.Reboot(ctx, machine)
}
