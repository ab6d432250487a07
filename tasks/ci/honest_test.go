package ci

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

// repoJob is the named job exactly as ci/jobs.toml declares it.
func repoJob(t *testing.T, name string) Job {
	t.Helper()
	f, err := Load("../../ci/jobs.toml")
	assert.NilError(t, err)
	jobs, err := f.Select([]string{name})
	assert.NilError(t, err)
	return jobs[0]
}

func runJobs(t *testing.T, root string, store cache.Store, jobs ...Job) ([]Outcome, string, error) {
	t.Helper()
	var out bytes.Buffer
	outs, err := Run(context.Background(), Options{Root: root, Jobs: jobs, Cache: store, Hasher: digest.NewHasher(""),
		Versions: NewVersions(""), Out: &out, LogDir: t.TempDir()})
	return outs, out.String(), err
}

const (
	goodGo = "package a\n\nfunc A() int { return 1 }\n"
	badGo  = "package a\nfunc   B()  int{return 2}\n"
)

// The repository's own gofmt job (once lint's first line) checks exactly the
// Go files its key counts: tracked or untracked, not ignored. Its old
// command listed tracked files only, so an untracked badly formatted file
// changed the key and then passed the check (or, once a marker existed, was
// skipped).
func TestGofmtChecksExactlyItsKeyedFiles(t *testing.T) {
	job := repoJob(t, "gofmt")
	tests := []struct {
		name    string
		before  func(t *testing.T, root string) // before the first run (after the commit)
		change  func(t *testing.T, root string) // between the two runs
		wantErr string                          // second run's failure ("" = passes)
		inLog   string
	}{
		{name: "clean tree passes"},
		{name: "tracked badly formatted file fails",
			change: func(t *testing.T, root string) {
				assert.NilError(t, os.WriteFile(filepath.Join(root, "a/a.go"), []byte(badGo), 0o644))
			},
			wantErr: "job gofmt failed", inLog: "a/a.go"},
		{name: "untracked badly formatted file fails",
			change: func(t *testing.T, root string) {
				assert.NilError(t, os.WriteFile(filepath.Join(root, "a/b.go"), []byte(badGo), 0o644))
			},
			wantErr: "job gofmt failed", inLog: "a/b.go"},
		{name: "ignored file is not an input and is not checked",
			before: func(t *testing.T, root string) {
				assert.NilError(t, os.WriteFile(filepath.Join(root, ".gitignore"), []byte("/gen/\n"), 0o644))
			},
			change: func(t *testing.T, root string) {
				assert.NilError(t, os.MkdirAll(filepath.Join(root, "gen"), 0o755))
				assert.NilError(t, os.WriteFile(filepath.Join(root, "gen/gen.go"), []byte(badGo), 0o644))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VANIXIETS_HOME", t.TempDir())
			root := fs.NewDir(t, "gofmt",
				fs.WithFile("go.mod", "module example.com/a\n\ngo 1.21\n"),
				fs.WithDir("a", fs.WithFile("a.go", goodGo)),
			).Path()
			gitRepo(t, root)
			if tc.before != nil {
				tc.before(t, root)
			}
			store := cache.NewLocal(t.TempDir())
			outs, _, err := runJobs(t, root, store, job)
			assert.Assert(t, len(outs) == 1, "first run: %v", err)
			assert.NilError(t, err, "first run: %s", logOf(outs[0]))
			if tc.change == nil {
				return
			}
			tc.change(t, root)
			outs, out, err := runJobs(t, root, store, job)
			assert.Assert(t, len(outs) == 1, "second run: %v", err)
			if tc.wantErr == "" {
				assert.NilError(t, err, logOf(outs[0]))
				return
			}
			assert.Assert(t, outs[0].Ran, "gofmt was skipped: %s", out)
			assert.ErrorContains(t, outs[0].Err, tc.wantErr)
			assert.Assert(t, is.Contains(logOf(outs[0]), "gofmt needed on:"))
			assert.Assert(t, is.Contains(logOf(outs[0]), tc.inLog))
		})
	}
}

func logOf(o Outcome) string {
	b, _ := os.ReadFile(o.Log)
	return string(b)
}

