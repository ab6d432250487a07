package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// A nix upgraded in place (same path, new version) must not be handed the
// old nix's evaluation or build: the eval and build steps' keys change.
func TestStepKeysChangeWithTheNixVersion(t *testing.T) {
	t.Setenv("VANIXIETS_HOME", t.TempDir())
	dir := t.TempDir()
	bin := filepath.Join(dir, "nix")
	keys := func(version string) (eval, build string) {
		tmp := bin + ".new"
		assert.NilError(t, os.WriteFile(tmp, []byte("#!/bin/sh\necho 'nix (Nix) "+version+"'\n"), 0o755))
		assert.NilError(t, os.Rename(tmp, bin))
		d := &Deployer{opt: Options{Nix: &nix.Nix{Bin: bin, Config: nix.DefaultConfig}}, flake: "/fleet"}
		files := digest.Manifest{}
		eval = pipeline.StepKey(d.evalStep(), files, nil)
		build = pipeline.StepKey(d.steps(nil)[0], files, map[string]pipeline.Result{"evaluate": {Key: eval}})
		return eval, build
	}
	e28, b28 := keys("2.8.0")
	e226, b226 := keys("2.26.3")
	tests := []struct{ step, a, b string }{{"evaluate", e28, e226}, {"build", b28, b226}}
	for _, tc := range tests {
		t.Run(tc.step, func(t *testing.T) {
			assert.Assert(t, tc.a != tc.b, "nix 2.8.0 and 2.26.3 gave the same %s key %s", tc.step, tc.a)
		})
	}
}
