package ci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

// Why a job runs, for each thing that can change its key, as whyRun words
// it from the last-seen record and the new plan. Tool versions and the
// runner cannot be changed on this machine by a test, so they are given.
func TestWhyRunNamesWhatChanged(t *testing.T) {
	job := Job{Name: "j", Inputs: []string{"src/*.go"}, Tools: []string{"go"}, Run: "true", Needs: []string{"dep"}}
	files := digest.Manifest{Files: []digest.File{{Path: "src/a.go", Mode: 0o644, Sum: [32]byte{1}}}}
	base := Planned{Job: job, Key: "k1", Files: files, Tools: map[string]string{"go": "go version go1.26.0 linux/amd64"},
		Runner: "ID=debian VERSION_ID=12 arch=amd64", Needs: map[string]string{"dep": "d1"}}
	tests := []struct {
		name   string
		prev   func(s *Seen)    // the last-seen record, from base
		cur    func(p *Planned) // the new plan, from base
		want   string           // in the reason
		reject string           // not in the reason
	}{
		{name: "same key, last run failed", prev: func(s *Seen) { s.Result = "failed" }, want: "no entry for this key (its last run failed)"},
		{name: "same key, entry lost", prev: func(s *Seen) { s.Result = "passed" }, want: "no entry for this key (it passed before"},
		{name: "file changed", cur: func(p *Planned) {
			p.Key = "k2"
			p.Files = digest.Manifest{Files: []digest.File{{Path: "src/a.go", Mode: 0o644, Sum: [32]byte{2}}}}
		}, want: "changed src/a.go", reject: "no entry for this key"},
		{name: "file added", cur: func(p *Planned) {
			p.Key = "k2"
			p.Files = digest.Manifest{Files: append(append([]digest.File{}, files.Files...), digest.File{Path: "src/b.go", Mode: 0o644})}
		}, want: "added src/b.go", reject: "no entry for this key"},
		{name: "file removed", cur: func(p *Planned) { p.Key, p.Files = "k2", digest.Manifest{} }, want: "removed src/a.go"},
		{name: "tool version", cur: func(p *Planned) {
			p.Key, p.Tools = "k2", map[string]string{"go": "go version go1.27.0 linux/amd64"}
		}, want: "tool go version changed (go version go1.26.0 linux/amd64 -> go version go1.27.0 linux/amd64)", reject: "no entry for this key"},
		{name: "definition", cur: func(p *Planned) { p.Key, p.Job.Run = "k2", "true; true" }, want: "job definition changed", reject: "no entry for this key"},
		{name: "runner", cur: func(p *Planned) { p.Key, p.Runner = "k2", "ID=debian VERSION_ID=13 arch=amd64" }, want: "runner changed (ID=debian VERSION_ID=12 arch=amd64 -> ID=debian VERSION_ID=13 arch=amd64)"},
		{name: "needed job", cur: func(p *Planned) { p.Key, p.Needs = "k2", map[string]string{"dep": "d2"} }, want: "needed job dep changed"},
		{name: "key recipe", prev: func(s *Seen) { s.Recipe = "ci-v0" }, cur: func(p *Planned) { p.Key = "k2" }, want: "key recipe changed (ci-v0 -> " + Def + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev := seenOf(base, "passed")
			if tc.prev != nil {
				tc.prev(&prev)
			}
			cur := base
			if tc.cur != nil {
				tc.cur(&cur)
			}
			got := whyRun(&prev, &cur)
			assert.Assert(t, is.Contains(got, tc.want))
			if tc.reject != "" {
				assert.Assert(t, !strings.Contains(got, tc.reject), got)
			}
		})
	}
	assert.Assert(t, is.Contains(whyRun(nil, &base), "first run of this job"))
}

