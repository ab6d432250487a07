package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// scripts/mage keeps the compiled targets while nothing they are built from
// has changed. These tests run the real script, the real go and mage, on a
// small module of the same name (so that go.mod, go.sum and the mage tool
// are the repository's own): its one target prints what a tasks/ package,
// an embedded directory and, later, a second package say. A stale binary
// prints the old words.

// mageModule is a module with one target, `hello`, under root.
func mageModule(t *testing.T, repo string) string {
	root := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "scripts/mage"} {
		b, err := os.ReadFile(filepath.Join(repo, f))
		assert.NilError(t, err)
		writeAged(t, filepath.Join(root, f), string(b))
	}
	assert.NilError(t, os.Chmod(filepath.Join(root, "scripts", "mage"), 0o755))
	writeAged(t, filepath.Join(root, "magefiles", "targets.go"), magefile("greet.Message()"))
	writeAged(t, filepath.Join(root, "tasks", "greet", "greet.go"), `package greet

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed text
var text embed.FS

var suffix string

const word = "hello"

// Message is the word, then every file of text/ in name order.
func Message() string {
	out := []string{word}
	_ = fs.WalkDir(text, "text", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := text.ReadFile(p)
			out = append(out, strings.TrimSpace(string(b)))
		}
		return err
	})
	return strings.Join(out, " ") + suffix
}
`)
	writeAged(t, filepath.Join(root, "tasks", "greet", "text", "a.txt"), "world\n")
	writeAged(t, filepath.Join(root, "tasks", "greet", "greet_test.go"), "package greet\n")
	writeAged(t, filepath.Join(root, "tasks", "other", "other.go"), "package other\n\nfunc Name() string { return \"other\" }\n")
	return root
}

// magefile is the targets file whose one target prints expr.
func magefile(expr string, imports ...string) string {
	imp := `"github.com/vanixiets/vanixiets/tasks/greet"`
	for _, p := range imports {
		imp += "\n\t\"github.com/vanixiets/vanixiets/tasks/" + p + "\""
	}
	return "//go:build mage\n\npackage main\n\nimport (\n\t\"fmt\"\n\n\t" + imp + "\n)\n\n// Hello prints the greeting.\nfunc Hello() { fmt.Println(" + expr + ") }\n"
}

// writeAged writes a file (and its directories), then sets its mtime an
// hour back, as an edit made a while ago: the script rightly keeps no key
// for a file written within the clock tick of its stamp, and these tests
// are about edits, not about that race.
func writeAged(t *testing.T, path, content string) {
	_, err := os.Stat(path)
	isNew := os.IsNotExist(err)
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
	past := time.Now().Add(-time.Hour)
	assert.NilError(t, os.Chtimes(path, past, past))
	if isNew {
		assert.NilError(t, os.Chtimes(filepath.Dir(path), past, past))
	}
}

// removeAged removes a file and sets its directory's mtime back.
func removeAged(t *testing.T, path string) {
	assert.NilError(t, os.Remove(path))
	past := time.Now().Add(-time.Hour)
	assert.NilError(t, os.Chtimes(filepath.Dir(path), past, past))
}

