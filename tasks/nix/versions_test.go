package nix

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// tested is one real Nix of the matrix (docs/nix-versions.md) and what it
// is known to do where versions differ.
type tested struct {
	name string
	n    *Nix
	// evalNewline: `nix eval --json` ends with a newline
	evalNewline bool
	// pathInfoOpen: the first byte of `nix path-info --json`
	pathInfoOpen byte
	// printOutPaths: `nix build --print-out-paths` exists
	printOutPaths bool
	// daemonMinor: the minor `nix-daemon --stdio` announces
	daemonMinor uint64
}

// bothNixes returns the machine's Nix 2.8 and the installed Nix 2.26, each
// with a store of its own: 2.8 the machine's /nix, 2.26 an empty directory
// of this test (the wrapper binds it over /nix in a private mount
// namespace). A missing 2.26 skips, except under CI, where it fails.
func bothNixes(t *testing.T) []tested {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join("/nix", Nix226StoreMark)); err == nil && strings.TrimSpace(string(b)) == Version226 {
		// scripts/with-nix-2.26.sh: /nix is a 2.26 store here, which the
		// machine's 2.8 must not open; these tests run outside it.
		t.Skip("/nix is a Nix 2.26 store (with-nix-2.26.sh): the tests of both versions run outside it")
	}
	n28 := realNixVersion(t, Version28)
	n226 := realNixVersion(t, Version226)
	n226.ExtraEnv = []string{"VANIXIETS_NIX226_STORE=" + t.TempDir()}
	return []tested{
		{name: "2.8", n: n28, evalNewline: false, pathInfoOpen: '[', printOutPaths: false, daemonMinor: 34},
		{name: "2.26", n: n226, evalNewline: true, pathInfoOpen: '{', printOutPaths: true, daemonMinor: 38},
	}
}

func realNixVersion(t *testing.T, v string) *Nix {
	t.Helper()
	bin, err := ResolveVersion(v)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI without Nix %s: %v", v, err)
		}
		t.Skipf("%v", err)
	}
	n := &Nix{Bin: bin, Config: Config()}
	got, err := n.Version(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, strings.HasPrefix(got.String(), v+"."), "VANIXIETS_NIX=%s runs %s", v, got.Raw)
	return n
}

func TestVersionsEvalJSONNewline(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			raw, err := tc.n.run(ctx, "eval", "expr", "eval", "--json", "--expr", `{ a = 1; b = [ "x" ]; }`)
			assert.NilError(t, err)
			assert.Equal(t, bytes.HasSuffix(raw, []byte("\n")), tc.evalNewline, "raw output %q", raw)

			flake := testFlake(t, `{ outputs = { self }: { value = { a = 1; b = [ "x" ]; }; }; }`)
			b, err := tc.n.EvalJSON(ctx, Installable(flake, "value"))
			assert.NilError(t, err)
			assert.Equal(t, string(b), `{"a":1,"b":["x"]}`, "the same bytes on every version")
		})
	}
}

// buildTwo builds a two-path closure (top -> dep) with n and returns top.
func buildTwo(t *testing.T, n *Nix) string {
	t.Helper()
	flake := testFlake(t, `{
  outputs = { self }: let
    mk = name: script: env: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" script ]; nonce = "`+nonce(t)+`"; } // env);
    dep = mk "dep" "echo dep > $out" { };
    top = mk "top" "echo $dep > $out" { inherit dep; };
  in { packages.x86_64-linux.default = top; };
}`)
	res, err := n.Build(context.Background(), Installable(flake, "packages.x86_64-linux.default"))
	assert.NilError(t, err)
	assert.Equal(t, len(res), 1)
	assert.Assert(t, strings.HasSuffix(res[0].Out(), "-top"), res[0].Out())
	return res[0].Out()
}

func TestVersionsPathInfoShape(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			top := buildTwo(t, tc.n)
			raw, err := tc.n.run(context.Background(), "path-info", top, "path-info", "--json", "-r", top)
			assert.NilError(t, err)
			assert.Equal(t, string(bytes.TrimSpace(raw)[:1]), string(tc.pathInfoOpen), "raw output %s", raw)

			infos, err := tc.n.Closure(context.Background(), top)
			assert.NilError(t, err)
			assert.Equal(t, len(infos), 2)
			for _, pi := range infos {
				assert.Assert(t, strings.HasPrefix(pi.NarHash, "sha256-") || strings.HasPrefix(pi.NarHash, "sha256:"), pi.NarHash)
				assert.Assert(t, pi.NarSize > 0)
				if pi.Path == top {
					assert.Equal(t, len(pi.References), 1)
					assert.Assert(t, strings.HasSuffix(pi.References[0], "-dep"), "references are full paths: %v", pi.References)
				}
			}
		})
	}
}

