package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"

	"github.com/vanixiets/vanixiets/tasks/tail"
)

// Install from a bare image.
//
// A cloud server starts from its provider's image: sshd and a shell, no
// Nix. Before the first deployment of a cloud machine can copy anything,
// NixOS has to be installed on it, which is what nixos-anywhere (under
// clan machines install) does:
//
//  1. kexec: the host boots an installer that runs from memory and has
//     Nix (the nixos-images kexec installer, marked by /etc/is_kexec), and
//     mounts the disk it will install to at /mnt (disko);
//  2. store: the system closure is copied into the disk's store
//     (nix-daemon --store /mnt; the daemon checks every NAR against its
//     hash and registers a path only once it is whole);
//  3. profile: the disk's system profile (/mnt/nix/var/nix/profiles/system)
//     is set to the toplevel, generation 1;
//  4. reboot: the bootloader for that profile is installed and the host
//     restarts from its disk into the installed system, keeping its host
//     key.
//
// Steps 2 and 3 are this file's, run over the deployment's SSH connection
// exactly as they would be against a real installer. Steps 1 and 4 change
// what the machine runs beneath the SSH session and are the Installer's:
// the front door plugs one in (the lab's stand-ins, tasks/lab/bare.go);
// a real machine needs kexec, disko and a bootloader, which this suite
// does not drive (docs/cloud.md), so without an Installer a host with no
// Nix is an error that says how to install it.
//
// The install is resumable: each phase is checked on the host before it
// runs (is this the installer already? is the closure on the disk? is the
// profile set?) from markers the install writes atomically on the disk
// (/mnt/var/lib/vanixiets/install/), so a deployer killed at any point
// leaves a host the next deployment finishes: it finds the installer and
// goes on from the first phase not marked done. The markers live on the
// disk, not in the installer's memory, so that they name what the disk
// holds.
//
// A host that has Nix (installed, or never bare) costs one probe per
// deployment and nothing else; a second deployment copies nothing.

// Installer boots a host without Nix through the two steps of an install
// that only its machine (or a stand-in for it) can take. A Lab that
// implements it is the deployment's installer.
type Installer interface {
	// Kexec boots machine into an installer: a system that runs from
	// memory, has Nix, is marked by /etc/is_kexec, keeps the host's SSH
	// host key and address, and has the disk the machine will boot from
	// mounted at /mnt.
	Kexec(ctx context.Context, machine string) error
	// Reboot makes the disk's system profile what machine boots (its
	// bootloader) and restarts it from the disk: it comes back running
	// the installed system, with the same host key and address.
	Reboot(ctx context.Context, machine string) error
}

// installRoot is where the installer mounts the disk being installed.
const installRoot = "/mnt"

// installMarkers is where on the disk the install records its phases.
const installMarkers = installRoot + "/var/lib/vanixiets/install"

// rebootWait bounds the wait for a host to answer SSH again after a
// kexec or a reboot (a real machine takes a minute or two).
const rebootWait = 5 * time.Minute

// hostState is what probeScript finds on a host.
type hostState struct {
	// Nix: nix-daemon is on an SSH session's PATH (what a copy runs).
	Nix bool
	// Kexec: the host runs an installer (/etc/is_kexec).
	Kexec bool
	// Disk: (installer) a file system is mounted at /mnt.
	Disk bool
	// Copied: (installer) the toplevel whose closure is in the disk's store.
	Copied string
	// Profile: (installer) the toplevel the disk's system profile was set to.
	Profile string
}

// probeScript prints one "VANIXIETS-<KEY> <value>" line per fact of hostState.
const probeScript = `command -v nix-daemon >/dev/null 2>&1 && echo "VANIXIETS-NIX yes"
if [ -e /etc/is_kexec ]; then
  echo "VANIXIETS-KEXEC yes"
  if mountpoint -q ` + installRoot + ` 2>/dev/null; then echo "VANIXIETS-DISK yes"; fi
  for f in copied profile; do
    if [ -f "` + installMarkers + `/$f" ]; then echo "VANIXIETS-$f $(cat "` + installMarkers + `/$f")"; fi
  done
fi
exit 0`

// parseProbe reads probeScript's output. Lines it does not know are
// ignored (a login banner); a marker holding anything but one store path
// counts as absent, so a damaged marker makes its phase run again.
func parseProbe(out string) hostState {
	var st hostState
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VANIXIETS-")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(rest, " ")
		v = strings.TrimSpace(v)
		switch k {
		case "NIX":
			st.Nix = v == "yes"
		case "KEXEC":
			st.Kexec = v == "yes"
		case "DISK":
			st.Disk = v == "yes"
		case "copied":
			st.Copied = storePathOnly(v)
		case "profile":
			st.Profile = storePathOnly(v)
		}
	}
	return st
}

// storePathOnly returns v when it is one store path, else "".
func storePathOnly(v string) string {
	if !strings.HasPrefix(v, "/nix/store/") || strings.ContainsAny(v, " \t\n\x00") || strings.Contains(v, "/../") {
		return ""
	}
	return v
}

