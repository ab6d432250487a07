package lab

import (
	"context"
	"crypto/ed25519"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// MachinesFromFleet turns the fleet inventory into the lab's machine list
// (Config.Machines), keeping each machine's deploy.targetHost so the lab's
// ssh_config answers to exactly what deployers will dial.
func MachinesFromFleet(f *fleet.Fleet) []Machine {
	var ms []Machine
	for _, m := range f.SortedMachines() {
		t := m.Deploy.TargetHost
		if t == "" {
			t = "root@" + m.Name
		}
		ms = append(ms, Machine{Name: m.Name, TargetHost: t, Class: m.MachineClass})
	}
	return ms
}

// ForFleet reopens l (same name, directory and range) knowing every
// machine of f under its deploy.targetHost, each host given the key hostKey
// returns (nil hook: kept or generated). Hosts already up are untouched
// until Up or CreateHost.
func (l *Lab) ForFleet(f *fleet.Fleet, hostKey func(machine string) (ed25519.PrivateKey, error)) (*Lab, error) {
	cfg := l.cfg
	cfg.Machines = MachinesFromFleet(f)
	cfg.HostKey = hostKey
	return Open(cfg)
}

// Deployable is a lab as a deployment uses it (tasks/deploy's Options.Lab,
// plugged in by the front doors, which are the only production code that
// may know the lab): it brings up the hosts of the machines being deployed,
// resolves their targets through its ssh_config, and holds the signing key
// its hosts trust. This package cannot name deploy's interface (deploy's
// tests import it), so the methods match it by shape.
type Deployable struct{ l *Lab }

// ForDeploy adapts l for a deployment.
func ForDeploy(l *Lab) *Deployable { return &Deployable{l: l} }

// Lab is the lab as last opened (with the fleet's machines after Up).
func (d *Deployable) Lab() *Lab { return d.l }

// Name is the lab's name, for progress lines.
func (d *Deployable) Name() string { return d.l.Name() }

// Dir is the lab's directory; the deployer keeps its locks under it.
func (d *Deployable) Dir() string { return d.l.Dir() }

// SSHConfigPath maps every host's target to its address.
func (d *Deployable) SSHConfigPath() string { return d.l.SSHConfigPath() }

// SigningKey is the secret key file of the key every host trusts.
func (d *Deployable) SigningKey(ctx context.Context) (string, error) {
	sec, _, err := d.l.SigningKey(ctx)
	return sec, err
}

// Up brings up the hosts of the named machines of f, each at its
// targetHost and with the host key hostKey gives.
func (d *Deployable) Up(ctx context.Context, f *fleet.Fleet, names []string, hostKey func(string) (ed25519.PrivateKey, error)) error {
	l, err := d.l.ForFleet(f, hostKey)
	if err != nil {
		return err
	}
	d.l = l
	_, err = l.Up(ctx, names)
	return err
}
