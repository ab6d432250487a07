package digest

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

func tree(t *testing.T) *fs.Dir {
	return fs.NewDir(t, "digest",
		fs.WithFile("go.mod", "module x\n"),
		fs.WithDir("tasks",
			fs.WithFile("a.go", "package a\n"),
			fs.WithDir("sub", fs.WithFile("b.go", "package b\n"), fs.WithFile("notes.txt", "n")),
		),
		fs.WithDir(".git", fs.WithFile("HEAD", "ref")),
		fs.WithDir("lab", fs.WithFile("flake.nix", "{}")),
	)
}

func pathsOf(m Manifest) []string {
	var out []string
	for _, f := range m.Files {
		out = append(out, f.Path)
	}
	return out
}

func TestGlobMatches(t *testing.T) {
	dir := tree(t)
	tests := []struct {
		name     string
		patterns []string
		exclude  []string
		want     []string
	}{
		{"double star", []string{"tasks/**/*.go"}, nil, []string{"tasks/a.go", "tasks/sub/b.go"}},
		{"literal file", []string{"go.mod"}, nil, []string{"go.mod"}},
		{"whole dir", []string{"tasks/**"}, nil, []string{"tasks/a.go", "tasks/sub/b.go", "tasks/sub/notes.txt"}},
		{"exclude", []string{"tasks/**"}, []string{"**/*.txt"}, []string{"tasks/a.go", "tasks/sub/b.go"}},
		{"git skipped", []string{"**"}, nil, []string{"go.mod", "lab/flake.nix", "tasks/a.go", "tasks/sub/b.go", "tasks/sub/notes.txt"}},
		{"overlapping patterns dedupe", []string{"tasks/*.go", "tasks/**/*.go"}, nil, []string{"tasks/a.go", "tasks/sub/b.go"}},
		{"missing dir", []string{"nope/**"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewHasher("").Glob(Spec{Root: dir.Path(), Patterns: tc.patterns, Exclude: tc.exclude})
			assert.NilError(t, err)
			assert.DeepEqual(t, pathsOf(m), tc.want)
		})
	}
}

func TestRequiredPatternMatchingNothing(t *testing.T) {
	dir := tree(t)
	_, err := NewHasher("").Glob(Spec{Root: dir.Path(), Patterns: []string{"go.mod", "docs/*.md"}, Required: true})
	assert.Assert(t, errors.Is(err, ErrNoMatch))
	assert.ErrorContains(t, err, `"docs/*.md"`)
}

func TestBadPattern(t *testing.T) {
	for _, p := range []string{"../x", "/abs", "a/[", ""} {
		_, err := NewHasher("").Glob(Spec{Root: t.TempDir(), Patterns: []string{p}})
		assert.Assert(t, err != nil, "pattern %q", p)
	}
}

// The key must change on an edit, a chmod and a rename, and on nothing else.
func TestSumSensitivity(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, root string)
		same   bool
	}{
		{"nothing", func(t *testing.T, root string) {}, true},
		{"touch keeps content", func(t *testing.T, root string) {
			now := time.Now().Add(time.Hour)
			assert.NilError(t, os.Chtimes(filepath.Join(root, "tasks/a.go"), now, now))
		}, true},
		{"edit", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "tasks/a.go"), []byte("package z\n"), 0o644))
		}, false},
		{"chmod", func(t *testing.T, root string) {
			assert.NilError(t, os.Chmod(filepath.Join(root, "tasks/a.go"), 0o755))
		}, false},
		{"rename", func(t *testing.T, root string) {
			assert.NilError(t, os.Rename(filepath.Join(root, "tasks/a.go"), filepath.Join(root, "tasks/c.go")))
		}, false},
		{"new file", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "tasks/d.go"), nil, 0o644))
		}, false},
		{"symlink target", func(t *testing.T, root string) {
			assert.NilError(t, os.Remove(filepath.Join(root, "tasks/a.go")))
			assert.NilError(t, os.Symlink("package a\n", filepath.Join(root, "tasks/a.go")))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tree(t)
			h := NewHasher(filepath.Join(t.TempDir(), "stat"))
			spec := Spec{Root: dir.Path(), Patterns: []string{"tasks/**/*.go"}}
			before, err := h.Glob(spec)
			assert.NilError(t, err)
			tc.mutate(t, dir.Path())
			after, err := h.Glob(spec)
			assert.NilError(t, err)
			assert.Equal(t, before.Sum() == after.Sum(), tc.same)
		})
	}
}

