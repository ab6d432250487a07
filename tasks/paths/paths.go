// Package paths names the directories the suite keeps its state in, so that
// every step agrees on where the content store, installed tools and lab state
// live, and a single environment variable moves each of them.
package paths

import (
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
