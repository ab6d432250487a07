// Package hostsh is the one place that decides what the deployer's
// host-side shell may use: the scripts it runs on a machine (activation and
// its agent, confirmation, rollback, status, the secrets upload, the
// closure copy's command line).
//
// A host may be a NixOS server or a Mac. macOS's /bin/sh is bash 3.2 in
// POSIX mode and its utilities are BSD's, without util-linux; NixOS has GNU
// coreutils and util-linux. A script that works on both uses POSIX sh and
// only the utilities and options both have. So none of these:
//
//   - util-linux and GNU-only tools: setsid, flock, timeout, realpath,
//     getent, sha256sum, tac, nproc, stdbuf, runuser;
//   - options that differ or do not exist on a Mac: readlink -f, any stat
//     (GNU stat -c and BSD stat -f share no format), mv/ln/cp -T, sed -i,
//     sed -r, grep -P, date -d, xargs -r, echo -n/-e, and GNU long options
//     (--foo) on anything but Nix's own commands;
//   - /proc (a Mac has none);
//   - bash and ksh extensions ([[, local, source, function, arrays, $'..',
//     <<<, &>, ${x//a/b}, ${x:1}, ${!x}, pipefail).
//
// What replaces them, in the scripts: a background child under nohup
// (which ignores SIGHUP) with its stdio closed instead of setsid; a lock
// that is a symbolic link naming its holder's pid (ln -s is atomic and
// fails when the name exists) instead of flock; polling loops of
// `sleep 0.05` with a count instead of timeout; cd -P and pwd -P instead of
// readlink -f; tar's header of a link instead of stat.
//
// Lint is the static half of the proof (a unit test of every package
// with a host script runs it, and Syntax, over that script); the lab's
// darwin-class hosts are the dynamic half: their /bin/sh is posh, their
// sessions' PATH holds only the utilities macOS has, and they have no
// /proc (tasks/lab, docs/lab.md).
package hostsh

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// NixBinDirs are where a host's Nix commands live when the session's PATH
// lacks them: the Nix installer's default profile (a Mac: sshd gives root
// a PATH of /usr/bin:/bin:/usr/sbin:/sbin and root's /bin/sh reads no
// profile) and the system's own software (NixOS, nix-darwin).
const NixBinDirs = "/nix/var/nix/profiles/default/bin:/run/current-system/sw/bin"

// Prelude starts every host script: NixBinDirs appended to PATH, so a
// PATH the host set (NixOS's, a user's) wins and Nix is found where it
// has none.
const Prelude = `PATH="${PATH:-/usr/bin:/bin:/usr/sbin:/sbin}:` + NixBinDirs + `"; export PATH` + "\n"

// Command is the command line that runs script on a host with args as
// "$@" ($0 is "vanixiets"): `sh -c '<Prelude><script>' vanixiets 'arg'...`.
// The script travels as an argument, not on stdin, so a command it runs
// cannot swallow the rest of it by reading stdin; every word is single-
// quoted, which the login shell (sh, bash, zsh, fish) reads alike.
func Command(script string, args ...string) string {
	q := []string{"sh", "-c", Quote(Prelude + script), "vanixiets"}
	for _, a := range args {
		q = append(q, Quote(a))
	}
	return strings.Join(q, " ")
}

// Quote quotes s as one POSIX shell word.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Shells are the strict POSIX shells Syntax parses scripts with: posh
// (Debian's Policy-compliant Ordinary SHell, which refuses what POSIX
// does not define) and dash (Debian's /bin/sh).
var Shells = []string{"posh", "dash"}

// Syntax parses script with each of Shells (sh -n: read, never run) and
// returns their complaints. A shell that is not installed is an error that
// says how to install it: a check that cannot run must not pass.
func Syntax(ctx context.Context, script string) error {
	var errs []error
	for _, sh := range Shells {
		if _, err := exec.LookPath(sh); err != nil {
			errs = append(errs, fmt.Errorf("%s is not installed: apt-get install %s (scripts/setup.sh and scripts/install-lab-deps.sh install it)", sh, sh))
			continue
		}
		out, err := exec.CommandContext(ctx, sh, "-n", "-c", script).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s -n: %v: %s", sh, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}
