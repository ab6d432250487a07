// The first connection to a fresh cloud server, and the host key its
// install leaves it with.

package deploy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// Bootstrap trust.
//
// A deployment checks a machine's SSH host key against the key its vars
// hold (the openssh generator's), and nothing else. A server its provider
// has just made cannot pass that check: it runs the provider's image,
// whose sshd made a key of its own at first boot, which no record of the
// fleet's holds. nixos-anywhere connects to it with
// StrictHostKeyChecking=no; clan machines install asks, or trusts on
// first use when told to. Here no key is accepted that nobody vouched
// for, and the one that is accepted is accepted for one thing only:
//
//   - The provider vouches first, where it can (Options.ConsoleHostKeys:
//     a Compute Engine instance writes its keys to its serial console,
//     which the API that created it serves to the same credentials). A
//     key the console shows is accepted; a key other than the console's
//     is refused outright, whatever any known_hosts says: the provider
//     and the connection disagree, and the connection is the one that can
//     be intercepted.
//   - Else (no door, as with Hetzner, or the console could not be read)
//     the image's key must be in the known_hosts files ssh itself would
//     check the target against (its ssh_config's UserKnownHostsFile,
//     ~/.ssh/known_hosts, Options.KnownHosts). Someone put it there after
//     reading it where the provider shows it (in the lab, the lab's record
//     of the hosts it made stands in). A key found nowhere is refused with
//     its fingerprint and what to do.
//   - It reaches only the install. A host that presents a key other than
//     its vars key and runs Nix outside an installer is not a fresh image
//     but a changed machine, and the deployment stops there, as ssh does
//     at "REMOTE HOST IDENTIFICATION HAS CHANGED".
//
// The installer the install kexecs into keeps the image's key (as
// nixos-anywhere's does), and is redialled under the same trust. The
// install then writes the machine's key from the vars to the disk
// (/mnt/etc/ssh, what nixos-anywhere's --extra-files is used for), and the
// installed system is reached, after its reboot, against the vars' key
// again: from then on the image's key is trusted for nothing.

// bootstrap is how an install's first connection was trusted.
type bootstrap struct {
	hk  *remote.HostKeyError // the key presented, and the vars' key it is not
	via string               // who vouched for the key presented
	cfg remote.Config        // the connection, for the redial after kexec
}

// installHostFor is hostFor for the steps that may meet a bare host (the
// install, and a dry run's look at it): m's toplevel from the build step,
// and installConn's connection.
func (d *Deployer) installHostFor(ctx context.Context, in pipeline.Input, m *fleet.Machine) (string, *remote.Client, *bootstrap, error) {
	top, err := d.toplevel(in, m)
	if err != nil {
		return "", nil, nil, err
	}
	c, boot, err := d.installConn(ctx, m)
	if err != nil {
		return "", nil, nil, err
	}
	return top, c, boot, nil
}

