package nix

import (
	"context"
	"errors"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestExplain feeds the messages Nix 2.8 prints (taken from real runs) to
// Explain and checks the suite's message names the thing and the fix, and
// that Nix's own error stays reachable.
func TestExplain(t *testing.T) {
	cases := []struct {
		name, raw string
		want      []string // substrings of the explanation; none: unchanged
	}{
		{"flake outside git",
			"nix eval /tmp/x/lab#fleet: access to absolute path '/nix/store/modules/_fleet/shape.nix' is forbidden in pure eval mode (use '--impure' to override)",
			[]string{"flake /tmp/x/lab reads modules/_fleet/shape.nix", "inside its git checkout and `git add`"}},
		{"file not in git",
			"nix eval /r#fleet: getting status of '/nix/store/abc-source/modules/new.nix': No such file or directory",
			[]string{"modules/new.nix is not known to git", "run `git add modules/new.nix`"}},
		{"offline, line kept",
			"nix eval .#fleet: fatal: unable to access 'https://git.example/x/': Could not resolve host: git.example\nprogram 'git' failed with exit code 128",
			[]string{"needs the network", "Could not resolve host: git.example", "--flake lab"}},
		{"type error",
			"nix eval /r#fleet: value is a string while an integer was expected",
			[]string{"value is a string while an integer was expected", "go tool mage check:fleet --flake /r"}},
		{"other", "nix eval /r#fleet: syntax error, unexpected '}'", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := errors.New(tc.raw)
			flake := "/r"
			if tc.name == "flake outside git" {
				flake = "/tmp/x/lab"
			}
			got := Explain(context.Background(), raw, flake)
			if tc.want == nil {
				assert.Equal(t, got, raw)
				return
			}
			var ex *Explanation
			assert.Assert(t, errors.As(got, &ex))
			assert.Check(t, errors.Is(got, raw))
			for _, w := range tc.want {
				assert.Check(t, is.Contains(got.Error(), w))
			}
		})
	}
	assert.NilError(t, Explain(context.Background(), nil, "x"))
}
