package ci

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/poll"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "[[job]]\nname = \"a\"\ninputs = [\"x\"\n", "jobs.toml:3:14: expected a comma"},
		{"unknown tool", `[[job]]
name = "a"
inputs = ["x"]
tools = ["gcc"]
run = "true"`, `unknown tool "gcc" (known: ` + strings.Join(ToolNames(), ", ") + `)`},
		{"cycle", `[[job]]
name = "a"
inputs = ["x"]
run = "true"
needs = ["b"]
[[job]]
name = "b"
inputs = ["x"]
run = "true"
needs = ["a"]`, "cycle between jobs: a -> b -> a"},
		{"unknown need", "[[job]]\nname = \"a\"\ninputs = [\"x\"]\nrun = \"true\"\nneeds = [\"zz\"]", `needs unknown job "zz"`},
		{"no inputs", "[[job]]\nname = \"a\"\nrun = \"true\"", "inputs is empty"},
		{"no run", "[[job]]\nname = \"a\"\ninputs = [\"x\"]", "run is empty"},
		{"bad name", "[[job]]\nname = \"A b\"\ninputs = [\"x\"]\nrun = \"true\"", "name must be lower-case"},
		{"duplicate", "[[job]]\nname = \"a\"\ninputs = [\"x\"]\nrun = \"t\"\n[[job]]\nname = \"a\"\ninputs = [\"x\"]\nrun = \"t\"", "duplicate job name"},
		{"unknown key", "[[job]]\nname = \"a\"\ninputs = [\"x\"]\nrun = \"t\"\nimage = \"x\"", `unknown key "job.image"`},
		{"bad timeout", "[[job]]\nname = \"a\"\ninputs = [\"x\"]\nrun = \"t\"\ntimeout = \"soon\"", `timeout "soon"`},
		{"empty", "", "no [[job]] defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("jobs.toml", []byte(tc.src))
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRepositoryJobsFileIsValid(t *testing.T) {
	f, err := Load("../../ci/jobs.toml")
	assert.NilError(t, err)
	names := map[string]bool{}
	for _, j := range f.Jobs {
		names[j.Name] = true
	}
	assert.Assert(t, names["go-unit"] && names["lint"])
}

// world is a repository with a jobs file, a private cache and stat cache.
type world struct {
	t     *testing.T
	root  string
	store cache.Store
	home  string
}

func newWorld(t *testing.T, jobs string) *world {
	dir := fs.NewDir(t, "ci",
		fs.WithFile("jobs.toml", jobs),
		fs.WithDir("src", fs.WithFile("a.go", "package a"), fs.WithFile("b.go", "package b")),
		fs.WithDir("docs", fs.WithFile("x.md", "doc")),
	)
	home := t.TempDir()
	t.Setenv("VANIXIETS_HOME", home)
	return &world{t: t, root: dir.Path(), store: cache.NewLocal(filepath.Join(home, "store")), home: home}
}

func (w *world) run(force bool, names ...string) ([]Outcome, string, error) {
	f, err := Load(filepath.Join(w.root, "jobs.toml"))
	assert.NilError(w.t, err)
	jobs, err := f.Select(names)
	assert.NilError(w.t, err)
	var out bytes.Buffer
	outs, err := Run(context.Background(), Options{Root: w.root, Jobs: jobs, Cache: w.store, Hasher: digest.NewHasher(""),
		Versions: NewVersions(""), Force: force, Out: &out, LogDir: filepath.Join(w.home, "logs")})
	return outs, out.String(), err
}

func ran(outs []Outcome) []string {
	var r []string
	for _, o := range outs {
		if o.Ran {
			r = append(r, o.Job.Name)
		}
	}
	return r
}

const twoJobs = `
[[job]]
name = "src"
inputs = ["src/*.go"]
tools = ["bash"]
run = "echo src ran >> $OUT_LOG"
env = ["OUT_LOG=/dev/null"]

[[job]]
name = "docs"
inputs = ["docs/**"]
run = "true"
`

func TestSecondRunSkipsEverything(t *testing.T) {
	w := newWorld(t, twoJobs)
	outs, out, err := w.run(false)
	assert.NilError(t, err)
	assert.DeepEqual(t, ran(outs), []string{"src", "docs"})
	assert.Assert(t, strings.Contains(out, "CI Cache | src :: RUN | job-result-src-"), out)
	outs, out, err = w.run(false)
	assert.NilError(t, err)
	assert.Equal(t, len(ran(outs)), 0)
	assert.Assert(t, strings.Contains(out, "CI Cache | src :: SKIP | job-result-src-"), out)
}

// Touching, chmodding or renaming an input reruns exactly the jobs that
// hash it, and the reason names the file.
func TestWhatReruns(t *testing.T) {
	tests := []struct {
		name   string
		change func(root string) error
		want   []string
		reason string
	}{
		{"edit", func(r string) error { return os.WriteFile(filepath.Join(r, "src/a.go"), []byte("package z"), 0o644) }, []string{"src"}, "changed src/a.go"},
		{"chmod", func(r string) error { return os.Chmod(filepath.Join(r, "src/a.go"), 0o755) }, []string{"src"}, "changed src/a.go (mode)"},
		{"rename", func(r string) error { return os.Rename(filepath.Join(r, "src/a.go"), filepath.Join(r, "src/c.go")) }, []string{"src"}, "added src/c.go, removed src/a.go"},
		{"other job's file", func(r string) error { return os.WriteFile(filepath.Join(r, "docs/x.md"), []byte("new"), 0o644) }, []string{"docs"}, "changed docs/x.md"},
		{"job definition", func(r string) error {
			return os.WriteFile(filepath.Join(r, "jobs.toml"), []byte(strings.Replace(twoJobs, `run = "true"`, `run = "true; true"`, 1)), 0o644)
		}, []string{"docs"}, "job definition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, twoJobs)
			_, _, err := w.run(false)
			assert.NilError(t, err)
			assert.NilError(t, tc.change(w.root))
			outs, out, err := w.run(false)
			assert.NilError(t, err)
			assert.DeepEqual(t, ran(outs), tc.want)
			assert.Assert(t, strings.Contains(out, tc.reason), out)
		})
	}
}