func TestVersionsPrintOutPaths(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			top := buildTwo(t, tc.n) // Build (--json) works on every version
			_, err := tc.n.run(context.Background(), "build", "expr", "build", "--no-link", "--print-out-paths", "--impure",
				"--expr", "builtins.storePath "+`"`+top+`"`)
			if tc.printOutPaths {
				assert.NilError(t, err)
				return
			}
			var ce *CommandError
			assert.Assert(t, errors.As(err, &ce), "got %v", err)
			assert.Assert(t, is.Contains(ce.Message, "unrecognised flag '--print-out-paths'"))
		})
	}
}

func TestVersionsExitCodes(t *testing.T) {
	for _, tc := range bothNixes(t) {
		for _, c := range []struct {
			name, body string
			wantCode   int
			wantBuild  bool
		}{
			{"eval error", `{ outputs = { self }: { x = 1 +; }; }`, 1, false},
			{"missing attribute", `{ outputs = { self }: { }; }`, 1, false},
			{"failed builder", `{ outputs = { self }: { x = derivation { name = "f"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "exit 3" ]; nonce = "` + nonce(t) + `"; }; }; }`, 1, true},
		} {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				flake := testFlake(t, c.body)
				_, err := tc.n.Build(context.Background(), Installable(flake, "x"))
				var ce *CommandError
				assert.Assert(t, errors.As(err, &ce), "got %v", err)
				assert.Equal(t, ce.Code, c.wantCode, "%s", ce.Message)
				var be *BuildError
				assert.Equal(t, errors.As(err, &be), c.wantBuild, "%T: %v", err, err)
			})
		}
	}
}

// TestVersionsDaemonProtocol greets each version's real `nix-daemon
// --stdio` and checks what it announces and what the client settles on.
func TestVersionsDaemonProtocol(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(filepath.Dir(tc.n.Bin), "nix-daemon"), "--stdio")
			cmd.Env = tc.n.Env()
			in, err := cmd.StdinPipe()
			assert.NilError(t, err)
			out, err := cmd.StdoutPipe()
			assert.NilError(t, err)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			assert.NilError(t, cmd.Start())
			defer func() { _ = cmd.Wait() }()
			defer in.Close()
			assert.NilError(t, binary.Write(in, binary.LittleEndian, uint64(0x6e697863)))
			var greeting [2]uint64
			err = binary.Read(out, binary.LittleEndian, &greeting)
			assert.NilError(t, err, "stderr: %s", stderr.String())
			assert.Equal(t, greeting[0], uint64(0x6478696f))
			assert.Equal(t, greeting[1], 1<<8|tc.daemonMinor)
			minor, err := DaemonMinor(greeting[1])
			assert.NilError(t, err)
			assert.Equal(t, minor, uint64(DaemonClientMinor))
		})
	}
}

func TestDaemonMinor(t *testing.T) {
	for _, tc := range []struct {
		server  uint64
		want    uint64
		wantErr string
	}{
		{1<<8 | 38, DaemonClientMinor, ""}, // Nix 2.26
		{1<<8 | 34, DaemonClientMinor, ""}, // Nix 2.8
		{1<<8 | 26, 26, ""},
		{1<<8 | 21, 0, "speaks 1.21; copying needs 1.26 or later"},
		{2<<8 | 40, 0, "speaks 2.40"},
	} {
		got, err := DaemonMinor(tc.server)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr)
			continue
		}
		assert.NilError(t, err)
		assert.Equal(t, got, tc.want)
	}
}

func TestResolveVersion(t *testing.T) {
	tools := t.TempDir()
	t.Setenv("VANIXIETS_TOOLS", tools)
	wrapper := filepath.Join(tools, "nix-2.26", "bin", "nix")
	machine, machineErr := machineNix()
	for _, tc := range []struct {
		in, want, wantErr string
		setup             func()
	}{
		{in: "2.26", wantErr: "Nix 2.26 is not installed at " + wrapper + ": run scripts/install-nix-2.26.sh"},
		{in: "2.26", want: wrapper, setup: func() {
			assert.NilError(t, os.MkdirAll(filepath.Dir(wrapper), 0o755))
			assert.NilError(t, os.WriteFile(wrapper, []byte("#!/bin/sh\n"), 0o755))
		}},
		{in: "2.99", wantErr: `unknown Nix version "2.99": use 2.8, 2.26 or the path of a nix binary`},
		{in: filepath.Join(tools, "absent"), wantErr: "is no nix binary"},
		{in: wrapper, want: wrapper},
	} {
		if tc.setup != nil {
			tc.setup()
		}
		got, err := ResolveVersion(tc.in)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, "VANIXIETS_NIX=%s", tc.in)
			continue
		}
		assert.NilError(t, err)
		assert.Equal(t, got, tc.want)
	}
	if machineErr == nil {
		for _, in := range []string{"", "2.8"} {
			got, err := ResolveVersion(in)
			assert.NilError(t, err)
			assert.Equal(t, got, machine)
		}
	}
}

