package nix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// standIn writes an executable at path that answers `--version` the way a
// given nix release does: the memo tests replace a binary in place, as an
// upgrade does, which the two real installed Nix versions (versions_test.go)
// cannot show; what Identity reads of a binary is exactly this answer.
func standIn(t *testing.T, path, answer string, code int) {
	t.Helper()
	script := "#!/bin/sh\necho '" + answer + "'\nexit " + string(rune('0'+code)) + "\n"
	tmp := path + ".new"
	assert.NilError(t, os.WriteFile(tmp, []byte(script), 0o755))
	assert.NilError(t, os.Rename(tmp, path)) // a new inode, as an upgrade makes
}

func freshMemo(t *testing.T) {
	// the installed tools stay found (VANIXIETS_NIX=2.26 names one of them)
	t.Setenv("VANIXIETS_TOOLS", paths.Tools())
	t.Setenv("VANIXIETS_HOME", t.TempDir())
	versions = versionMemo{}
	t.Cleanup(func() { versions = versionMemo{} })
}

func TestIdentityNamesTheVersion(t *testing.T) {
	tests := []struct {
		name       string
		a, b       string // --version answers
		codeA      int
		samePath   bool // b replaces a at the same path (an upgrade in place)
		wantInB    string
		wantDiffer bool
	}{
		{name: "two binaries, two versions", a: "nix (Nix) 2.8.0", b: "nix (Nix) 2.26.3", wantInB: "2.26.3", wantDiffer: true},
		{name: "upgraded in place", a: "nix (Nix) 2.8.0", b: "nix (Nix) 2.26.3", samePath: true, wantInB: "2.26.3", wantDiffer: true},
		{name: "a broken binary never matches a working one", a: "error: nix is broken", codeA: 1, b: "nix (Nix) 2.8.0", samePath: true, wantInB: "2.8.0", wantDiffer: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			freshMemo(t)
			dir := t.TempDir()
			pa, pb := filepath.Join(dir, "nix"), filepath.Join(dir, "nix-b")
			if tc.samePath {
				pb = pa
			}
			standIn(t, pa, tc.a, tc.codeA)
			idA := (&Nix{Bin: pa, Config: DefaultConfig}).Identity()
			standIn(t, pb, tc.b, 0)
			idB := (&Nix{Bin: pb, Config: DefaultConfig}).Identity()
			assert.Assert(t, is.Contains(idB, tc.wantInB))
			assert.Equal(t, idA != idB, tc.wantDiffer, "a: %q\nb: %q", idA, idB)
			if tc.codeA != 0 {
				assert.Assert(t, is.Contains(idA, "unavailable"))
			}
		})
	}
}

// The version is read once per binary: a second identity, in this process
// or (through the memo file) in the next one, starts no nix process.
func TestIdentityReadsTheVersionOnce(t *testing.T) {
	freshMemo(t)
	bin := filepath.Join(t.TempDir(), "nix")
	standIn(t, bin, "nix (Nix) 2.8.0", 0)
	n := &Nix{Bin: bin, Config: DefaultConfig}
	first := n.Identity()
	before := Invocations()
	assert.Equal(t, n.Identity(), first)
	versions = versionMemo{} // a new process: only the memo file remains
	assert.Equal(t, n.Identity(), first)
	assert.Equal(t, Invocations(), before, "a remembered version started nix")
	assert.Assert(t, strings.Contains(first, "version=nix (Nix) 2.8.0"), first)
}

// The installed nix's identity carries the version it really reports.
func TestIdentityOfTheInstalledNix(t *testing.T) {
	freshMemo(t)
	n, err := New()
	assert.NilError(t, err, "the suite's nix is needed here: %s", InstallHint)
	v, err := n.Version(t.Context())
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(n.Identity(), "version="+v.Raw+"\x00"))
}