func TestForceRunsAll(t *testing.T) {
	w := newWorld(t, twoJobs)
	_, _, err := w.run(false)
	assert.NilError(t, err)
	outs, out, err := w.run(true)
	assert.NilError(t, err)
	assert.DeepEqual(t, ran(outs), []string{"src", "docs"})
	assert.Assert(t, strings.Contains(out, "| forced"))
}

func TestFailedJobRecordsNoMarkerAndKeepsLog(t *testing.T) {
	jobs := `
[[job]]
name = "bad"
inputs = ["src/*.go"]
run = "echo the real error text; exit 3"
[[job]]
name = "after"
inputs = ["src/*.go"]
run = "true"
needs = ["bad"]
`
	w := newWorld(t, jobs)
	outs, _, err := w.run(false)
	assert.ErrorContains(t, err, "did not succeed")
	assert.ErrorContains(t, outs[0].Err, "full log: ")
	log, rerr := os.ReadFile(outs[0].Log)
	assert.NilError(t, rerr)
	assert.Assert(t, strings.Contains(string(log), "the real error text"))
	assert.Assert(t, !outs[1].Ran, "dependent of a failed job does not run")
	outs, _, _ = w.run(false)
	assert.DeepEqual(t, ran(outs), []string{"bad"}) // no marker was recorded for the failure
	var junit = filepath.Join(w.home, "junit.xml")
	assert.NilError(t, WriteJUnit(junit, outs))
	b, _ := os.ReadFile(junit)
	assert.Assert(t, strings.Contains(string(b), `<failure message="job bad failed`), string(b))
}

