// Package nixtest gives a test the machine's Nix, with one rule for a
// machine that has none: on a developer's machine the test is skipped,
// saying how to install it; under CI (the variable CI set, as GitHub
// Actions sets it and ci/jobs.toml's test jobs do) the test fails, since a
// CI run that skipped every test needing Nix would pass having proved
// nothing.
//
// Imported by tests only.
package nixtest

import (
	"os"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// New returns nix.New()'s Nix, or ends the test as the package says.
func New(tb testing.TB) *nix.Nix {
	tb.Helper()
	n, err := nix.New()
	if err == nil {
		return n
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("CI without nix: %v", err)
		return nil
	}
	tb.Skipf("no nix: %v", err)
	return nil
}
