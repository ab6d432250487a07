// Command steprunner runs one of the suite's checkers as a Bazel action or
// test. The Starlark rules in rules/ call it with declared input files only,
// so Bazel's content-addressed cache knows exactly when a result is stale.
//
// Subcommands (each prints one clear line per finding and exits non-zero
// when there is one):
//
//	fleet-eval      -out fleet.json -flake lab FILES...   evaluate the flake's `fleet` output
//	fleet-machine   -fleet fleet.json -machine NAME       one machine's record and roles
//	fleet-inventory -fleet fleet.json                     fleet-wide problems (instances, users)
//	terranix-render -out config.tf.json -flake lab FILES...
//	terranix-check  -tf config.tf.json -fleet fleet.json
//	overlays        -root DIR FILES...                    overlay composition check
//	vars-check      -fleet fleet.json -dir lab/vars FILES...
//
// FILES are the action's inputs, relative to the exec root or runfiles
// root. Checkers that need a source tree (nix evaluation, overlays, vars)
// get a private copy of exactly those files, so an undeclared file can
// never influence a result.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: steprunner <fleet-eval|fleet-machine|fleet-inventory|terranix-render|terranix-check|overlays|vars-check> [flags] [files]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	// The flags several subcommands share, each described once.
	fleetJSON := func() *string { return fs.String("fleet", "", "fleet JSON") }
	flakeDir := func() *string { return fs.String("flake", "lab", "flake directory, relative to the copied tree") }
	var err error
	switch cmd {
	case "fleet-eval":
		out, flake := fs.String("out", "", "where to write the fleet JSON"), flakeDir()
		fs.Parse(args)
		err = fleetEval(ctx, *out, *flake, fs.Args())
	case "fleet-machine":
		fleetPath, machine := fleetJSON(), fs.String("machine", "", "machine to check")
		fs.Parse(args)
		err = fleetMachine(*fleetPath, *machine)
	case "fleet-inventory":
		fleetPath := fleetJSON()
		fs.Parse(args)
		err = fleetInventory(*fleetPath)
	case "terranix-render":
		out, flake := fs.String("out", "", "where to write config.tf.json"), flakeDir()
		system := fs.String("system", "x86_64-linux", "packages.<system>.terraform")
		fs.Parse(args)
		err = terranixRender(ctx, *out, *flake, *system, fs.Args())
	case "terranix-check":
		tf, fleetPath := fs.String("tf", "", "rendered config.tf.json"), fleetJSON()
		fs.Parse(args)
		err = terranixCheck(*tf, *fleetPath)
	case "overlays":
		root := fs.String("root", ".", "flake root inside the copied tree (overlays in ROOT/modules/nixpkgs)")
		systems := fs.String("systems", "", "comma-separated fleet systems (default: the checker's)")
		fs.Parse(args)
		err = overlaysCheck(ctx, *root, *systems, fs.Args())
	case "vars-check":
		fleetPath, dir := fleetJSON(), fs.String("dir", "lab/vars", "vars tree inside the copied tree")
		fs.Parse(args)
		err = varsCheck(*fleetPath, *dir, fs.Args())
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "steprunner "+cmd+": "+err.Error())
		os.Exit(1)
	}
}
