package nix

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// This file is the one place where Nix versions differ for the suite. The
// suite is tested against two (docs/nix-versions.md): Debian 12's Nix 2.8,
// what CI machines have, and Debian trixie's Nix 2.26, what the users run.
// Each difference below has its own test (versions_test.go) that runs both
// real binaries:
//
//   - `nix eval --json` ends its output with a newline on 2.26, not on 2.8:
//     TrimJSON, used by EvalJSON, so a step's stored output (and any key
//     made from it) is the same bytes on both.
//   - `nix path-info --json` prints an array on 2.8-2.18 and an object
//     keyed by path on 2.19+: ParsePathInfo reads both.
//   - `nix build --print-out-paths` does not exist on 2.8: the suite reads
//     builds from `nix build --json --no-link` on every version.
//   - exit codes: the nix command exits 1 for both a failed evaluation and a
//     failed build on 2.8 and 2.26 (only nix-build/nix-store exit 100):
//     classify tells them apart by the message.
//   - the daemon protocol: 2.8 announces 1.34, 2.26 announces 1.38; the
//     suite's client speaks up to 1.32 and needs 1.26 (DaemonMinor).
//   - building a derivation by its .drv path: 2.8 builds its outputs;
//     newer Nix (2.13 on) takes a bare .drv path for the file itself and
//     wants "<drv>^*" for the outputs, which 2.8 rejects. Build names a
//     .drv path the way the running version reads it (drvInstallable).
//   - a store refusing an unsigned path: 2.8 says "lacks a valid
//     signature", 2.26 "lacks a signature by a trusted key"
//     (MissingSignatureRe).
//   - the store database: 2.26 upgrades a store it opens so that 2.8 can no
//     longer read it. A 2.26 therefore only ever runs against a store of its
//     own (its wrapper refuses any other; see Nix226Bin and lab hosts with
//     VANIXIETS_LAB_NIX=2.26).

// The names VANIXIETS_NIX and VANIXIETS_LAB_NIX accept for the two tested
// versions.
const (
	Version28  = "2.8"
	Version226 = "2.26"
)

// Nix226Hint is what to do when the second Nix is missing.
const Nix226Hint = "run scripts/install-nix-2.26.sh (a trixie root with nix-bin 2.26 under the tools dir)"

// Nix226Bin is the wrapper scripts/install-nix-2.26.sh installs: Nix 2.26
// from a trixie root, refusing any store it did not make.
func Nix226Bin() string { return filepath.Join(paths.Tools(), "nix-2.26", "bin", "nix") }

// Nix226StoreMark is the file a 2.26 store carries (containing "2.26"); the
// wrapper writes it into an empty store and refuses a store without it.
const Nix226StoreMark = "var/vanixiets-nix"

// machineNix finds the machine's own Nix: PATH, else /usr/bin/nix and the
// single-user profile.
func machineNix() (string, error) {
	if p, err := exec.LookPath("nix"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{"/usr/bin/nix", "/nix/var/nix/profiles/default/bin/nix", filepath.Join(home, ".nix-profile/bin/nix")} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// ResolveVersion turns a version name or a binary's path (what
// VANIXIETS_NIX and VANIXIETS_LAB_NIX hold) into the nix binary to run:
// "2.8" is the machine's Nix (Debian's nix-bin), "2.26" the wrapper of the
// second Nix, "" the machine's Nix, and anything with a slash a path. Any
// other name is an error naming the accepted ones.
func ResolveVersion(v string) (string, error) {
	switch {
	case v == "" || v == Version28:
		return machineNix()
	case v == Version226:
		p := Nix226Bin()
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("Nix %s is not installed at %s: %s: %w", Version226, p, Nix226Hint, ErrNotFound)
		}
		return p, nil
	case strings.Contains(v, "/"):
		if st, err := os.Stat(v); err == nil && !st.IsDir() {
			return v, nil
		}
		return "", fmt.Errorf("%s is no nix binary: %w", v, ErrNotFound)
	}
	return "", fmt.Errorf("unknown Nix version %q: use %s, %s or the path of a nix binary", v, Version28, Version226)
}

// TrimJSON drops the whitespace Nix prints around JSON. 2.26 ends
// `nix eval --json` with a newline and 2.8 does not; without this the same
// value would be two different step outputs.
func TrimJSON(b []byte) []byte { return bytes.TrimSpace(b) }

// Daemon protocol minors, as `nix-daemon --stdio` announces them in its
// greeting (1<<8 | minor) and as the suite's own client (tasks/closure)
// answers.
const (
	// DaemonClientMinor is the newest minor the suite's client speaks.
	// Later minors add a version string and a trust flag to the greeting,
	// which a copy does not need.
	DaemonClientMinor = 32
	// DaemonMinMinor is the oldest daemon the client can copy to: framed
	// NARs (1.23) and structured errors (1.26), Nix 2.4 and later.
	DaemonMinMinor = 26
)

// DaemonMinor negotiates the protocol minor with a daemon that announced
// server (1<<8 | minor): the lower of its minor and the client's, or an
// error when the daemon is too old or speaks another major.
func DaemonMinor(server uint64) (uint64, error) {
	if server>>8 != 1 || server&0xff < DaemonMinMinor {
		return 0, fmt.Errorf("nix daemon protocol: the host's nix-daemon speaks %d.%d; copying needs 1.%d or later (Nix >= 2.4)", server>>8, server&0xff, DaemonMinMinor)
	}
	return min(server&0xff, DaemonClientMinor), nil
}

// drvInstallable is how Nix version v is asked to build the outputs of a
// derivation given by its .drv store path: the path itself up to 2.12,
// "<drv>^*" from 2.13 on (where a bare .drv path means the file, and
// `nix build --json` then prints the path as a string). Other installables
// are returned as they are.
func drvInstallable(v Version, installable string) string {
	if strings.HasPrefix(installable, "/") && strings.HasSuffix(installable, ".drv") && v.AtLeast(2, 13) {
		return installable + "^*"
	}
	return installable
}

// buildInstallables rewrites .drv paths for this Nix's version (read once
// per binary, see Identity); other installables pass unchanged and cost no
// version lookup.
func (n *Nix) buildInstallables(installables []string) []string {
	hasDrv := false
	for _, i := range installables {
		hasDrv = hasDrv || strings.HasSuffix(i, ".drv")
	}
	if !hasDrv {
		return installables
	}
	v, err := ParseVersion(n.versionLine())
	if err != nil {
		return installables // the build's own error will say what is wrong
	}
	out := make([]string, len(installables))
	for i, inst := range installables {
		out[i] = drvInstallable(v, inst)
	}
	return out
}

// MissingSignatureRe matches a store's refusal of a path that no trusted
// key signed, in each tested version's words: "because it lacks a valid
// signature" (2.8), "because it lacks a signature by a trusted key" (2.26).
var MissingSignatureRe = regexp.MustCompile(`lacks a (valid signature|signature by a trusted key)`)