// Through the runner: the last-seen record is kept per job across runs, so
// a rerun after a failure at the same key says "no entry for this key", and
// a rerun after an edit names the file, not "no entry".
func TestRunReasonsAcrossRuns(t *testing.T) {
	jobs := `
[[job]]
name = "flaky"
inputs = ["src/*.go"]
run = "test -f ok"
`
	w := newWorld(t, jobs)
	outs, out, err := w.run(false)
	assert.ErrorContains(t, err, "did not succeed")
	assert.Assert(t, is.Contains(out, "first run of this job"))
	outs, out, _ = w.run(false)
	assert.Assert(t, outs[0].Ran)
	assert.Assert(t, is.Contains(out, "| no entry for this key (its last run failed)"), out)
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, "ok"), nil, 0o644)) // not an input: same key
	outs, out, err = w.run(false)
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(out, "| no entry for this key (its last run failed)"), out)
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, "src/a.go"), []byte("package z"), 0o644))
	outs, out, err = w.run(false)
	assert.NilError(t, err)
	assert.Assert(t, outs[0].Ran)
	assert.Assert(t, is.Contains(out, "| changed src/a.go"), out)
	assert.Assert(t, !strings.Contains(out, "no entry"), out)
}

// remoteStore is a content store standing in for the shared remote: a
// second local store under a remote's name. The layering, the origin and
// the runner are the real ones; only the transport is left out.
type remoteStore struct {
	*cache.Local
	name string
}

func (r remoteStore) String() string { return r.name }

// A hit says where it came from: this machine's store, or the remote.
func TestSkipSaysWhereTheHitCameFrom(t *testing.T) {
	w := newWorld(t, twoJobs)
	remote := remoteStore{cache.NewLocal(t.TempDir()), "http://127.0.0.1:9092"}
	layered := func(local string) cache.Store {
		return &cache.Layered{Local: cache.NewLocal(local), Remote: remote, Warn: func(m string) { t.Errorf("remote warning: %s", m) }}
	}
	first := filepath.Join(t.TempDir(), "first")
	w.store = layered(first)
	_, _, err := w.run(false, "docs")
	assert.NilError(t, err)
	tests := []struct{ name, local, want string }{
		{"this machine's store", first, "(local)"},
		{"another machine's result, from the remote", filepath.Join(t.TempDir(), "second"), "(remote http://127.0.0.1:9092)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.store = layered(tc.local)
			outs, out, err := w.run(false, "docs")
			assert.NilError(t, err)
			assert.Assert(t, !outs[0].Ran)
			assert.Assert(t, is.Contains(out, "CI Cache | docs :: SKIP | job-result-docs-"))
			assert.Assert(t, strings.HasSuffix(strings.TrimSpace(out), tc.want), out)
		})
	}
}

// The user's global git excludes file does not decide what a key counts:
// an untracked input it ignores is still seen by the job's commands, so it
// still counts, as on any other machine.
func TestGlobalExcludesDoNotHideInputs(t *testing.T) {
	w := newWorld(t, twoJobs)
	gitRepo(t, w.root)
	global := filepath.Join(t.TempDir(), "ignore")
	assert.NilError(t, os.WriteFile(global, []byte("src/new.go\n"), 0o644))
	assert.NilError(t, os.WriteFile(os.Getenv("GIT_CONFIG_GLOBAL"), []byte("[core]\n\texcludesFile = "+global+"\n"), 0o644))
	_, _, err := w.run(false)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(w.root, "src/new.go"), []byte("package n"), 0o644))
	ps, err := Plan(context.Background(), Options{Root: w.root, Jobs: mustJobs(t, w), Cache: w.store, Hasher: digest.NewHasher(""), Versions: NewVersions("")})
	assert.NilError(t, err)
	assert.Assert(t, !ps[0].Hit, "src/new.go is hidden from the key by a global excludes file")
	assert.Assert(t, is.Contains(ps[0].Reason, "added src/new.go"))
}

func mustJobs(t *testing.T, w *world) []Job {
	f, err := Load(filepath.Join(w.root, "jobs.toml"))
	assert.NilError(t, err)
	return f.Jobs
}
