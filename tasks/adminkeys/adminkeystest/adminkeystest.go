// Package adminkeystest keeps a test's admin keys to the ones the test
// chose. A developer's shell or a CI job may name an admin identity
// (SOPS_AGE_KEY is how the user's own workflows pass theirs), and the
// suite honours any of adminkeys.Named before a lab's TEST-ONLY keys: a
// test that clears only the one or two variables its author had in mind
// then deploys, decrypts or refuses with someone else's key. These clear
// every one of them, from the single list adminkeys keeps.
//
// Use it only in tests.
package adminkeystest

import (
	"slices"
	"strings"
	"testing"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
)

// Unset empties every variable that names an admin identity for the rest
// of t (t.Setenv restores them), so the lab's keys, or the ones the test
// sets after, are what the suite finds.
func Unset(t testing.TB) {
	t.Helper()
	for _, v := range adminkeys.Named {
		t.Setenv(v, "")
	}
}

// Env returns env (a child process's environment, KEY=value lines)
// without any variable that names an admin identity.
func Env(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(adminkeys.Named, k)
	})
}