// TestNix226RefusesAForeignStore runs the real wrapper against a store 2.8
// made (a database, no 2.26 mark) and against an empty one, which it marks.
func TestNix226RefusesAForeignStore(t *testing.T) {
	bothNixes(t) // not inside a 2.26 deployer's namespace, whose /nix is 2.26's
	n := realNixVersion(t, Version226)
	foreign := t.TempDir()
	assert.NilError(t, os.MkdirAll(filepath.Join(foreign, "var/nix/db"), 0o755))
	fresh := t.TempDir()
	for _, tc := range []struct {
		name, store, wantErr string
	}{
		{"a 2.8 store", foreign, "refusing the store at /nix: it was not made by Nix 2.26"},
		{"the machine's store", "/nix", "refusing the store at /nix"},
		{"an empty store", fresh, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nn := *n
			nn.ExtraEnv = []string{"VANIXIETS_NIX226_STORE=" + tc.store}
			var v int
			err := nn.Eval(context.Background(), Installable(testFlake(t, `{ outputs = { self }: { x = 2; }; }`), "x"), &v)
			if tc.wantErr != "" {
				var ce *CommandError
				assert.Assert(t, errors.As(err, &ce), "got %v", err)
				assert.Equal(t, ce.Code, 2)
				assert.Assert(t, is.Contains(ce.Message, tc.wantErr))
				_, statErr := os.Stat(filepath.Join(tc.store, Nix226StoreMark))
				assert.Assert(t, tc.store == "/nix" || os.IsNotExist(statErr), "a refused store is left unmarked")
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, v, 2)
			mark, err := os.ReadFile(filepath.Join(tc.store, Nix226StoreMark))
			assert.NilError(t, err)
			assert.Equal(t, strings.TrimSpace(string(mark)), "2.26")
		})
	}
}

// TestVersionsBuildDrvPath builds a derivation by its .drv path, as the
// deployer builds machines' toplevels, on both versions.
func TestVersionsBuildDrvPath(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			flake := testFlake(t, `{ outputs = { self }: { x = derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo d > $out" ]; nonce = "`+nonce(t)+`"; }; }; }`)
			var drv string
			assert.NilError(t, tc.n.EvalApply(ctx, Installable(flake, "x"), "d: d.drvPath", &drv))
			res, err := tc.n.Build(ctx, drv)
			assert.NilError(t, err)
			assert.Equal(t, len(res), 1)
			assert.Equal(t, res[0].DrvPath, drv)
			assert.Assert(t, strings.HasSuffix(res[0].Out(), "-d"), "%+v", res[0])
		})
	}
}

func TestDrvInstallable(t *testing.T) {
	const drv = "/nix/store/cd694ka33a0f0lxcbfysd1j4905kyw34-y.drv"
	for _, tc := range []struct {
		version, in, want string
	}{
		{"nix (Nix) 2.8.0", drv, drv},
		{"nix (Nix) 2.12.1", drv, drv},
		{"nix (Nix) 2.13.0", drv, drv + "^*"},
		{"nix (Nix) 2.26.3", drv, drv + "^*"},
		{"nix (Nix) 2.26.3", "/work/lab#fleet", "/work/lab#fleet"},
		{"nix (Nix) 2.26.3", drv + "^out", drv + "^out"},
	} {
		v, err := ParseVersion(tc.version)
		assert.NilError(t, err)
		assert.Equal(t, drvInstallable(v, tc.in), tc.want, "%s %s", tc.version, tc.in)
	}
}

// TestVersionsMissingSignature copies an unsigned path into a store that
// checks signatures and reads each version's refusal.
func TestVersionsMissingSignature(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			top := buildTwo(t, tc.n)
			err := tc.n.Copy(context.Background(), CopyOptions{To: "local?root=" + t.TempDir()}, top)
			var ce *CommandError
			assert.Assert(t, errors.As(err, &ce), "got %v", err)
			assert.Assert(t, MissingSignatureRe.MatchString(ce.Message), "%s's refusal: %s", tc.name, ce.Message)
			want := map[string]string{"2.8": "lacks a valid signature", "2.26": "lacks a signature by a trusted key"}[tc.name]
			assert.Assert(t, is.Contains(ce.Message, want))
		})
	}
}
