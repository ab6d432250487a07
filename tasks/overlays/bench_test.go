package overlays

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

// writeTree writes a valid overlay tree of n overlay files: the three
// internal layers plus n-3 external files, each overriding its own package.
func writeTree(t testing.TB, root string, n int) {
	t.Helper()
	for _, src := range []string{"channels.nix", "stable-fallbacks.nix", "overrides.nix"} {
		b, err := os.ReadFile(filepath.Join("testdata/good", OverlaysDir, src))
		assert.NilError(t, err)
		assert.NilError(t, os.MkdirAll(filepath.Join(root, OverlaysDir), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(root, OverlaysDir, src), b, 0o644))
	}
	b, err := os.ReadFile(filepath.Join("testdata/good", ComposeFile))
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(root, ComposeFile), b, 0o644))
	for i := 0; i < n-3; i++ {
		f := fmt.Sprintf(`# Layer 5: tweaks from the tool%[1]d flake
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 400 [
    (final: prev: {
      # tool%[1]d: completions missing
      # Upstream: https://github.com/example/tool%[1]d/issues/%[1]d
      # TODO: Remove when tool%[1]d ships completions
      # Date added: 2026-11-01
      tool%[1]d = prev.tool%[1]d.overrideAttrs (old: { postInstall = "true"; });
    })
  ];
}
`, i)
		assert.NilError(t, os.WriteFile(filepath.Join(root, OverlaysDir, fmt.Sprintf("tool%02d.nix", i)), []byte(f), 0o644))
	}
}

// BenchmarkCheck50 measures the check of a 50-file overlay tree: cold (every
// file parsed and evaluated by Nix) and warm (a cache hit: the files are
// hashed through the stat cache and the recorded report returned).
func BenchmarkCheck50(b *testing.B) {
	needNix(b)
	root := b.TempDir()
	writeTree(b, root, 50)
	opt := Options{Root: root, Now: testNow}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			rep, err := Check(context.Background(), opt)
			if err != nil || !rep.OK || len(rep.Files) != 50 {
				b.Fatalf("check: %v ok=%v files=%d", err, rep.OK, len(rep.Files))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
	})
	b.Run("warm", func(b *testing.B) { benchWarm(b, opt) })
}

// TestCachedCheck: the second run of an unchanged tree is a hit with the
// same report; editing an overlay file, the fleet's systems or the day
// misses and checks again.
func TestCachedCheck(t *testing.T) {
	needNix(t)
	root := t.TempDir()
	writeTree(t, root, 5)
	store := cache.NewLocal(t.TempDir())
	h := digest.NewHasher("")
	opt := Options{Root: root, Now: testNow}
	ctx := context.Background()

	first, _, err := CachedCheck(ctx, opt, store, h)
	assert.NilError(t, err)
	assert.Assert(t, !first.Cached && first.OK)
	second, _, err := CachedCheck(ctx, opt, store, h)
	assert.NilError(t, err)
	assert.Assert(t, second.Cached)
	second.Cached = false
	j1, _ := json.Marshal(first)
	j2, _ := json.Marshal(second)
	assert.Equal(t, string(j2), string(j1))

	// A changed file misses, and its new finding shows.
	p := filepath.Join(root, OverlaysDir, "tool00.nix")
	b, _ := os.ReadFile(p)
	assert.NilError(t, os.WriteFile(p, append([]byte("# edited\n"), b[len("# Layer 5: tweaks from the tool0 flake\n"):]...), 0o644))
	third, _, err := CachedCheck(ctx, opt, store, h)
	assert.NilError(t, err)
	assert.Assert(t, !third.Cached)

	// Other systems, or another day, miss too.
	opt2 := opt
	opt2.Systems = []string{"x86_64-linux"}
	r, _, err := CachedCheck(ctx, opt2, store, h)
	assert.NilError(t, err)
	assert.Assert(t, !r.Cached)
	opt3 := opt
	opt3.Now = func() time.Time { return testNow().Add(48 * time.Hour) }
	r, _, err = CachedCheck(ctx, opt3, store, h)
	assert.NilError(t, err)
	assert.Assert(t, !r.Cached)
}

// writeRealTree writes a tree shaped like the user's repository with n
// overlay files (channels, stable fallbacks, and n-2 one-override files
// documented in their headers, top-level nixpkgsOverlays, no lib.mkOrder
// needed: every override file sorts after stable-fallbacks.nix) and pkgs
// by-name packages, a fifth of them in nested groups.
func writeRealTree(t testing.TB, root string, n, pkgs int) {
	t.Helper()
	base := "testdata/real-good"
	for _, f := range []string{"overlays-option.nix", "compose.nix", "per-system.nix", "overlays/channels.nix", "overlays/stable-fallbacks.nix"} {
		b, err := os.ReadFile(filepath.Join(base, NixpkgsDir, f))
		assert.NilError(t, err)
		p := filepath.Join(root, NixpkgsDir, f)
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, b, 0o644))
	}
	for i := 0; i < n-2; i++ {
		f := fmt.Sprintf(`# tool%[1]d: its check phase needs the network
#
# Upstream: https://github.com/example/tool%[1]d/issues/%[1]d
# TODO: Remove when tool%[1]d's tests run offline
# Date added: 2026-11-01
{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 300 [
    (final: prev: {
      tool%[1]d = prev.tool%[1]d.overrideAttrs (old: {
        doCheck = false;
      });
    })
  ];
}
`, i)
		assert.NilError(t, os.WriteFile(filepath.Join(root, OverlaysDir, fmt.Sprintf("tool%03d.nix", i)), []byte(f), 0o644))
	}
	for i := 0; i < pkgs; i++ {
		dir := filepath.Join(root, "pkgs/by-name", fmt.Sprintf("pkg%03d", i))
		if i%5 == 0 {
			dir = filepath.Join(root, "pkgs/by-name", fmt.Sprintf("group%d", i%3), fmt.Sprintf("member%03d", i))
		}
		assert.NilError(t, os.MkdirAll(dir, 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "package.nix"), []byte(`{ writeShellScriptBin }: writeShellScriptBin "p" "true"`+"\n"), 0o644))
	}
}

// BenchmarkCheckReal200 measures the user-shaped tree of the issue: 200
// overlay files and 100 by-name packages, cold (Nix parses and evaluates
// every file) and warm (a cache hit). Targets: cold ≤ 1 s, warm ≤ 50 ms.
func BenchmarkCheckReal200(b *testing.B) {
	needNix(b)
	root := b.TempDir()
	writeRealTree(b, root, 200, 100)
	opt := Options{Root: root, Now: testNow}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			rep, err := Check(context.Background(), opt)
			if err != nil || !rep.OK || len(rep.Files) != 200 || len(rep.Custom) != 100 || len(rep.Findings) != 0 {
				b.Fatalf("check: %v ok=%v files=%d custom=%d findings=%v", err, rep.OK, len(rep.Files), len(rep.Custom), rep.Findings)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
	})
	b.Run("warm", func(b *testing.B) { benchWarm(b, opt) })
}

// benchWarm measures a check whose key is already cached: the cost of
// hashing the tree and looking the key up, which is what an unchanged
// overlay tree costs every run.
func benchWarm(b *testing.B, opt Options) {
	store := cache.NewLocal(b.TempDir())
	h := digest.NewHasher("")
	if _, _, err := CachedCheck(context.Background(), opt, store, h); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rep, _, err := CachedCheck(context.Background(), opt, store, h)
		if err != nil || !rep.Cached {
			b.Fatalf("warm check: %v cached=%v", err, rep.Cached)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/check")
}
