//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// Up brings up the lab: one host per machine of the flake (--flake,
// $VANIXIETS_FLAKE, default lab/), or only the machines named after it
// (go tool mage lab:up ash birch, or ash,birch, or
// $VANIXIETS_LAB_MACHINES). Each host answers at its machine's
// deploy.targetHost (user and name) with the machine's generated host key
// from the flake's vars. Hosts already up are kept. The fleet is validated
// first (cached: no nix on a warm run).
func (Lab) Up(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	l, err := fleetLab(ctx)
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
	fmt.Printf("lab %s: %d hosts up in %s; ssh -F %s <machine's targetHost>\n", l.Name(), len(hs), l.Range(), l.SSHConfigPath())
	return nil
}

// fleetLab opens the default lab ($VANIXIETS_LAB_NAME, _RANGE, _DIR)
// knowing the machines of the flake the target works on, validated, each
// host given the machine's host key from the flake's vars.
func fleetLab(ctx context.Context) (*lab.Lab, error) {
	l, err := lab.Default()
	if err != nil {
		return nil, err
	}
	if err := l.Preflight(ctx); err != nil {
		return nil, err
	}
	ref, f, err := loadFleet(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := deploy.HostKeysFromVars(f, ref, os.Getenv(paths.VarsDirEnv), os.Stdout)
	if err != nil {
		return nil, err
	}
	return l.ForFleet(f, keys)
}

// fakeCloud is terraform's ServeAPI hook of every front door: the fake
// hcloud API in process, its servers hosts of the lab of the flake's
// fleet (fleetLab).
func fakeCloud() func(ctx context.Context, workDir string) (string, string, func(), error) {
	return fakehcloud.ServeFromEnv(fleetLab)
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
	hs, err := l.Hosts()
	if err != nil {
		return err
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
	}
	if !slices.Contains(names, name) {
		// lab:up brings up only fleet machines: suggesting `lab:up nosuch`
		// would send the user round in a circle.
		if len(names) == 0 {
			return fmt.Errorf("lab:ssh: lab %s has no hosts; bring the fleet's up first (go tool mage lab:up --flake <flake>)", l.Name())
		}
		return fmt.Errorf("lab:ssh: %q is not a host of lab %s; its hosts: %s (go tool mage lab:status shows which are up)", name, l.Name(), strings.Join(names, ", "))
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
