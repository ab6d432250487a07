package nix

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// realNix returns a driver for the installed nix. Without nix the test is
// skipped, except under CI (CI=true), where a missing nix is a failure.
func realNix(t *testing.T) *Nix {
	t.Helper()
	n, err := New()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI without nix: %v", err)
		}
		t.Skipf("%v", err)
	}
	return n
}

// testFlake writes a flake outside any git repository (a path: flake).
func testFlake(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(body), 0o644))
	return dir
}

// nonce makes this run's derivations new to the store, so builds are real.
func nonce(t *testing.T) string { return filepath.Base(t.TempDir()) }

func TestVersion(t *testing.T) {
	n := realNix(t)
	v, err := n.Version(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, v.AtLeast(2, 8), "nix %s is older than 2.8", v)
}

func TestEvalBuildClosureCopy(t *testing.T) {
	n := realNix(t)
	ctx := context.Background()
	flake := testFlake(t, `{
  outputs = { self }: let
    mk = name: script: env: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" script ]; PATH = "/usr/bin:/bin"; nonce = "`+nonce(t)+`"; } // env);
    dep = mk "dep" "echo dep > $out" { };
    top = mk "top" "mkdir $out; echo $dep > $out/dep" { inherit dep; };
  in {
    value = { a = 1; b = [ "x" ]; };
    packages.x86_64-linux = { inherit top; default = top; };
  };
}`)
	var v struct {
		A int      `json:"a"`
		B []string `json:"b"`
	}
	assert.NilError(t, n.Eval(ctx, Installable(flake, "value"), &v))
	assert.Equal(t, v.A, 1)
	assert.DeepEqual(t, v.B, []string{"x"})

	res, err := n.Build(ctx, Installable(flake, "top"))
	assert.NilError(t, err)
	assert.Equal(t, len(res), 1)
	out := res[0].Out()
	assert.Assert(t, strings.HasSuffix(out, "-top"), out)
	assert.Assert(t, strings.HasSuffix(res[0].DrvPath, ".drv"))
	b, err := os.ReadFile(filepath.Join(out, "dep"))
	assert.NilError(t, err)
	dep := strings.TrimSpace(string(b))

	infos, err := n.Closure(ctx, out)
	assert.NilError(t, err)
	var paths []string
	for _, pi := range infos {
		paths = append(paths, pi.Path)
	}
	assert.Assert(t, is.Contains(paths, out))
	assert.Assert(t, is.Contains(paths, dep))
	assert.Equal(t, len(paths), 2)

	one, err := n.PathInfo(ctx, out)
	assert.NilError(t, err)
	assert.Equal(t, len(one), 1)
	assert.Assert(t, is.Contains(one[0].References, dep))
	assert.Assert(t, one[0].NarSize > 0)

	// a real copy: the closure lands in a binary cache that lacked it
	cacheDir := t.TempDir()
	assert.NilError(t, n.Copy(ctx, CopyOptions{To: "file://" + cacheDir}, out))
	narinfos, _ := filepath.Glob(filepath.Join(cacheDir, "*.narinfo"))
	assert.Equal(t, len(narinfos), 2, "want a narinfo per closure path")

	md, err := n.FlakeMetadata(ctx, flake)
	assert.NilError(t, err)
	assert.Assert(t, strings.HasPrefix(md.Path, "/nix/store/"), md.Path)
}

func TestEvalErrorKeepsNixMessage(t *testing.T) {
	n := realNix(t)
	flake := testFlake(t, "{ outputs = { self }: {\n  x = 1 +;\n}; }\n")
	err := n.Eval(context.Background(), Installable(flake, "x"), new(int))
	var ee *EvalError
	assert.Assert(t, errors.As(err, &ee), "got %T %v", err, err)
	assert.Equal(t, ee.Code, 1)
	assert.ErrorContains(t, err, "syntax error")
	assert.ErrorContains(t, err, "flake.nix:2:")
	assert.ErrorContains(t, err, "nix eval "+flake+"#x")
}

func TestMissingAttributeIsEvalError(t *testing.T) {
	n := realNix(t)
	flake := testFlake(t, "{ outputs = { self }: { }; }\n")
	_, err := n.EvalJSON(context.Background(), Installable(flake, "fleet"))
	var ee *EvalError
	assert.Assert(t, errors.As(err, &ee), "got %T %v", err, err)
	assert.ErrorContains(t, err, "does not provide attribute")
}

func TestBuildFailureIsBuildError(t *testing.T) {
	n := realNix(t)
	flake := testFlake(t, `{ outputs = { self }: {
  bad = derivation { name = "bad"; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" "echo boom-`+nonce(t)+` >&2; exit 3" ]; };
}; }`)
	_, err := n.Build(context.Background(), Installable(flake, "bad"))
	var be *BuildError
	assert.Assert(t, errors.As(err, &be), "got %T %v", err, err)
	assert.ErrorContains(t, err, "failed with exit code 3")
	assert.ErrorContains(t, err, "boom-")
	var ce *CommandError
	assert.Assert(t, errors.As(err, &ce))
}

func TestNixNotFound(t *testing.T) {
	t.Setenv("VANIXIETS_NIX", filepath.Join(t.TempDir(), "nix"))
	_, err := New()
	assert.Assert(t, errors.Is(err, ErrNotFound))
	assert.ErrorContains(t, err, "run scripts/install-nix.sh")
	// a driver whose binary vanished says the same
	n := &Nix{Bin: filepath.Join(t.TempDir(), "nix")}
	_, err = n.Version(context.Background())
	assert.Assert(t, errors.Is(err, ErrNotFound), "got %v", err)
}

func TestEnvSetsConfig(t *testing.T) {
	t.Setenv("NIX_CONFIG", "substituters = https://example.invalid")
	t.Setenv("VANIXIETS_NIX_CONFIG", "max-jobs = 3")
	n := &Nix{Bin: "/bin/true"}
	if nn, err := New(); err == nil {
		n = nn
	} else {
		n.Config = DefaultConfig + "\nmax-jobs = 3"
	}
	var cfgs []string
	for _, kv := range n.Env() {
		if strings.HasPrefix(kv, "NIX_CONFIG=") {
			cfgs = append(cfgs, kv)
		}
	}
	assert.Equal(t, len(cfgs), 1)
	assert.Assert(t, is.Contains(cfgs[0], "substituters =\n"))
	assert.Assert(t, is.Contains(cfgs[0], "experimental-features = nix-command flakes"))
	assert.Assert(t, strings.HasSuffix(cfgs[0], "max-jobs = 3"))
}

func TestInvocationsCounts(t *testing.T) {
	n := realNix(t)
	before := Invocations()
	_, err := n.Version(context.Background())
	assert.NilError(t, err)
	assert.Equal(t, Invocations(), before+1)
}
