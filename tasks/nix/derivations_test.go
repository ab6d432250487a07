package nix

import (
	"context"
	"os"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// TestVersionsDerivationClosure: both Nixes list a derivation's closure
// (the .drv, its input derivation and its input source) for a derivation
// that was never built, whose outputs are therefore not in the store.
func TestVersionsDerivationClosure(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			flake := testFlake(t, `{ outputs = { self }: let
			  dep = derivation { name = "dep"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; nonce = "`+nonce(t)+`"; };
			in { x = derivation { name = "top"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ ./script.sh ]; inherit dep; }; }; }`)
			assert.NilError(t, os.WriteFile(flake+"/script.sh", []byte("echo $dep > $out\n"), 0o644))
			var drv string
			assert.NilError(t, tc.n.EvalApply(ctx, Installable(flake, "x"), "d: d.drvPath", &drv))
			infos, err := tc.n.DerivationClosure(ctx, drv)
			assert.NilError(t, err)
			var drvs, srcs int
			for _, pi := range infos {
				if strings.HasSuffix(pi.Path, ".drv") {
					drvs++
				} else {
					srcs++
				}
				assert.Assert(t, pi.NarSize > 0 && pi.NarHash != "", "%+v", pi)
			}
			assert.Equal(t, drvs, 2, "%+v", infos)
			assert.Equal(t, srcs, 1, "the script, an input source: %+v", infos)
			_, err = tc.n.Closure(ctx, drv)
			if tc.name == "2.8" {
				assert.Assert(t, err != nil, "2.8 reads a bare .drv as its outputs, which were never built")
			}
		})
	}
}
