// Package paths names the directories the suite keeps its state in, so that
// every step agrees on where the content store, installed tools and lab state
// live, and a single environment variable moves each of them.
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Home is the suite's own cache root: $VANIXIETS_HOME, else
// $XDG_CACHE_HOME/vanixiets, else ~/.cache/vanixiets. Installed tools (built
// terraform providers, bazel-remote, rules_go) live under it, so a second
// set-up run finds them and does nothing.
func Home() string {
	if d := os.Getenv("VANIXIETS_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vanixiets")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "vanixiets")
	}
	return filepath.Join(os.TempDir(), "vanixiets")
}

// Store is the directory of the local content-addressed cache:
// $VANIXIETS_CACHE_DIR, else Home()/store.
func Store() string {
	if d := os.Getenv("VANIXIETS_CACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(Home(), "store")
}

// Tools is where set-up scripts put the binaries they build or unpack:
// $VANIXIETS_TOOLS, else Home()/tools. A test with a private Home points
// VANIXIETS_TOOLS at the installed tools instead of building them again.
func Tools() string {
	if d := os.Getenv("VANIXIETS_TOOLS"); d != "" {
		return d
	}
	return filepath.Join(Home(), "tools")
}

// The facts below say where a fleet's state lives. Library code takes
// them as arguments; the front doors (magefiles, tools/, rules) read the
// variables named here and pass what they read as setting.

// FlakeEnv names the variable choosing the flake every target works on
// (--flake says the same on a command line).
const FlakeEnv = "VANIXIETS_FLAKE"

// VarsDirEnv names the variable choosing a flake's vars directory.
const VarsDirEnv = "VANIXIETS_VARS_DIR"

// Checkout is the suite's repository root: the nearest directory at or
// above dir holding go.mod (mage runs targets in the magefiles' parent,
// tools and tests anywhere below it).
func Checkout(dir string) (string, error) {
	for d := dir; ; {
		if isFile(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("not inside the vanixiets repository (no go.mod above " + dir + "): run the targets from the checkout (cd <checkout> && go tool mage <target>), or from anywhere with <checkout>/scripts/mage <target>")
		}
		d = p
	}
}

// Flake is the flake in use: setting (--flake or $VANIXIETS_FLAKE, as a
// front door read it) when given, else the lab flake, lab/ of the checkout
// holding dir.
func Flake(setting, dir string) (string, error) {
	if setting != "" {
		return setting, nil
	}
	root, err := Checkout(dir)
	if err == nil && !isFile(filepath.Join(root, "lab", "flake.nix")) {
		err = errors.New(root + " has no lab/flake.nix")
	}
	if err != nil {
		return "", fmt.Errorf("no flake given, and no lab flake to default to (%v): set %s (or --flake) to a flake directory", err, FlakeEnv)
	}
	return filepath.Join(root, "lab"), nil
}

// VarsDir is the vars directory of flake: setting ($VANIXIETS_VARS_DIR,
// as a front door read it) when given, else <flake>/vars; "" for the
// setting "-", which turns vars off. It does not say whether the
// directory exists: a deployment without one has no vars, vars:generate
// makes it.
func VarsDir(flake, setting string) string {
	switch setting {
	case "-":
		return ""
	case "":
		return filepath.Join(flake, "vars")
	}
	return setting
}

// VarsCommandDir is VarsDir for the vars commands (vars:generate,
// vars:check, ...), which need a directory to work on: it refuses the
// setting "-" (a deploy's "no uploads") and, with no setting, a flake that
// is no local directory (a remote flake has no vars tree here).
func VarsCommandDir(flake, setting string) (string, error) {
	if setting == "" {
		if st, err := os.Stat(flake); err != nil || !st.IsDir() {
			return "", fmt.Errorf("flake %s is not a local directory: set %s to its vars directory", flake, VarsDirEnv)
		}
	}
	dir := VarsDir(flake, setting)
	if dir == "" {
		return "", fmt.Errorf("%s=- turns secrets off for a deploy; vars commands need the directory: unset it, or set it to the vars directory", VarsDirEnv)
	}
	return dir, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