// A warm run must not trust an entry whose content changed even when the
// size and mtime were forced back to their old values (ctime still moves).
func TestStatCacheDetectsSameSizeSameMtimeEdit(t *testing.T) {
	dir := fs.NewDir(t, "digest", fs.WithFile("f", "aaaa"))
	p := filepath.Join(dir.Path(), "f")
	old := time.Now().Add(-time.Hour)
	assert.NilError(t, os.Chtimes(p, old, old))
	time.Sleep(2 * racyWindow)
	cache := filepath.Join(t.TempDir(), "stat")
	h := NewHasher(cache)
	spec := Spec{Root: dir.Path(), Patterns: []string{"f"}}
	m1, err := h.Glob(spec)
	assert.NilError(t, err)
	assert.NilError(t, h.Save())
	assert.NilError(t, os.WriteFile(p, []byte("bbbb"), 0o644))
	assert.NilError(t, os.Chtimes(p, old, old))
	m2, err := NewHasher(cache).Glob(spec)
	assert.NilError(t, err)
	assert.Assert(t, m1.Sum() != m2.Sum())
}

func TestStatCachePersistsAndSkipsReads(t *testing.T) {
	dir := tree(t)
	old := time.Now().Add(-time.Hour)
	filepath.Walk(dir.Path(), func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	time.Sleep(2 * racyWindow)
	cache := filepath.Join(t.TempDir(), "stat")
	h := NewHasher(cache)
	spec := Spec{Root: dir.Path(), Patterns: []string{"**"}}
	m1, err := h.Glob(spec)
	assert.NilError(t, err)
	assert.NilError(t, h.Save())
	// Make every file unreadable: a warm run must not need to open them.
	for _, f := range m1.Files {
		assert.NilError(t, os.Chmod(filepath.Join(dir.Path(), f.Path), 0o000))
		assert.NilError(t, os.Chmod(filepath.Join(dir.Path(), f.Path), os.FileMode(f.Mode.Perm())))
	}
	h2 := NewHasher(cache)
	assert.Check(t, is.Len(h2.m, len(m1.Files)))
	m2, err := h2.Glob(spec)
	assert.NilError(t, err)
	assert.Equal(t, m1.Sum(), m2.Sum())
}

// The cache file round-trips: every path, stat and digest comes back, so
// a fresh process hits on every unchanged file.
func TestStatCacheRoundTrip(t *testing.T) {
	m := map[string]*entry{
		"/r/a.go":          {st: statInfo{size: 1, mtime: 2, ctime: 3, ino: 4, dev: 5, mode: 0o644}, sum: [32]byte{1}},
		"/r/dir/b.nix":     {st: statInfo{size: 10, mtime: 20, ctime: 30, ino: 40, dev: 50, mode: iofs.ModeSymlink | 0o777}, sum: [32]byte{2}},
		"/r/a path/ü.json": {st: statInfo{size: 0, mode: 0o600}, sum: [32]byte{3}},
	}
	got := decode(encode(m))
	assert.Equal(t, len(got), len(m))
	for k, e := range m {
		assert.Assert(t, got[k] != nil, k)
		assert.Equal(t, got[k].st, e.st, k)
		assert.Equal(t, got[k].sum, e.sum, k)
	}
}

// clean decides when a relative path may be resolved from the root's
// descriptor as it is: anything filepath.Join would change is not.
func TestClean(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"go.mod", true},
		{"tasks/a.go", true},
		{".github/ci.yml", true},
		{"", false},
		{"/etc/passwd", false},
		{"tasks/", false},
		{"tasks//a.go", false},
		{"./go.mod", false},
		{"tasks/./a.go", false},
		{"../x", false},
		{"tasks/../go.mod", false},
		{"..", false},
	} {
		assert.Equal(t, clean(tc.rel), tc.want, tc.rel)
		if tc.want {
			assert.Equal(t, filepath.Join("/r", tc.rel), "/r/"+tc.rel)
		}
	}
}

