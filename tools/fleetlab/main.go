// Command fleetlab drives the embedded lab (package tasks/lab) from a shell:
//
//	fleetlab up [machine,...]   bring up hosts of the fleet of $VANIXIETS_FLAKE
//	                            (default lab/; every machine when none named)
//	fleetlab down               remove everything the lab made
//	fleetlab status             table of hosts
//	fleetlab create <name>      create one host (any name), print address and host key
//	fleetlab delete <name>      delete one host
//	fleetlab exec <name> cmd... run a command inside a host's namespaces
//	fleetlab ssh <name> cmd...  run a command in a host over real ssh
//
// The lab is chosen by VANIXIETS_LAB_NAME, VANIXIETS_LAB_RANGE and
// VANIXIETS_HOME (see lab.Default).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	code, err := run(ctx, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetlab:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string) (int, error) {
	if len(args) == 0 {
		return 2, fmt.Errorf("usage: fleetlab up|down|status|create|delete|exec|ssh ...")
	}
	l, err := lab.Default()
	if err != nil {
		return 1, err
	}
	switch args[0] {
	case "up":
		if err := l.Preflight(ctx); err != nil {
			return 1, err
		}
		// The lab knows no fleet of its own: the flake's machines, each
		// at its targetHost and with its host key from the vars.
		wd, err := os.Getwd()
		if err != nil {
			return 1, err
		}
		ref, err := paths.Flake(os.Getenv(paths.FlakeEnv), wd)
		if err != nil {
			return 1, err
		}
		f, err := fleet.NewLoader().Load(ctx, ref)
		if err != nil {
			return 1, err
		}
		keys, err := deploy.LabHostKeys(f, ref, os.Stderr)
		if err != nil {
			return 1, err
		}
		if l, err = l.ForFleet(f, keys); err != nil {
			return 1, err
		}
		var names []string
		for _, a := range args[1:] {
			names = append(names, lab.SplitMachines(a)...)
		}
		hs, err := l.Up(ctx, names)
		if err != nil {
			return 1, err
		}
		for _, h := range hs {
			fmt.Printf("%s\t%s\n", h.Name, h.Addr)
		}
		return 0, nil
	case "down":
		return 0, l.Down(ctx)
	case "status":
		st, err := l.Status(ctx)
		if err != nil {
			return 1, err
		}
		fmt.Print(lab.FormatStatus(st))
		return 0, nil
	case "create", "delete":
		if len(args) != 2 {
			return 2, fmt.Errorf("usage: fleetlab %s <name>", args[0])
		}
		if args[0] == "delete" {
			return 0, l.DeleteHost(ctx, args[1])
		}
		h, err := l.CreateHost(ctx, args[1], nil)
		if err != nil {
			return 1, err
		}
		fmt.Printf("%s\t%s\t%s", h.Name, h.Addr, lab.AuthorizedKey(h.HostKey))
		return 0, nil
	case "exec":
		if len(args) < 3 {
			return 2, fmt.Errorf("usage: fleetlab exec <name> cmd...")
		}
		out, err := l.Exec(ctx, args[1], args[2:]...)
		os.Stdout.Write(out)
		return 0, err
	case "ssh":
		if len(args) < 3 {
			return 2, fmt.Errorf("usage: fleetlab ssh <name> cmd...")
		}
		return l.SSH(ctx, args[1], strings.Join(args[2:], " "), os.Stdin, os.Stdout, os.Stderr)
	}
	return 2, fmt.Errorf("unknown command %q: want up, down, status, create, delete, exec or ssh", args[0])
}
