package cli

import (
	"context"
	"errors"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestExplain(t *testing.T) {
	cases := []struct {
		name, raw string
		verbose   bool
		want      []string // none: returned unchanged
	}{
		{"blackholed host", "galena: connect: ssh root@10.237.0.9:22: dial tcp 10.237.0.9:22: connect: invalid argument", false,
			[]string{"galena: host 10.237.0.9:22 is unreachable (invalid argument)", "deploy.targetHost", "lab:status", "--verbose shows"}},
		{"no earlier generation", "rollback stibnite: no earlier generation of /nix/var/nix/profiles/system to roll back to Process exited with status 3", false,
			[]string{"deploy:rollback stibnite: the host has no earlier generation", "nothing was changed"}},
		{"nix, verbose", "nix eval /r#fleet: value is a string while an integer was expected", true,
			[]string{"check:fleet --flake /r", "--- the tool's own message:\nnix eval /r#fleet: value is a string"}},
		{"unknown", "something else", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := errors.New(tc.raw)
			got := Explain(context.Background(), raw, "/r", tc.verbose)
			if tc.want == nil {
				assert.Equal(t, got, raw)
				return
			}
			for _, w := range tc.want {
				assert.Check(t, is.Contains(got.Error(), w))
			}
			if !tc.verbose {
				assert.Check(t, !is.Contains(got.Error(), tc.raw)().Success(), "raw text only with --verbose")
			}
		})
	}
}