// installConn is the connection a cloud machine's install (or a dry run's
// look at it) uses: the deployment's own when the host presents the key
// its vars hold, else a bootstrap connection when the host presents
// another key that its provider's console or ssh's own known_hosts vouch
// for; boot then says which and how (nil for the deployment's own
// connection). Any other machine, and any other error, is conn's.
func (d *Deployer) installConn(ctx context.Context, m *fleet.Machine) (c *remote.Client, boot *bootstrap, err error) {
	c, err = d.conn(ctx, m)
	var hk *remote.HostKeyError
	if err == nil || m.Cloud == nil || !errors.As(err, &hk) || len(hk.Want) == 0 {
		return c, nil, err
	}
	t, cfg, err := d.sshTarget(m)
	if err != nil {
		return nil, nil, err
	}
	b := &bootstrap{hk: hk, via: "ssh's known_hosts (" + filesOrNone(cfg.KnownHosts) + ")", cfg: cfg}
	var consoleErr error
	if d.opt.ConsoleHostKeys != nil {
		keys, err := d.opt.ConsoleHostKeys(ctx, m)
		switch {
		case err != nil:
			consoleErr = err
		case len(keys) > 0:
			var lines []string
			shown := false
			for _, k := range keys {
				lines = append(lines, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
				shown = shown || bytes.Equal(k.Marshal(), hk.Got.Marshal())
			}
			if !shown {
				return nil, nil, fmt.Errorf("host key of %s is not its provider's: it presents %s, but its console shows %s; nothing was changed on it: someone may be intercepting the connection to %s",
					m.Name, keyName(hk.Got), keyNames(keys), cfg.Name())
			}
			_, host, _, _ := remote.ParseTarget(t)
			p, err := writeKnownHosts(filepath.Join(d.opt.Dir, "known_hosts.console"), m.Name, lines, cfg.HostKeyAlias, cfg.Addr, host)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: known_hosts from its console: %v", m.Name, err)
			}
			b.cfg.KnownHosts = []string{p}
			b.via = "its provider's console"
		}
	}
	bc, berr := remote.Dial(ctx, b.cfg)
	if berr != nil {
		var bk *remote.HostKeyError
		if errors.As(berr, &bk) {
			why := ""
			if consoleErr != nil {
				why = fmt.Sprintf(" (its provider's console could not be read: %v)", consoleErr)
			}
			return nil, nil, fmt.Errorf("%s presents host key %s, which is not its key from the vars (%s) and which %s does not hold either%s: if it is the server its provider has just made, read the key its image made on the provider's console, add it to that known_hosts (or ~/.ssh/known_hosts) and deploy again; if it is not, someone may be intercepting the connection",
				m.Name, keyName(hk.Got), keyName(hk.Want[0].Key), filesOrNone(cfg.KnownHosts), why)
		}
		return nil, nil, fmt.Errorf("%s: %v, and the bootstrap connection (%s) failed: %w", m.Name, hk, b.via, berr)
	}
	d.mu.Lock()
	d.boots[m.Name] = b
	d.mu.Unlock()
	return bc, b, nil
}

// bootstrapTarget is the configuration m's install was first reached
// with (installConn), for the redial into its installer; sshTarget's when
// there was none.
func (d *Deployer) bootstrapTarget(m *fleet.Machine) (remote.Config, error) {
	d.mu.Lock()
	b := d.boots[m.Name]
	d.mu.Unlock()
	if b != nil {
		return b.cfg, nil
	}
	_, cfg, err := d.sshTarget(m)
	return cfg, err
}

// refuseChanged is the error for a host that answered a bootstrap
// connection but is no fresh image (st.Nix outside an installer). It
// names both keys, in ssh's words, so the one who reads it can compare
// them with the console and the vars.
func refuseChanged(m *fleet.Machine, c *remote.Client, boot *bootstrap) error {
	return fmt.Errorf("host key of %s CHANGED: it presents %s, not its key from the vars (%s), yet it runs Nix and is no installer: it is not a fresh image to install but a changed machine (reinstalled by hand? its vars regenerated?); nothing was changed on it. If the change is yours, put the key it presents into the vars (vars:generate %s --generator openssh --regenerate re-keys it) or deploy after checking it with ssh %s",
		m.Name, keyName(boot.hk.Got), keyName(boot.hk.Want[0].Key), m.Name, c.Config().Name())
}