func TestCorruptStatCacheStartsEmpty(t *testing.T) {
	for i, b := range [][]byte{nil, []byte("garbage"), []byte(magic + "\xff\xff")} {
		f := filepath.Join(t.TempDir(), fmt.Sprint(i))
		assert.NilError(t, os.WriteFile(f, b, 0o600))
		assert.Equal(t, len(NewHasher(f).m), 0)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(magic))
	f.Add(encode(map[string]*entry{"/a": {sum: [32]byte{1}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := decode(b)
		again := decode(encode(m))
		assert.Equal(t, len(again), len(m))
		for k, e := range m {
			assert.Assert(t, again[k] != nil, "path %q lost in a round trip", k)
			assert.Equal(t, again[k].st, e.st)
			assert.Equal(t, again[k].sum, e.sum)
		}
	})
}

func FuzzPatternMatch(f *testing.F) {
	f.Add("tasks/**/*.go", "tasks/a/b.go")
	f.Add("**", "x")
	f.Fuzz(func(t *testing.T, pat, name string) {
		p, err := compile(pat)
		if err != nil {
			return
		}
		// match's shortcuts ("**", "**/<base>") answer as the general
		// segment matcher does.
		assert.Equal(t, p.match(name), matchSegs(p.segs, strings.Split(name, "/")), "pattern %q, path %q", pat, name)
		_ = p.mayContain(name)
	})
}

// Spec.Paths replaces the walk with a list of candidates and changes
// nothing else: each is matched as a walked file would be, so the manifest
// is the walk's restricted to the list; a listed path that is gone or is a
// directory is skipped.
func TestGlobPaths(t *testing.T) {
	dir := tree(t)
	listed := []string{"go.mod", "tasks/a.go", "tasks/sub/notes.txt", "gone.go", "tasks/sub", "lab/flake.nix"}
	inList := map[string]bool{}
	for _, p := range listed {
		inList[p] = true
	}
	tests := []struct {
		name     string
		patterns []string
		exclude  []string
		want     []string
	}{
		{"everything listed", []string{"**"}, nil, []string{"go.mod", "lab/flake.nix", "tasks/a.go", "tasks/sub/notes.txt"}},
		{"patterns still match", []string{"tasks/**"}, nil, []string{"tasks/a.go", "tasks/sub/notes.txt"}},
		{"exclude still applies", []string{"**"}, []string{"**/*.txt", "lab/**"}, []string{"go.mod", "tasks/a.go"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHasher("")
			got, err := h.Glob(Spec{Root: dir.Path(), Patterns: tc.patterns, Exclude: tc.exclude, Paths: listed})
			assert.NilError(t, err)
			assert.DeepEqual(t, pathsOf(got), tc.want)
			walked, err := h.Glob(Spec{Root: dir.Path(), Patterns: tc.patterns, Exclude: tc.exclude, Keep: func(p string) bool { return inList[p] }})
			assert.NilError(t, err)
			assert.Equal(t, got.Sum(), walked.Sum(), "the list gives the walk's manifest")
		})
	}
	// Required still says which pattern matched nothing in the list.
	_, err := NewHasher("").Glob(Spec{Root: dir.Path(), Patterns: []string{"tasks/sub/*.go"}, Required: true, Paths: listed})
	assert.Assert(t, errors.Is(err, ErrNoMatch), "got %v", err)
}
