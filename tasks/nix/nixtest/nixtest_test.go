package nixtest

import (
	"fmt"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// recorder is a testing.TB that records how New ended the test instead of
// ending it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

// TestNoNix: without a Nix, CI fails the test and a developer's machine
// skips it, both naming the cause.
func TestNoNix(t *testing.T) {
	cases := []struct {
		name, ci        string
		wantFatal, skip bool
	}{
		{"under CI", "1", true, false},
		{"GitHub Actions", "true", true, false},
		{"a developer's machine", "", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			t.Setenv("VANIXIETS_NIX", "/nonexistent/bin/nix")
			r := &recorder{TB: t}
			assert.Assert(t, New(r) == nil)
			assert.Equal(t, r.fatal != "", c.wantFatal, r.fatal)
			assert.Equal(t, r.skip != "", c.skip, r.skip)
			assert.Assert(t, is.Contains(r.fatal+r.skip, "VANIXIETS_NIX=/nonexistent/bin/nix"))
		})
	}
}
