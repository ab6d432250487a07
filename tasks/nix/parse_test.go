package nix

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParsePathInfoBothShapes(t *testing.T) {
	const (
		top  = "/nix/store/42dx6qi4s1vykk7cmknqalr76b72c6cl-nixos-system-cinnabar-lab"
		base = "/nix/store/c4v3n4bs876skhc7xig5fvk48wy2bbrw-vanixiets-lab-base"
	)
	for _, tc := range []struct {
		file      string
		wantPaths []string
	}{
		// Nix 2.8-2.18: an array of objects carrying "path"
		{"pathinfo-2.8.json", []string{top, base}},
		// Nix 2.19+: an object keyed by path, null for invalid paths,
		// references possibly as base names
		{"pathinfo-2.24.json", []string{"/nix/store/0000000000000000000000000000000z-missing", top, base}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			assert.NilError(t, err)
			infos, err := ParsePathInfo(b)
			assert.NilError(t, err)
			var got []string
			for _, pi := range infos {
				got = append(got, pi.Path)
			}
			assert.DeepEqual(t, got, tc.wantPaths)
			for _, pi := range infos {
				if pi.Path == top {
					assert.DeepEqual(t, pi.References, []string{top, base})
					assert.Equal(t, pi.NarSize, int64(2192))
					assert.Equal(t, pi.NarHash, "sha256-JyPl2Ycp19JgmyhzqfapqW/f/iF24t7S7sIZjQdqb8w=")
				}
			}
		})
	}
}

func TestParsePathInfoErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, "neither a JSON array nor an object"},
		{`"x"`, "neither a JSON array nor an object"},
		{`[{"narSize":1}]`, "entry 0 has no path"},
		{`[1]`, "decode path-info array"},
		{`{"a":1}`, "decode path-info object"},
	} {
		_, err := ParsePathInfo([]byte(tc.in))
		assert.ErrorContains(t, err, tc.want, "input %q", tc.in)
	}
}

func FuzzParsePathInfo(f *testing.F) {
	for _, n := range []string{"pathinfo-2.8.json", "pathinfo-2.24.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"/nix/store/x":null}`))
	f.Add([]byte(`[{"path":"/nix/store/y","references":["z"]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		infos, err := ParsePathInfo(b)
		if err != nil {
			return
		}
		for i, pi := range infos {
			if pi.Path == "" {
				t.Fatalf("entry %d without path accepted", i)
			}
			if i > 0 && infos[i-1].Path > pi.Path {
				t.Fatalf("not sorted: %q before %q", infos[i-1].Path, pi.Path)
			}
		}
	})
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		major, minor, patch int
		atLeast219          bool
	}{
		{"nix (Nix) 2.8.0\n", 2, 8, 0, false},
		{"nix (Nix) 2.24.10", 2, 24, 10, true},
		{"nix (Nix) 2.25.0pre20241101_dirty", 2, 25, 0, true},
		{"nix (Lix, like Nix) 2.91.1", 2, 91, 1, true},
		{"nix (Nix) 3.0", 3, 0, 0, true},
	} {
		v, err := ParseVersion(tc.in)
		assert.NilError(t, err)
		assert.Equal(t, v.Major, tc.major, tc.in)
		assert.Equal(t, v.Minor, tc.minor, tc.in)
		assert.Equal(t, v.Patch, tc.patch, tc.in)
		assert.Equal(t, v.AtLeast(2, 19), tc.atLeast219, tc.in)
	}
	_, err := ParseVersion("nix (Nix) unknown")
	assert.ErrorContains(t, err, "no version number")
}

func FuzzParseVersion(f *testing.F) {
	f.Add("nix (Nix) 2.8.0")
	f.Add("2.24")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err == nil && (v.Major < 0 || v.Minor < 0 || v.Patch < 0) {
			t.Fatalf("negative version %v from %q", v, s)
		}
	})
}

func TestCleanMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"warning: Git tree '/work/main' is dirty\nerror: syntax error, unexpected ';'\n\n       at /nix/store/x-source/flake.nix:2:10:\n",
			"syntax error, unexpected ';'\n\n       at /nix/store/x-source/flake.nix:2:10:"},
		{"\x1b[31;1merror:\x1b[0m attribute 'x' missing", "attribute 'x' missing"},
		{"something odd happened", "something odd happened"},
		{"", ""},
	} {
		assert.Equal(t, cleanMessage(tc.in), tc.want)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code int
		msg  string
		want string
	}{
		{1, "syntax error, unexpected ';'", "eval"},
		{1, "builder for '/nix/store/x-bad.drv' failed with exit code 3;", "build"},
		{1, "1 dependencies of derivation '/nix/store/x-top.drv' failed to build", "build"},
		{1, "a 'aarch64-darwin' with features {} is required to build '/nix/store/x.drv', but I am a 'x86_64-linux'", "build"},
		{100, "build of '/nix/store/x.drv' failed", "build"},
		{102, "hash mismatch in fixed-output derivation", "build"},
		{2, "unrecognised flag '--frob'", "command"},
	} {
		err := classify(CommandError{Op: "build", Target: "x", Code: tc.code, Message: tc.msg})
		var got string
		switch err.(type) {
		case *EvalError:
			got = "eval"
		case *BuildError:
			got = "build"
		case *CommandError:
			got = "command"
		}
		assert.Equal(t, got, tc.want, "code %d %q", tc.code, tc.msg)
		assert.Check(t, is.Contains(err.Error(), tc.msg))
	}
}

func TestFlakeRef(t *testing.T) {
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte("{ outputs = _: { }; }"), 0o644))
	got, err := FlakeRef(dir)
	assert.NilError(t, err)
	assert.Equal(t, got, dir)

	for _, ref := range []string{"github:nixos/nixpkgs", "git+file:///src/repo?dir=lab", "path:/tmp/x"} {
		got, err := FlakeRef(ref)
		assert.NilError(t, err)
		assert.Equal(t, got, ref)
	}
	_, err = FlakeRef(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "missing does not exist")
	_, err = FlakeRef(t.TempDir())
	assert.ErrorContains(t, err, "has no flake.nix")
	_, err = FlakeRef(filepath.Join(dir, "flake.nix"))
	assert.ErrorContains(t, err, "is not a directory")
}

func TestInstallable(t *testing.T) {
	assert.Equal(t, Installable("/src/lab", "fleet"), "/src/lab#fleet")
	assert.Equal(t, Installable("/src/lab", ""), "/src/lab")
}