func TestCancelledJobRecordsNoMarker(t *testing.T) {
	jobs := "[[job]]\nname = \"slow\"\ninputs = [\"src/*.go\"]\nrun = \"echo started; sleep 30\"\n"
	w := newWorld(t, jobs)
	f, _ := Load(filepath.Join(w.root, "jobs.toml"))
	logs := t.TempDir()
	o := Options{Root: w.root, Jobs: f.Jobs, Cache: w.store, Hasher: digest.NewHasher(""),
		Versions: NewVersions(""), Out: &bytes.Buffer{}, LogDir: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Outcome)
	go func() {
		outs, _ := Run(ctx, o)
		done <- outs
	}()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if b, _ := os.ReadFile(filepath.Join(logs, "slow.log")); strings.Contains(string(b), "started") {
			return poll.Success()
		}
		return poll.Continue("job not started")
	}, poll.WithTimeout(10*time.Second))
	cancel()
	outs := <-done
	assert.Assert(t, outs[0].Err != nil)
	_, ok, err := w.store.Get(context.Background(), outs[0].Key)
	assert.NilError(t, err)
	assert.Assert(t, !ok, "a killed job records no success marker")
}

func TestUnknownJobAndEmptyGlob(t *testing.T) {
	w := newWorld(t, twoJobs)
	f, _ := Load(filepath.Join(w.root, "jobs.toml"))
	_, err := f.Select([]string{"nope"})
	assert.ErrorContains(t, err, `unknown CI job "nope" (known: docs, src)`)
	w2 := newWorld(t, "[[job]]\nname = \"a\"\ninputs = [\"missing/**\"]\nrun = \"true\"\n")
	f2, _ := Load(filepath.Join(w2.root, "jobs.toml"))
	_, err = Plan(context.Background(), Options{Root: w2.root, Jobs: f2.Jobs, Cache: w2.store, Hasher: digest.NewHasher(""), Versions: NewVersions("")})
	assert.ErrorContains(t, err, `job a: input glob "missing/**"`)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(twoJobs))
	f.Add([]byte("[[job]]\nname=1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse("fuzz.toml", b)
	})
}

// In a git work tree only files git tracks or would track count: ignored
// build output must not make a key differ from a fresh clone's.
func TestIgnoredFilesDoNotCount(t *testing.T) {
	w := newWorld(t, twoJobs)
	hermeticGit(t)
	git(t, w.root, "init", "-q")
	git(t, w.root, "add", ".")
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, ".gitignore"), []byte("src/gen.go\n"), 0o644))
	_, _, err := w.run(false)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, "src/gen.go"), []byte("package gen"), 0o644))
	outs, _, err := w.run(false)
	assert.NilError(t, err)
	assert.Equal(t, len(ran(outs)), 0, "an ignored file changed nothing")
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, "src/new.go"), []byte("package n"), 0o644))
	outs, out, err := w.run(false)
	assert.NilError(t, err)
	assert.DeepEqual(t, ran(outs), []string{"src"})
	assert.Assert(t, strings.Contains(out, "added src/new.go"), out)
}

// Every glob of every repository job matches something in this checkout:
// a required glob that matches nothing fails the whole ci:run at planning.
func TestRepositoryJobsPlan(t *testing.T) {
	t.Setenv("VANIXIETS_HOME", t.TempDir())
	f, err := Load("../../ci/jobs.toml")
	assert.NilError(t, err)
	root, err := filepath.Abs("../..")
	assert.NilError(t, err)
	ps, err := Plan(context.Background(), Options{Root: root, Jobs: f.Jobs, Cache: cache.NewLocal(t.TempDir()),
		Hasher: digest.NewHasher(""), Versions: NewVersions("")})
	assert.NilError(t, err)
	assert.Equal(t, len(ps), len(f.Jobs))
}