// Every job's commands get the list of exactly the files its key was made
// from, in a private file that is gone after the job.
func TestJobSeesItsInputList(t *testing.T) {
	t.Setenv("VANIXIETS_HOME", t.TempDir())
	root := fs.NewDir(t, "inputs",
		fs.WithFile(".gitignore", "src/ignored.go\n"),
		fs.WithDir("src", fs.WithFile("a.go", "package a"), fs.WithFile("a_test.go", "package a")),
		fs.WithDir("docs", fs.WithFile("x.md", "doc")),
	).Path()
	gitRepo(t, root)
	assert.NilError(t, os.WriteFile(filepath.Join(root, "src/untracked.go"), []byte("package a"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(root, "src/ignored.go"), []byte("package a"), 0o644))
	seen := filepath.Join(t.TempDir(), "seen")
	j := Job{Name: "list", Inputs: []string{"src/*.go"}, Exclude: []string{"**/*_test.go"},
		Run: `cp "$VANIXIETS_JOB_INPUTS" "$SEEN"; echo "$VANIXIETS_JOB_INPUTS" > "$SEEN.path"`, Env: []string{"SEEN=" + seen}}
	outs, _, err := runJobs(t, root, cache.NewLocal(t.TempDir()), j)
	assert.NilError(t, err)
	got, err := os.ReadFile(seen)
	assert.NilError(t, err)
	assert.Equal(t, string(got), "src/a.go\nsrc/untracked.go\n")
	var want []string
	for _, f := range outs[0].Files.Files {
		want = append(want, f.Path)
	}
	assert.DeepEqual(t, strings.Fields(string(got)), want)
	listPath, _ := os.ReadFile(seen + ".path")
	_, err = os.Stat(filepath.Dir(strings.TrimSpace(string(listPath))))
	assert.Assert(t, os.IsNotExist(err), "the input list's temp dir outlived the job")
}

// A job that lists files on its own could check files its key never saw:
// the jobs file is refused, naming the job and the fix.
func TestJobListingFilesItselfIsRefused(t *testing.T) {
	tests := []struct{ run, want string }{
		{`gofmt -l $(git ls-files '*.go')`, `run lists files itself ("git ls-files")`},
		{`shellcheck $(git  diff --name-only HEAD)`, `$VANIXIETS_JOB_INPUTS`},
		{`git ls-tree -r HEAD`, `job 1 ("a")`},
	}
	for _, tc := range tests {
		t.Run(tc.run, func(t *testing.T) {
			src := "[[job]]\nname = \"a\"\ninputs = [\"x\"]\nrun = '''" + tc.run + "'''\n"
			_, err := Parse("jobs.toml", []byte(src))
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// The marker's commit says +dirty whenever any of the job's inputs differs
// from HEAD, untracked inputs included, and only then.
func TestMarkerDirty(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, root string)
		dirty  bool
	}{
		{"clean", func(*testing.T, string) {}, false},
		{"untracked input", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "src/new.go"), []byte("package n"), 0o644))
		}, true},
		{"modified input", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "src/a.go"), []byte("package z"), 0o644))
		}, true},
		{"staged input", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "src/a.go"), []byte("package z"), 0o644))
			git(t, root, "add", "src/a.go")
		}, true},
		{"deleted input", func(t *testing.T, root string) {
			assert.NilError(t, os.Remove(filepath.Join(root, "src/b.go")))
		}, true},
		{"change outside the inputs", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "docs/x.md"), []byte("new"), 0o644))
			assert.NilError(t, os.WriteFile(filepath.Join(root, "docs/y.md"), []byte("new"), 0o644))
		}, false},
		{"excluded file", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "src/a_test.go"), []byte("package z"), 0o644))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VANIXIETS_HOME", t.TempDir())
			root := fs.NewDir(t, "dirty",
				fs.WithDir("src", fs.WithFile("a.go", "package a"), fs.WithFile("b.go", "package b"), fs.WithFile("a_test.go", "package a")),
				fs.WithDir("docs", fs.WithFile("x.md", "doc")),
			).Path()
			gitRepo(t, root)
			head := strings.TrimSpace(git(t, root, "rev-parse", "--short=12", "HEAD"))
			tc.change(t, root)
			store := cache.NewLocal(t.TempDir())
			j := Job{Name: "src", Inputs: []string{"src/*.go"}, Exclude: []string{"**/*_test.go"}, Run: "true"}
			outs, _, err := runJobs(t, root, store, j)
			assert.NilError(t, err)
			b, ok, err := store.Get(context.Background(), outs[0].Key)
			assert.NilError(t, err)
			assert.Assert(t, ok)
			m, ok := MarkerOf(b)
			assert.Assert(t, ok)
			want := head
			if tc.dirty {
				want += "+dirty"
			}
			assert.Equal(t, m.Commit, want)
		})
	}
}

// An optional glob may match nothing (an input glob may not: a typo would
// silently key on less), and what it matches once it exists enters the key
// like any input.
func TestOptionalInputs(t *testing.T) {
	jobs := "[[job]]\nname = \"o\"\ninputs = [\"src/*.go\"]\noptional = [\"pkgs/by-name/**\"]\nrun = \"true\"\n"
	w := newWorld(t, jobs)
	_, _, err := w.run(false)
	assert.NilError(t, err)
	assert.NilError(t, os.MkdirAll(filepath.Join(w.root, "pkgs/by-name/hello"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, "pkgs/by-name/hello/package.nix"), []byte("{ }"), 0o644))
	outs, out, err := w.run(false)
	assert.NilError(t, err)
	assert.Assert(t, outs[0].Ran)
	assert.Assert(t, is.Contains(out, "added pkgs/by-name/hello/package.nix"))

	w2 := newWorld(t, "[[job]]\nname = \"o\"\ninputs = [\"src/*.go\", \"pkgs/by-name/**\"]\nrun = \"true\"\n")
	_, _, err = w2.run(false)
	assert.ErrorContains(t, err, `input glob "pkgs/by-name/**"`)
}

// A checkout owned by another user (a CI checkout, a bind mount) plans and
// records its commit without any safe.directory setting on the machine.
func TestCheckoutOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the checkout to another user (CI and the fresh machine run as root)")
	}
	w := newWorld(t, twoJobs)
	gitRepo(t, w.root)
	assert.NilError(t, filepath.Walk(w.root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	}))
	head := strings.TrimSpace(git(t, w.root, "-c", "safe.directory=*", "rev-parse", "--short=12", "HEAD"))
	outs, _, err := w.run(false, "src")
	assert.NilError(t, err)
	b, ok, err := w.store.Get(context.Background(), outs[0].Key)
	assert.NilError(t, err)
	assert.Assert(t, ok)
	m, ok := MarkerOf(b)
	assert.Assert(t, ok)
	assert.Equal(t, m.Commit, head)
}