func keyName(k ssh.PublicKey) string {
	if k == nil {
		return "none"
	}
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

func keyNames(keys []ssh.PublicKey) string {
	var s []string
	for _, k := range keys {
		s = append(s, keyName(k))
	}
	return strings.Join(s, ", ")
}

func filesOrNone(files []string) string {
	if len(files) == 0 {
		return "no known_hosts file"
	}
	return strings.Join(files, ", ")
}

// hostKeyScript writes the installed system's host key to the disk,
// atomically, each file readable only as sshd needs: the private key on
// stdin, the public key line as $1.
const hostKeyScript = `set -eu
umask 077
d=` + installRoot + `/etc/ssh
mkdir -p "$d"
cat > "$d/.ssh_host_ed25519_key.new"
printf '%s\n' "$1" > "$d/.ssh_host_ed25519_key.pub.new"
chmod 600 "$d/.ssh_host_ed25519_key.new"
chmod 644 "$d/.ssh_host_ed25519_key.pub.new"
sync "$d/.ssh_host_ed25519_key.new" 2>/dev/null || sync
mv -f "$d/.ssh_host_ed25519_key.new" "$d/ssh_host_ed25519_key"
mv -f "$d/.ssh_host_ed25519_key.pub.new" "$d/ssh_host_ed25519_key.pub"`

// machineKeyScript writes a machine's sops-nix age key to the disk the
// installer fills ($1: the key file's path there), atomically and readable
// by root only: the key on stdin.
const machineKeyScript = `set -eu
umask 077
f=$1
mkdir -p "${f%/*}"
cat > "$f.new"
chmod 600 "$f.new"
sync "$f.new" 2>/dev/null || sync
mv -f "$f.new" "$f"`

// writeMachineKey puts m's clan-generated age key (vars.MachineAgeKey) on
// the disk, at sops-nix's key file, as clan's install passes it to
// nixos-anywhere (--extra-files): the installed system's first activation
// decrypts its secrets with it, before any deploy uploads anything. A
// machine whose secrets are encrypted to its host key's age form has no
// such key, and the host key written before serves sops-nix instead. The
// key crosses the SSH session's stdin and nothing else.
func (d *Deployer) writeMachineKey(ctx context.Context, m *fleet.Machine, c *remote.Client) error {
	if d.secrets == nil {
		return nil
	}
	key, ok, err := d.secrets.vars(m.Name).MachineAgeKey(m.Name)
	if err != nil {
		return fmt.Errorf("install %s: its sops-nix age key from the vars: %w", m.Name, err)
	}
	if !ok {
		return nil
	}
	defer clear(key)
	dest := installRoot + vars.MachineKeyPath
	d.printf("%-10s %-9s writing the machine's sops-nix age key from the vars to the disk (%s)", m.Name, phaseInstall, dest)
	var stderr strings.Builder
	if err := c.Run(ctx, hostsh.Command(machineKeyScript, dest), bytes.NewReader(key), nil, &stderr); err != nil {
		return fmt.Errorf("install %s: write its sops-nix age key to %s: %v: %s", m.Name, dest, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// writeHostKey puts m's host key from the vars on the disk the installer
// fills, so that the installed system presents it from its first boot.
// It goes through the SSH session's stdin and nowhere else on the
// deployer. Without a key in the vars (or one no identity decrypts) the
// installed system makes its own, which the next deployment cannot
// check: that is said, and the install goes on.
func (d *Deployer) writeHostKey(ctx context.Context, m *fleet.Machine, c *remote.Client) error {
	var key ed25519.PrivateKey
	if d.secrets != nil {
		var err error
		if key, err = d.secrets.hostKey(m.Name, d.printf); err != nil {
			return err
		}
	}
	if key == nil {
		d.printf("%-10s %-9s no usable host key in the vars: the installed system makes its own at first boot, and only ssh's known_hosts can vouch for it (vars:generate %s --generator openssh)", m.Name, phaseInstall, m.Name)
		return nil
	}
	defer clear(key)
	blk, err := ssh.MarshalPrivateKey(key, "root@"+m.Name)
	if err != nil {
		return err
	}
	priv := pem.EncodeToMemory(blk)
	defer clear(priv)
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " root@" + m.Name
	var stderr strings.Builder
	if err := c.Run(ctx, hostsh.Command(hostKeyScript, line), bytes.NewReader(priv), nil, &stderr); err != nil {
		return fmt.Errorf("install %s: write its host key to %s/etc/ssh: %v: %s", m.Name, installRoot, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
