package ci

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/digest"
)

// A CI job's key records its tools' versions, not their paths: a nix
// upgraded in place at the same path (found as the suite finds it,
// $VANIXIETS_NIX first) gives the job a new key, and the miss names the
// version change. The stand-in answers `--version` as each release does;
// two real Nix releases cannot both be installed here.
func TestToolVersionEntersTheJobKey(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nix")
	t.Setenv("VANIXIETS_NIX", bin)
	w := newWorld(t, "[[job]]\nname = \"n\"\ninputs = [\"src/*.go\"]\ntools = [\"nix\"]\nrun = \"true\"\n")
	tests := []struct{ version, wantReason string }{
		{"nix (Nix) 2.8.0", "first run of this job"},
		{"nix (Nix) 2.26.3", "tool nix version changed (nix (Nix) 2.8.0 -> nix (Nix) 2.26.3)"},
	}
	var keys []string
	for _, tc := range tests {
		tmp := bin + ".new"
		assert.NilError(t, os.WriteFile(tmp, []byte("#!/bin/sh\necho '"+tc.version+"'\n"), 0o755))
		assert.NilError(t, os.Rename(tmp, bin))
		ps, err := Plan(context.Background(), Options{Root: w.root, Jobs: mustJobs(t, w), Cache: w.store, Hasher: digest.NewHasher(""), Versions: NewVersions("")})
		assert.NilError(t, err)
		assert.Equal(t, ps[0].Tools["nix"], tc.version)
		assert.Assert(t, is.Contains(ps[0].Reason, tc.wantReason))
		keys = append(keys, ps[0].Key)
		_, _, err = w.run(false)
		assert.NilError(t, err)
	}
	assert.Assert(t, keys[0] != keys[1], "two nix versions gave one key")
}
