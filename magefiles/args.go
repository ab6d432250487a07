//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/vanixiets/vanixiets/tasks/cli"
)

// Mage runs every word after its flags as one more target, each before it
// looks at the next: a typo after a deploy used to deploy first and refuse
// the typo afterwards. This init runs before mage's generated main. It
// hands the whole command line to tasks/cli, which checks it against the
// one table of targets (words, flags, values, environment); a refused line
// exits 2 with the problem, the fix and the usage line, before anything
// runs. Mage then sees only its own flags, the target and the target's
// parameters; targets read the rest through call.

// call is the checked command line.
var call *cli.Call

func init() {
	c, err := cli.Parse(os.Args, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(cli.ExitUsage)
	}
	call = c
	os.Args = c.MageArgs
}

// flag is the value of --name, else its environment variable, else def.
func flag(name, def string) string {
	if v := call.String(name); v != "" {
		return v
	}
	return def
}

// boolFlag is --name (or its variable) as checked by tasks/cli.
func boolFlag(name string) bool { return call.Bool(name) }

// rest returns the positional words of a target that takes a list.
func rest() []string { return call.Words }

// explained translates the error a target returns into the suite's own
// message when it understands it (tasks/cli.Explain); --verbose keeps the
// tool's own message below it.
func explained(ctx context.Context, err *error) {
	*err = cli.Explain(ctx, *err, flag("flake", ""), boolFlag("verbose"))
}
