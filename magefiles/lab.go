//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
)

// Up brings up the lab: one host per fleet machine, or only the machines
// named after it (go tool mage lab:up cinnabar galena, or cinnabar,galena,
// or $VANIXIETS_LAB_MACHINES). Hosts already up are kept. With the lab
// flake (the default; --flake or $VANIXIETS_FLAKE) the machine list comes
// from its fleet (cached: no nix on a warm run) and each host gets the
// machine's generated host key from the flake's vars.
func (Lab) Up(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	l, err := labFromFleet(ctx)
	if err != nil {
		return err
	}
	names := lab.SplitMachines(os.Getenv("VANIXIETS_LAB_MACHINES"))
	for _, a := range rest() {
		names = append(names, lab.SplitMachines(a)...)
	}
	hs, err := l.Up(ctx, names)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s: %d hosts up in %s; ssh -F %s root@<machine>\n", l.Name(), len(hs), l.Range(), l.SSHConfigPath())
	return nil
}

// labFromFleet opens the default lab ($VANIXIETS_LAB_NAME, _RANGE, _DIR)
// with the lab flake's machines and host keys; for another flake, with the
// default machine list.
func labFromFleet(ctx context.Context) (*lab.Lab, error) {
	l, err := lab.Default()
	if err != nil {
		return nil, err
	}
	ref, err := flakeArg()
	if err != nil || !deploy.IsRepoLab(ref) {
		return l, nil
	}
	f, err := fleet.NewLoader().Load(ctx, ref)
	if err != nil {
		return nil, err
	}
	keys, err := deploy.LabHostKeys(f, ref, os.Stdout)
	if err != nil {
		return nil, err
	}
	return lab.Open(lab.Config{Name: l.Name(), Dir: l.Dir(), Range: l.Range(), Machines: lab.MachinesFromFleet(f), HostKey: keys})
}

// Down removes every namespace, link, route, mount, process and file the lab
// made, also after a crash of an earlier run.
func (Lab) Down(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	l, err := lab.Default()
	if err != nil {
		return err
	}
	return l.Down(ctx)
}

// Status prints each lab host: address, whether sshd is alive, and the
// current system generation.
func (Lab) Status(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	l, err := lab.Default()
	if err != nil {
		return err
	}
	st, err := l.Status(ctx)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Printf("lab %s: no hosts (go tool mage lab:up)\n", l.Name())
		return nil
	}
	fmt.Print(lab.FormatStatus(st))
	return nil
}

// Ssh runs a command on a lab host over real ssh with the lab's known_hosts
// and client key: go tool mage lab:ssh cinnabar -- nix --version. The
// command's exit code becomes mage's.
func (Lab) Ssh(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	l, err := lab.Default()
	if err != nil {
		return err
	}
	name := call.Words[0]
	if !slices.Contains(l.Machines(), name) {
		// lab:up brings up only fleet machines: suggesting `lab:up nosuch`
		// would send the user round in a circle.
		return fmt.Errorf("lab:ssh: %q is not a machine of lab %s; its machines: %s (go tool mage lab:status shows which are up)", name, l.Name(), strings.Join(l.Machines(), ", "))
	}
	code, err := l.SSH(ctx, name, strings.Join(call.Command, " "), os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		os.Exit(code)
	}
	return nil
}
