// How a deployment reaches its machines: each machine's SSH target and
// host keys, one connection per machine, and the deployer-side lock.

package deploy

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// target resolves a machine's SSH configuration: sshTarget's, checked
// against the machine's host key from the vars when the vars have one.
func (d *Deployer) target(m *fleet.Machine) (remote.Config, error) {
	t, cfg, err := d.sshTarget(m)
	if err != nil {
		return cfg, err
	}
	// The fleet's own record of the host key (the openssh var) decides,
	// when there is one: for a real machine always; for a lab host when
	// the lab gave it that key (an identity could decrypt it) and for a
	// cloud machine's (which the lab gives no key: it presents its
	// image's, then the one its install wrote, as a real server does).
	if d.secrets != nil && !d.opt.NoVarsKnownHosts && (d.opt.Lab == nil || d.secrets.isKeyed(m.Name) || (m.Cloud != nil && !d.secrets.isUnusable(m.Name))) {
		_, host, _, _ := remote.ParseTarget(t)
		p, err := d.secrets.knownHostsFile(filepath.Join(d.opt.Dir, "known_hosts.vars"), m.Name, cfg.HostKeyAlias, cfg.Addr, host)
		if err != nil {
			return cfg, fmt.Errorf("%s: known_hosts from vars: %v", m.Name, err)
		}
		if p != "" {
			cfg.KnownHosts = []string{p}
		}
	}
	return cfg, nil
}

// writeKnownHosts writes dir/<m>.known_hosts, atomically: one line per
// key ("type base64"), each under m and every other name the connection
// may look up (the ssh alias, the address, the host of the target), and
// returns its path. A file that already says so is left alone.
func writeKnownHosts(dir, m string, keys []string, names ...string) (string, error) {
	seen := map[string]bool{}
	var hosts []string
	for _, n := range append([]string{m}, names...) {
		if n != "" && !seen[n] {
			seen[n] = true
			hosts = append(hosts, n)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(dir, m+".known_hosts")
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strings.Join(hosts, ",") + " " + k + "\n")
	}
	if old, err := os.ReadFile(p); err == nil && string(old) == b.String() {
		return p, nil
	}
	if err := fsutil.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// sshTarget resolves a machine's target through the ssh_config files, as
// ssh would: the address, user, jumps and the known_hosts files ssh itself
// would check the host's key against. target adds the vars' key.
func (d *Deployer) sshTarget(m *fleet.Machine) (string, remote.Config, error) {
	t := m.Deploy.TargetHost
	if t == "" {
		t = "root@" + m.Name
	}
	d.mu.Lock()
	sshc := d.sshc
	d.mu.Unlock()
	cfg, err := remote.Resolve(t, sshc, d.opt.KnownHosts)
	if err != nil {
		return t, cfg, fmt.Errorf("%s: %v", m.Name, err)
	}
	cfg.ConnectTimeout = d.opt.ConnectTimeout
	for i := range cfg.Jump {
		cfg.Jump[i].ConnectTimeout = d.opt.ConnectTimeout // each hop in its own
	}
	return t, cfg, nil
}

// loadSSHConfig reads the ssh_config files targets are resolved through,
// in OpenSSH's precedence: the lab's own file when deploying to the lab,
// else the one file named by Options.SSHConfig (as "ssh -F" reads no
// other), else ~/.ssh/config then /etc/ssh/ssh_config, each when it
// exists. A laptop owner's Host aliases, ProxyJump through the zerotier
// controller and IdentityAgent then work for the deploy as for ssh.
func (d *Deployer) loadSSHConfig() error {
	var c *remote.SSHConfig
	var err error
	switch {
	case d.opt.Lab != nil:
		c, err = remote.LoadSSHConfig(d.opt.Lab.SSHConfigPath())
	case d.opt.SSHConfig != "":
		c, err = remote.LoadSSHConfig(d.opt.SSHConfig)
	default:
		c, err = remote.UserSSHConfig()
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.sshc = c
	d.mu.Unlock()
	return nil
}

// connEntry is one machine's deployment connection, dialled once even when
// several steps (secrets, copy) ask for it at the same moment.
type connEntry struct {
	once sync.Once
	c    *remote.Client
	err  error
}

// conn returns the deployment's connection to m, dialling it once. A
// failed dial is remembered: an unreachable host costs one timeout, not one
// per step.
func (d *Deployer) conn(ctx context.Context, m *fleet.Machine) (*remote.Client, error) {
	d.mu.Lock()
	e := d.conns[m.Name]
	if e == nil {
		e = &connEntry{}
		d.conns[m.Name] = e
	}
	d.mu.Unlock()
	e.once.Do(func() {
		cfg, err := d.target(m)
		if err != nil {
			e.err = err
			return
		}
		e.c, e.err = remote.Dial(ctx, cfg)
	})
	return e.c, e.err
}

func (d *Deployer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, e := range d.conns {
		if e.c != nil {
			e.c.Close()
		}
		delete(d.conns, n)
	}
}

// lockMachine takes the deployer-side flock for m.
func (d *Deployer) lockMachine(m string) (func(), error) {
	dir := filepath.Join(d.opt.Dir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, m+".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(p)
		f.Close()
		return nil, fmt.Errorf("%s is being deployed by another process (%s holds %s); wait for it to finish", m, strings.TrimSpace(string(b)), p)
	}
	f.Truncate(0)
	f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// labHostKey is the hook giving each lab host its machine's generated
// host key from the vars (nil without vars).
func (d *Deployer) labHostKey() func(string) (ed25519.PrivateKey, error) {
	if d.secrets == nil {
		return nil
	}
	return func(m string) (ed25519.PrivateKey, error) {
		d.identityNote()
		return d.secrets.hostKey(m, d.printf)
	}
}
