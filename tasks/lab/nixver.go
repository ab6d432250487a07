package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// A lab host runs the Nix its machine is given: the machine's own Nix 2.8
// (Debian's nix-bin) by default, or the second Nix, 2.26, that
// scripts/install-nix-2.26.sh installs, so that a deploy can be tested from
// and to either version (docs/nix-versions.md).
//
// A 2.26 host keeps its store in hosts/<m>/nix-2.26, never in the
// hosts/<m>/nix a 2.8 host used: 2.26 upgrades the database of a store it
// opens and 2.8 could not open it again. Switching a host's version so
// switches its store (and rebuilds the host); the other store is kept for
// when it switches back.

// parseLabNix reads a VANIXIETS_LAB_NIX value: one version for the whole
// lab ("2.26"), or a default and per-machine versions
// ("2.8,cinnabar=2.26,galena=2.26"); "" is 2.8 for every machine.
func parseLabNix(s string) (def string, per map[string]string, err error) {
	def, per = nix.Version28, map[string]string{}
	check := func(v string) error {
		if v != nix.Version28 && v != nix.Version226 {
			return fmt.Errorf("VANIXIETS_LAB_NIX=%q: %q is no tested Nix version: use %s or %s, for the lab (2.26) or per machine (2.8,cinnabar=2.26)", s, v, nix.Version28, nix.Version226)
		}
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if m, v, ok := strings.Cut(part, "="); ok {
			if !hostRE.MatchString(m) {
				return "", nil, fmt.Errorf("VANIXIETS_LAB_NIX=%q: %q is no machine name", s, m)
			}
			if err := check(v); err != nil {
				return "", nil, err
			}
			per[m] = v
			continue
		}
		if err := check(part); err != nil {
			return "", nil, err
		}
		def = part
	}
	return def, per, nil
}

// nixFor is the Nix version machine's host runs.
func (l *Lab) nixFor(machine string) string {
	if v, ok := l.nixPer[machine]; ok {
		return v
	}
	return l.nixDef
}

// storeDir is the host directory bound over /nix for a version.
func storeDir(version string) string {
	if version == nix.Version226 {
		return "nix-2.26"
	}
	return "nix"
}

// recordedNix is a record's version ("" in records made before versions: 2.8).
func recordedNix(r hostRecord) string {
	if r.Nix == "" {
		return nix.Version28
	}
	return r.Nix
}

// nix226Mounts returns the wrapper bound over a 2.26 host's /usr/bin/nix
// (nix-daemon, nix-store and the rest are links to it) and its install
// directory, bound at /run/vanixiets-nix-2.26 where the wrapper finds the
// trixie root. A missing install is an error naming the installer.
func nix226Mounts() (wrapper, dir string, err error) {
	wrapper = nix.Nix226Bin()
	if _, err := os.Stat(wrapper); err != nil {
		return "", "", fmt.Errorf("lab: a host with Nix %s needs %s: %s", nix.Version226, wrapper, nix.Nix226Hint)
	}
	return wrapper, filepath.Dir(filepath.Dir(wrapper)), nil
}
