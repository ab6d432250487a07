//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// trailingArgs returns the words after target (and after skip further
// words) on the command line, stopping at the next mage target (a word with
// ':'). Mage has no optional or variadic arguments, so lab:up and lab:ssh
// read their tails here and exit the process themselves when they consumed
// any, before mage would take those words for targets.
func trailingArgs(target string, skip int) []string {
	for i, a := range os.Args {
		if strings.EqualFold(a, target) {
			rest := os.Args[i+1:]
			if len(rest) < skip {
				return nil
			}
			rest = rest[skip:]
			var out []string
			for _, w := range rest {
				if strings.Contains(w, ":") && !strings.HasPrefix(w, "-") && len(out) == 0 && skip == 0 {
					break
				}
				out = append(out, w)
			}
			return out
		}
	}
	return nil
}

// Up brings up the lab: one host per fleet machine, or only the machines
// named after it (go tool mage lab:up cinnabar,galena) or in
// $VANIXIETS_LAB_MACHINES. Hosts already up are kept.
func (Lab) Up(ctx context.Context) error {
	l, err := lab.Default()
	if err != nil {
		return err
	}
	tail := trailingArgs("lab:up", 0)
	names := lab.SplitMachines(os.Getenv("VANIXIETS_LAB_MACHINES"))
	for _, a := range tail {
		names = append(names, lab.SplitMachines(a)...)
	}
	hs, err := l.Up(ctx, names)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s: %d hosts up in %s; ssh -F %s root@<machine>\n", l.Name(), len(hs), l.Range(), l.SSHConfigPath())
	if len(tail) > 0 {
		os.Exit(0)
	}
	return nil
}

// Down removes every namespace, link, route, mount, process and file the lab
// made, also after a crash of an earlier run.
func (Lab) Down(ctx context.Context) error {
	l, err := lab.Default()
	if err != nil {
		return err
	}
	return l.Down(ctx)
}

// Status prints each lab host: address, whether sshd is alive, and the
// current system generation.
func (Lab) Status(ctx context.Context) error {
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

// Ssh runs a command on a lab host over real ssh with the lab's known_hosts:
// go tool mage lab:ssh cinnabar 'nix --version' (or: lab:ssh cinnabar -- nix --version).
func (Lab) Ssh(ctx context.Context, machine, cmd string) error {
	l, err := lab.Default()
	if err != nil {
		return err
	}
	exit := false
	if cmd == "--" {
		cmd = strings.Join(trailingArgs("lab:ssh", 2), " ")
		exit = true
	}
	if strings.TrimSpace(cmd) == "" {
		return fmt.Errorf("lab:ssh %s: no command given; usage: go tool mage lab:ssh %s 'nix --version'", machine, machine)
	}
	code, err := l.SSH(ctx, machine, cmd, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	if code != 0 || exit {
		os.Exit(code)
	}
	return nil
}