// runMage runs root's scripts/mage with args and says what it printed and
// whether .work/mage-bin is a new file (a compile) since the call before.
func runMage(t *testing.T, root string, env []string, args ...string) (string, bool) {
	bin := filepath.Join(root, ".work", "mage-bin")
	before, _ := os.Stat(bin)
	cmd := exec.Command(filepath.Join(root, "scripts", "mage"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, string(out))
	after, err := os.Stat(bin)
	assert.NilError(t, err)
	return strings.TrimSpace(string(out)), before == nil || !os.SameFile(before, after)
}

func TestScriptsMageReusesTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the targets of a small module several times")
	}
	skipUnderBazel(t)
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock not installed (util-linux)")
	}
	root := mageModule(t, repoRoot(t))
	greet := filepath.Join(root, "tasks", "greet")
	// Each step edits the module, then calls `hello`; they run in order.
	steps := []struct {
		name     string
		edit     func()
		env      []string
		want     string
		compiled bool
	}{
		{name: "first call compiles", want: "hello world", compiled: true},
		{name: "nothing changed: reused", want: "hello world"},
		{name: "edit of an imported tasks/ package", want: "bonjour world", compiled: true,
			edit: func() {
				b, err := os.ReadFile(filepath.Join(greet, "greet.go"))
				assert.NilError(t, err)
				writeAged(t, filepath.Join(greet, "greet.go"), strings.Replace(string(b), `"hello"`, `"bonjour"`, 1))
			}},
		{name: "edit of an embedded file", want: "bonjour monde", compiled: true,
			edit: func() { writeAged(t, filepath.Join(greet, "text", "a.txt"), "monde\n") }},
		{name: "new file in an embedded directory", want: "bonjour monde entier", compiled: true,
			edit: func() { writeAged(t, filepath.Join(greet, "text", "b.txt"), "entier\n") }},
		{name: "new, untracked .go file in an imported package", want: "bonjour monde entier!", compiled: true,
			edit: func() {
				writeAged(t, filepath.Join(greet, "extra.go"), "package greet\n\nfunc init() { suffix = \"!\" }\n")
			}},
		{name: "that file removed", want: "bonjour monde entier", compiled: true,
			edit: func() { removeAged(t, filepath.Join(greet, "extra.go")) }},
		{name: "edit of a test file: reused", want: "bonjour monde entier",
			edit: func() { writeAged(t, filepath.Join(greet, "greet_test.go"), "package greet\n\n// edited\n") }},
		{name: "edit of a package the targets do not import: reused", want: "bonjour monde entier",
			edit: func() {
				writeAged(t, filepath.Join(root, "tasks", "other", "other.go"), "package other\n\nfunc Name() string { return \"autre\" }\n")
			}},
		{name: "a magefile imports another package", want: "bonjour monde entier autre", compiled: true,
			edit: func() {
				writeAged(t, filepath.Join(root, "magefiles", "targets.go"), magefile(`greet.Message(), other.Name()`, "other"))
			}},
		{name: "edit of the newly imported package", want: "bonjour monde entier other", compiled: true,
			edit: func() {
				writeAged(t, filepath.Join(root, "tasks", "other", "other.go"), "package other\n\nfunc Name() string { return \"other\" }\n")
			}},
		{name: "another build environment", env: []string{"GOFLAGS=-trimpath"}, want: "bonjour monde entier other", compiled: true},
		{name: "same environment again: reused", env: []string{"GOFLAGS=-trimpath"}, want: "bonjour monde entier other"},
	}
	for _, s := range steps {
		if s.edit != nil {
			s.edit()
		}
		before := dirMtime(t, filepath.Join(root, "magefiles"))
		out, compiled := runMage(t, root, s.env, "hello")
		assert.Check(t, is.Equal(out, s.want), s.name)
		assert.Check(t, is.Equal(compiled, s.compiled), s.name)
		assertUntouched(t, root, before, s.name)
	}
}

// dirMtime is dir's mtime, which any file created or removed in it
// moves: mage's transient mage_output_file.go would.
func dirMtime(t *testing.T, dir string) time.Time {
	fi, err := os.Stat(dir)
	assert.NilError(t, err)
	return fi.ModTime()
}

// assertUntouched: a compile wrote nothing into magefiles/ (a concurrent
// nix evaluation of the tree would trip on it) and left no private copy
// under .work.
func assertUntouched(t *testing.T, root string, before time.Time, step string) {
	t.Helper()
	assert.Check(t, dirMtime(t, filepath.Join(root, "magefiles")).Equal(before), "%s: magefiles/ changed", step)
	left, err := filepath.Glob(filepath.Join(root, ".work", "mage-src.*"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(left, 0), step)
}

// TestScriptsMageCompilesForAnotherPlatform: `scripts/mage --compile OUT
// -goos darwin -goarch arm64` (the lint job's proof that the Macs can
// build the targets) writes a Mach-O arm64 binary to OUT, a path relative
// to the caller's directory, and nothing into the module.
func TestScriptsMageCompilesForAnotherPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the targets of a small module")
	}
	skipUnderBazel(t)
	root := mageModule(t, repoRoot(t))
	before := dirMtime(t, filepath.Join(root, "magefiles"))
	caller := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "mage"), "--compile", "targets-darwin", "-goos", "darwin", "-goarch", "arm64")
	cmd.Dir = caller
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, string(out))
	b, err := os.ReadFile(filepath.Join(caller, "targets-darwin"))
	assert.NilError(t, err)
	// Mach-O 64-bit magic, then CPU type arm64 (0x0100000c), little-endian.
	assert.Assert(t, len(b) > 8)
	assert.DeepEqual(t, b[:8], []byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0x00, 0x00, 0x01})
	assertUntouched(t, root, before, "--compile")

	cmd = exec.Command(filepath.Join(root, "scripts", "mage"), "--compile")
	out, err = cmd.CombinedOutput()
	assert.Assert(t, err != nil)
	assert.Check(t, is.Contains(string(out), "usage: scripts/mage --compile OUT"))
}

// BenchmarkScriptsMageWarm is the start-up of a target through the
// repository's scripts/mage when nothing changed (target: at most 100 ms;
// `go tool mage` compiles on every call, about 1.25 s): `-l`, which loads
// the targets and lists them.
func BenchmarkScriptsMageWarm(b *testing.B) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "mage")
	if out, err := exec.Command(script, "-l").CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command(script, "-l").CombinedOutput(); err != nil || !strings.Contains(string(out), "deploy:machine") {
			b.Fatalf("%v\n%s", err, out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/start")
}
