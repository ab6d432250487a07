// Command fleetgen writes the suite's generated test fleet: a flake of n
// machines (default 64) for the tests and benchmarks that need a fleet at
// scale (testdata/fleets/forest: lab:up of 64 hosts, deploy:fleet and
// fleet:status over all of them, the deployer's cost per machine as the
// fleet grows).
//
//	go run ./tools/fleetgen [-n 64] [-o testdata/fleets/forest]
//
// It writes <dir>/flake.nix and <dir>/keys/ops.agekey, a link to grove's
// test admin key (one committed test key serves both fleets; a lab fleet's
// identities must lie inside its flake directory). The committed directory
// is this program's output: TestCommittedForest fails when the two differ,
// and says to run the line above (or go generate ./tools/fleetgen). The flake is written out machine by machine, not
// generated inside Nix, so a reader sees every machine's name, tags and
// targetHost, and the fleet is an ordinary clan-shaped flake that the
// suite must serve with no code that knows it.
package main

//go:generate go run . -o ../../testdata/fleets/forest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

func main() {
	n := flag.Int("n", DefaultMachines, "machines in the fleet")
	out := flag.String("o", "-", `the fleet's directory to write ("-": print flake.nix)`)
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected argument %q (flags: -n <machines> -o <directory>)", flag.Arg(0)))
	}
	b, err := Flake(*n)
	if err != nil {
		fail(err)
	}
	if *out == "-" {
		os.Stdout.Write(b)
		return
	}
	if err := Write(*out, b); err != nil {
		fail(err)
	}
}

// KeyLink is the fleet's admin identity: a link, relative to the fleet's
// keys/ directory, to grove's committed test key.
const KeyLink = "../../grove/keys/ops.agekey"

// Write writes the fleet's files into dir: flake.nix (atomically) and the
// keys/ops.agekey link (replaced when it points elsewhere).
func Write(dir string, flake []byte) error {
	if err := fsutil.WriteFile(filepath.Join(dir, "flake.nix"), flake, 0o644); err != nil {
		return err
	}
	link := filepath.Join(dir, "keys", "ops.agekey")
	if got, err := os.Readlink(link); err == nil && got == KeyLink {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(KeyLink, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "fleetgen: %v\n", err)
	os.Exit(2)
}