func probe(ctx context.Context, c *remote.Client) (hostState, error) {
	out, err := c.Output(ctx, hostsh.Command(probeScript), nil)
	if err != nil {
		return hostState{}, fmt.Errorf("probe %s for Nix: %v", c.Config().Name(), err)
	}
	return parseProbe(string(out)), nil
}

// markScript records a phase on the disk, atomically: $1 the phase, $2
// the toplevel.
const markScript = `set -eu
mkdir -p ` + installMarkers + `
printf '%s\n' "$2" > ` + installMarkers + `/.$1.new
sync ` + installMarkers + `/.$1.new 2>/dev/null || sync
mv -f ` + installMarkers + `/.$1.new ` + installMarkers + `/$1`

// profileScript sets the disk's system profile to $1, as nixos-install
// does (a new generation only when the profile points elsewhere).
const profileScript = `set -eu
nix-env --store ` + installRoot + ` -p ` + installRoot + `/nix/var/nix/profiles/system --set "$1"`

func runScript(ctx context.Context, c *remote.Client, script string, args ...string) error {
	var stderr strings.Builder
	if err := c.Run(ctx, hostsh.Command(script, args...), nil, nil, &stderr); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s", tail.LastLine(msg))
	}
	return nil
}

// installer is the deployment's Installer: the lab's, when the lab
// plugged in has one.
func (d *Deployer) installer() Installer {
	in, _ := d.opt.Lab.(Installer)
	return in
}

// installStep is a cloud machine's install, before anything else reaches
// its host (copy, secrets): nothing when the host has Nix, the install
// (or the rest of an interrupted one) when it has not. Machines without a
// cloud block get none: a laptop without Nix is a machine to set up by
// hand, not a server to install.
func (d *Deployer) installStep(m *fleet.Machine) *pipeline.Step {
	if m.Cloud == nil {
		return nil
	}
	return &pipeline.Step{
		Name: stepOf(m.Name, phaseInstall), Def: "deploy-install-v1", Deps: []string{stepBuild},
		Params:  map[string]string{"machine": m.Name, "target": d.targetParam(m)},
		NoCache: true, // asks the host every time: one probe
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			top, c, boot, err := d.installHostFor(ctx, in, m)
			if err != nil {
				return nil, err
			}
			st, err := probe(ctx, c)
			if err != nil {
				return nil, err
			}
			if st.Nix && !st.Kexec {
				if boot != nil {
					c.Close()
					return nil, refuseChanged(m, c, boot)
				}
				return pipeline.Outputs{outInstalled: "", outNote: ": the host has Nix, nothing to install"}, nil
			}
			if boot != nil {
				defer c.Close() // the install redials; this one is its own
				d.printf("%-10s %-9s the host presents its image's key (%s), vouched for by %s: trusted for the install only", m.Name, phaseInstall, keyName(boot.hk.Got), boot.via)
			}
			copied, err := d.install(ctx, in, m, top, c, st)
			outs := copiedOutputs(copied)
			if err != nil {
				return outs, err
			}
			return with(outs, outInstalled, top, outNote, fmt.Sprintf(": installed %s (%d paths to the disk)", top, copied.Sent)), nil
		},
	}
}

// install takes the host from wherever a previous install stopped (st) to
// running top: kexec unless it runs the installer, the closure onto the
// disk unless marked there, the profile unless marked, the reboot. It
// returns the copy of the closure to the disk (zero when an earlier install
// had copied it), also when a later phase fails.
func (d *Deployer) install(ctx context.Context, in pipeline.Input, m *fleet.Machine, top string, c *remote.Client, st hostState) (copied closure.Report, err error) {
	inst := d.installer()
	if inst == nil {
		return copied, fmt.Errorf("the host %s has no Nix (it runs its provider's image): install NixOS on it first (clan machines install %s, or nixos-anywhere), then deploy; this suite installs a bare host itself only where an Installer stands in for kexec and reboot (the lab; docs/cloud.md)",
			c.Config().Name(), m.Name)
	}
	say := func(format string, a ...any) {
		d.printf("%-10s %-9s "+format, append([]any{m.Name, phaseInstall}, a...)...)
	}
	if st.Kexec {
		if !st.Nix {
			return copied, fmt.Errorf("%s runs an installer (/etc/is_kexec) without nix-daemon: boot an installer that has Nix", m.Name)
		}
		say("the host runs the installer already: resuming the install")
	} else {
		say("no Nix on the host (a bare image): kexec into the installer")
		if err := inst.Kexec(ctx, m.Name); err != nil {
			return copied, fmt.Errorf("kexec %s into the installer: %w", m.Name, err)
		}
		// The installer keeps the image's key: reached as the image was.
		if c, err = d.redial(ctx, m, "kexec", d.bootstrapTarget); err != nil {
			return copied, err
		}
		if st, err = probe(ctx, c); err != nil {
			return copied, err
		}
		if !st.Kexec || !st.Nix {
			return copied, fmt.Errorf("%s after kexec: no installer with Nix (/etc/is_kexec: %v, nix-daemon: %v)", m.Name, st.Kexec, st.Nix)
		}
		say("in the installer")
	}
	if !st.Disk {
		return copied, fmt.Errorf("%s: the installer has no disk mounted at %s: partition, format and mount it (disko) before the system is copied", m.Name, installRoot)
	}
	if st.Copied != top {
		infos, err := d.closureInfos(ctx, in.Deps[stepBuild], top)
		if err != nil {
			return copied, err
		}
		say("copying the closure to the disk (%s, %d paths)", installRoot, len(infos))
		// No CheckSigs: the installer trusts no key of the fleet's (a
		// stock image), and a key the deployer named in the same breath
		// would prove nothing. The daemon still checks every NAR against
		// its hash; the paths carry the fleet's signature for the
		// installed system, which trusts it.
		copied, err = closure.Copy(ctx, d.opt.Nix, c, closure.Options{Signer: d.signer, Infos: infos, Root: installRoot}, top)
		if err != nil {
			return copied, fmt.Errorf("install %s: %w", m.Name, err)
		}
		if err := runScript(ctx, c, markScript, "copied", top); err != nil {
			return copied, fmt.Errorf("install %s: mark the copy done: %v", m.Name, err)
		}
	}
	if st.Profile != top {
		say("setting the disk's system profile")
		if err := runScript(ctx, c, profileScript, top); err != nil {
			return copied, fmt.Errorf("install %s: set the system profile: %v", m.Name, err)
		}
		if err := runScript(ctx, c, markScript, "profile", top); err != nil {
			return copied, fmt.Errorf("install %s: mark the profile set: %v", m.Name, err)
		}
	}
	say("writing the machine's host key from the vars to the disk (%s/etc/ssh)", installRoot)
	if err := d.writeHostKey(ctx, m, c); err != nil {
		return copied, err
	}
	if err := d.writeMachineKey(ctx, m, c); err != nil {
		return copied, err
	}
	say("rebooting into the installed system")
	if err := inst.Reboot(ctx, m.Name); err != nil {
		return copied, fmt.Errorf("reboot %s into the installed system: %w", m.Name, err)
	}
	// The installed system presents the key just written: reached
	// against the vars' key, strictly, as every deployment after it.
	if c, err = d.redial(ctx, m, "reboot", d.target); err != nil {
		return copied, err
	}
	if st, err = probe(ctx, c); err != nil {
		return copied, err
	}
	if !st.Nix || st.Kexec {
		return copied, fmt.Errorf("%s after the reboot: not the installed system (nix-daemon: %v, installer: %v)", m.Name, st.Nix, st.Kexec)
	}
	return copied, nil
}

// redial replaces m's connection after its host restarted (the old one
// died with it), retrying while the host comes back; target says how the
// host's key is checked.
func (d *Deployer) redial(ctx context.Context, m *fleet.Machine, after string, target func(*fleet.Machine) (remote.Config, error)) (*remote.Client, error) {
	cfg, err := target(m)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	old := d.conns[m.Name]
	delete(d.conns, m.Name)
	d.mu.Unlock()
	if old != nil && old.c != nil {
		old.c.Close()
	}
	deadline := time.Now().Add(rebootWait)
	for {
		c, err := remote.Dial(ctx, cfg)
		var hk *remote.HostKeyError
		if errors.As(err, &hk) {
			return nil, fmt.Errorf("%s after the %s: %w", m.Name, after, err) // a wrong key is no slow boot
		}
		if err == nil {
			e := &connEntry{}
			e.once.Do(func() { e.c = c })
			d.mu.Lock()
			d.conns[m.Name] = e
			d.mu.Unlock()
			return c, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not answer SSH after the %s (within %s): %v", m.Name, after, rebootWait, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// planInstall is a dry run's look at a cloud host: whether a deployment
// would install it, and the plan line saying so.
func (d *Deployer) planInstall(ctx context.Context, in pipeline.Input, m *fleet.Machine, top string, c *remote.Client, boot *bootstrap) (string, bool, error) {
	if m.Cloud == nil {
		return "", false, nil
	}
	st, err := probe(ctx, c)
	if err == nil && boot != nil && st.Nix && !st.Kexec {
		err = refuseChanged(m, c, boot)
	}
	if err != nil || (st.Nix && !st.Kexec) {
		return "", false, err
	}
	infos, err := d.closureInfos(ctx, in.Deps[stepBuild], top)
	if err != nil {
		return "", false, err
	}
	var size int64
	for _, pi := range infos {
		size += pi.NarSize
	}
	how := "kexec into an installer, copy"
	if st.Kexec {
		how = "resume the install in its installer: copy"
	}
	if d.installer() == nil {
		how = "NOT possible here (no Installer: install NixOS first); it would need to " + how
	}
	return fmt.Sprintf("would install: the host has no Nix; %s %d paths (%s) to the disk, set the system profile to %s, reboot", how, len(infos), humanBytes(size), top), true, nil
}
