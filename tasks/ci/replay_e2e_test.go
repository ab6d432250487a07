//go:build e2e

package ci

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/cache/cachetest"
)

// The replay's jobs: small, so the replay costs seconds, but shaped like the
// real ones (inputs read from $VANIXIETS_JOB_INPUTS, a job that needs
// another, tools installed as Debian packages).
const replayJobs = `[[job]]
name = "hello"
inputs = ["src/hello/**"]
tools = ["go", "git"]
run = 'test "$(cat "$VANIXIETS_JOB_INPUTS")" = "src/hello/a.txt"'

[[job]]
name = "build"
inputs = ["src/**"]
tools = ["bash"]
run = 'while read -r f; do test -s "$f"; done < "$VANIXIETS_JOB_INPUTS"'

[[job]]
name = "report"
inputs = ["src/report/**"]
tools = ["bash"]
needs = ["build"]
run = "echo report"
`

// replayEnv is the test's environment without anything that would make a
// run differ from a fresh runner's: the suite's own settings, GitHub's.
// Go's caches stay shared (set explicitly), so a job compiles the
// magefiles from a warm build cache, as actions/setup-go's cache gives.
func replayEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "VANIXIETS_") || strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "RUNNER_") ||
			k == "HOME" || k == "CI_FORCE_RUN" || k == "XDG_CONFIG_HOME" || k == "XDG_CACHE_HOME" {
			continue
		}
		env = append(env, kv)
	}
	for _, v := range []string{"GOCACHE", "GOMODCACHE"} {
		out, err := exec.Command("go", "env", v).Output()
		assert.NilError(t, err)
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	return append(env, "GOTOOLCHAIN=local", "GOFLAGS=")
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, "%s %s in %s:\n%s", name, strings.Join(args, " "), dir, out)
	return string(out)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	assert.NilError(t, err)
	assert.NilError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	assert.NilError(t, os.WriteFile(dst, b, 0o644))
}

// replayOrigin makes the repository the replay checks out: this module's
// magefiles and the packages they compile (their Go and embedded files, as
// they are in the working tree), the replay's jobs file and inputs, and the
// workflow ci:workflow generates there, committed.
func replayOrigin(t *testing.T, root string, env []string) string {
	origin := filepath.Join(t.TempDir(), "origin")
	out := run(t, root, env, "go", "list", "-deps", "-tags", "mage",
		"-f", `{{if not .Standard}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}`, "./magefiles")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.Split(line, "|")
		rel, err := filepath.Rel(root, parts[0])
		assert.NilError(t, err)
		if strings.HasPrefix(rel, "..") {
			continue // another module's package: comes from the module cache
		}
		for _, list := range parts[1:] {
			for _, f := range strings.Split(list, ",") {
				if f != "" {
					copyFile(t, filepath.Join(parts[0], f), filepath.Join(origin, rel, f))
				}
			}
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(origin, f))
	}
	for p, body := range map[string]string{
		"ci/jobs.toml": replayJobs, "src/hello/a.txt": "hello\n", "src/b.txt": "b\n", "src/report/r.txt": "r\n", ".gitignore": ".work/\n",
	} {
		assert.NilError(t, os.MkdirAll(filepath.Join(origin, filepath.Dir(p)), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(origin, p), []byte(body), 0o644))
	}
	git := append(env, "HOME="+t.TempDir(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	run(t, origin, git, "git", "init", "-q", "-b", "main")
	run(t, origin, append(git, "HOME="+t.TempDir()), "go", "tool", "mage", "ci:workflow")
	run(t, origin, git, "git", "add", "-A")
	run(t, origin, git, "git", "commit", "-qm", "fixture")
	return origin
}

// jobRun is what the replay saw of one workflow job.
type jobRun struct {
	skip, keys string
	ran        map[string]bool   // step id -> executed
	out        map[string]string // step id -> output
	summary    string
	artifacts  []string
}

// replayer runs a generated workflow's jobs on this machine, step by step
// in the workflow's order, mapping the GitHub-only parts to local
// equivalents: the Debian 12 container is this Debian 12 host; the apt
// step checks its packages are installed (no mirror is asked);
// actions/checkout clones the origin into one workspace path, as every
// Actions job uses the same one; setup-go is the local Go (go.mod's
// version or newer); actions/cache is nothing (the tools stay on this
// machine); upload-artifact copies the file. Every job gets a fresh HOME,
// and so a fresh local cache: only the bazel-remote is shared.
type replayer struct {
	t         *testing.T
	origin    string
	workspace string
	env       []string
	vars      map[string]string
	secrets   map[string]string
}

func (r *replayer) expand(s string) string {
	r.t.Helper()
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "}}")
		assert.Assert(r.t, j > 0, "unclosed expression in %q", s)
		expr := strings.TrimSpace(s[i+3 : i+j])
		var val string
		switch {
		case strings.HasPrefix(expr, "vars."):
			val = r.vars[strings.TrimPrefix(expr, "vars.")]
		case strings.HasPrefix(expr, "secrets."):
			val = r.secrets[strings.TrimPrefix(expr, "secrets.")]
		default:
			r.t.Fatalf("the replay does not know the expression %q: map it or keep it out of run steps' env", expr)
		}
		s = s[:i] + val + s[i+j+2:]
	}
}

func readKV(t *testing.T, path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	assert.NilError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = v
		}
	}
	return out
}

func (r *replayer) runJob(wf *Workflow, name, artifacts string) jobRun {
	t := r.t
	t.Helper()
	gj := wf.Jobs[name]
	assert.Equal(t, gj.Container.Image, RunnerImage)
	assert.NilError(t, os.RemoveAll(r.workspace))
	assert.NilError(t, os.MkdirAll(r.workspace, 0o755))
	scratch := t.TempDir()
	files := map[string]string{}
	for _, f := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY"} {
		files[f] = filepath.Join(scratch, strings.ToLower(f))
	}
	env := append([]string{}, r.env...)
	env = append(env, "HOME="+filepath.Join(scratch, "home"), "RUNNER_TEMP="+filepath.Join(scratch, "tmp"),
		"GITHUB_ACTIONS=true", "CI=true", "GITHUB_WORKSPACE="+r.workspace)
	assert.NilError(t, os.MkdirAll(filepath.Join(scratch, "tmp"), 0o755))
	for k, v := range wf.Env {
		env = append(env, k+"="+r.expand(v))
	}
	for k, v := range gj.Env {
		env = append(env, k+"="+r.expand(v))
	}
	jr := jobRun{ran: map[string]bool{}, out: map[string]string{}}
	outputs := map[string]map[string]string{}
	failed := false
	for _, s := range gj.Steps {
		mustRun := outputs[StepKey]["skip"] != "true"
		var doIt bool
		switch s.If {
		case "":
			doIt = !failed
		case IfMustRun:
			doIt = !failed && mustRun
		case IfMustRunAll:
			doIt = mustRun
		case IfMayWrite:
			doIt = !failed // the replay is a push to main
		default:
			t.Fatalf("job %s step %s: the replay does not know the condition %q", name, s.ID, s.If)
		}
		if !doIt {
			continue
		}
		jr.ran[s.ID] = true
		stepEnv := append(append([]string{}, env...), "GITHUB_OUTPUT="+files["GITHUB_OUTPUT"], "GITHUB_ENV="+files["GITHUB_ENV"], "GITHUB_STEP_SUMMARY="+files["GITHUB_STEP_SUMMARY"])
		for k, v := range readKV(t, files["GITHUB_ENV"]) {
			stepEnv = append(stepEnv, k+"="+v)
		}
		for k, v := range s.Env {
			stepEnv = append(stepEnv, k+"="+r.expand(v))
		}
		os.Remove(files["GITHUB_OUTPUT"])
		switch {
		case s.ID == StepPackages:
			pkgs := strings.Fields(r.expand(s.Env["PACKAGES"]))
			assert.Assert(t, len(pkgs) > 0)
			jr.out[s.ID] = run(t, r.workspace, stepEnv, "dpkg-query", append([]string{"-W"}, pkgs...)...)
		case s.Uses == ActionCheckout:
			run(t, r.workspace, stepEnv, "git", "clone", "-q", r.origin, ".")
		case s.Uses == ActionSetupGo:
			_, err := os.Stat(filepath.Join(r.workspace, s.With["go-version-file"]))
			assert.NilError(t, err, "setup-go's go-version-file")
		case s.Uses == ActionCache:
		case s.Uses == ActionUpload:
			src := filepath.Join(r.workspace, s.With["path"])
			if _, err := os.Stat(src); err == nil {
				copyFile(t, src, filepath.Join(artifacts, s.With["name"], filepath.Base(src)))
				jr.artifacts = append(jr.artifacts, s.With["name"])
			}
		case s.Uses != "":
			t.Fatalf("job %s step %s: the replay has no local equivalent of %s", name, s.ID, s.Uses)
		default:
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
			cmd.Dir, cmd.Env = r.workspace, stepEnv
			out, err := cmd.CombinedOutput()
			jr.out[s.ID] = string(out)
			if err != nil {
				t.Logf("job %s step %s failed: %v\n%s", name, s.ID, err, out)
				failed = true
			}
		}
		outputs[s.ID] = readKV(t, files["GITHUB_OUTPUT"])
	}
	assert.Assert(t, !failed, "job %s failed", name)
	jr.skip, jr.keys = outputs[StepKey]["skip"], outputs[StepKey]["keys"]
	b, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	jr.summary = string(b)
	return jr
}

// order is the workflow's jobs in an order its needs allow.
func order(t *testing.T, wf *Workflow) []string {
	var out []string
	done := map[string]bool{}
	for len(out) < len(wf.Jobs) {
		progress := false
		for _, n := range sortedJobNames(wf) {
			if done[n] {
				continue
			}
			ready := true
			for _, d := range wf.Jobs[n].Needs {
				_, ok := wf.Jobs[d]
				assert.Assert(t, ok, "job %s needs unknown job %s", n, d)
				ready = ready && done[d]
			}
			if ready {
				done[n], progress = true, true
				out = append(out, n)
			}
		}
		assert.Assert(t, progress, "the workflow's needs have a cycle")
	}
	return out
}

func sortedJobNames(wf *Workflow) []string {
	return slices.Sorted(maps.Keys(wf.Jobs))
}

// The generated workflow's commands, replayed locally in the workflow's
// order against one bazel-remote: a job validated on a "laptop" (another
// checkout, another path, its own signing key) is skipped in the first
// pass, the others run (report's needed build a remote hit inside its
// ci:run), and the second pass, on fresh runners, skips every job in its
// key step. Run under the shared lock:
//
//	flock /tmp/vanixiets-e2e.lock go test -tags e2e ./tasks/ci -run TestWorkflowReplay -count=1
func TestWorkflowReplay(t *testing.T) {
	root, err := filepath.Abs("../..")
	assert.NilError(t, err)
	url := cachetest.BazelRemote(t, root)
	env := replayEnv(t)
	origin := replayOrigin(t, root, env)

	keys := t.TempDir()
	laptopKey, err := cache.GenerateSigningKey("laptop-1")
	assert.NilError(t, err)
	ciKey, err := cache.GenerateSigningKey("gha-1")
	assert.NilError(t, err)
	laptopKeyFile := filepath.Join(keys, "laptop.key")
	assert.NilError(t, os.WriteFile(laptopKeyFile, []byte(laptopKey.String()+"\n"), 0o600))
	trusted := laptopKey.Public().String() + " " + ciKey.Public().String()

	// The laptop: its own clone at another path, its own home.
	laptop := filepath.Join(t.TempDir(), "laptop")
	run(t, filepath.Dir(laptop), env, "git", "clone", "-q", origin, laptop)
	lenv := append(append([]string{}, env...), "HOME="+t.TempDir(), "VANIXIETS_REMOTE_CACHE="+url,
		"VANIXIETS_TRUSTED_CACHE_KEYS="+trusted, "VANIXIETS_CACHE_SIGNING_KEY="+laptopKeyFile)
	out := run(t, laptop, lenv, "go", "tool", "mage", "ci:run", "hello")
	assert.Check(t, is.Contains(out, "CI Cache | hello :: RUN"))
	lplan := run(t, laptop, lenv, "go", "tool", "mage", "ci:plan", "hello")

	b, err := os.ReadFile(filepath.Join(origin, WorkflowPath))
	assert.NilError(t, err)
	wf, err := ParseWorkflow(b)
	assert.NilError(t, err)
	f, err := Parse("jobs.toml", []byte(replayJobs))
	assert.NilError(t, err)
	checkShape(t, f, wf)

	r := &replayer{t: t, origin: origin, workspace: filepath.Join(t.TempDir(), "_work", "repo", "repo"), env: env,
		vars:    map[string]string{"VANIXIETS_REMOTE_CACHE": url, "VANIXIETS_TRUSTED_CACHE_KEYS": trusted},
		secrets: map[string]string{"VANIXIETS_CACHE_SIGNING_KEY": ciKey.String()}}
	jobs := order(t, wf)
	assert.DeepEqual(t, jobs, []string{"build", "hello", "report"})

	passes := make([]map[string]jobRun, 2)
	for pass := range passes {
		passes[pass] = map[string]jobRun{}
		artifacts := t.TempDir()
		for _, name := range jobs {
			passes[pass][name] = r.runJob(wf, name, artifacts)
		}
	}
	first, second := passes[0], passes[1]

	// Key parity: the laptop's key for hello is the one the replay computed.
	hello := first["hello"]
	assert.Equal(t, hello.skip, "true", "hello, validated on the laptop, ran in the replay:\n%s", hello.out[StepKey])
	assert.Check(t, is.Contains(lplan, "CI Cache | hello :: SKIP | "+hello.keys+" | "))
	assert.Check(t, !hello.ran[StepRun] && !hello.ran[StepJUnit], "a skipped job ran its later steps")
	assert.Check(t, is.Contains(hello.summary, "| hello | SKIP | `"+hello.keys+"` | validated at "))
	assert.Check(t, is.Contains(hello.summary, "(remote "+url+")"))

	for _, name := range []string{"build", "report"} {
		jr := first[name]
		assert.Equal(t, jr.skip, "false", name)
		assert.Check(t, jr.ran[StepSigningKey] && jr.ran[StepRun] && jr.ran[StepJUnit], name)
		assert.Check(t, is.Contains(jr.out[StepRun], fmt.Sprintf("CI Cache | %s :: RUN", name)))
		assert.Check(t, is.Contains(jr.summary, "| "+name+" | RUN | "))
		assert.DeepEqual(t, jr.artifacts, []string{"junit-" + name})
	}
	// report's key step also plans build, which build's own job validated
	// on another runner: a remote hit, which its ci:run then finds locally.
	assert.Check(t, is.Contains(first["report"].out[StepKey], "CI Cache | build :: SKIP | "+first["build"].keys+" | "))
	assert.Check(t, is.Contains(first["report"].out[StepKey], "(remote "+url+")"))
	assert.Check(t, is.Contains(first["report"].out[StepRun], "CI Cache | build :: SKIP"))

	for _, name := range jobs {
		jr := second[name]
		assert.Equal(t, jr.skip, "true", "second pass ran %s:\n%s", name, jr.out[StepKey])
		assert.Equal(t, jr.keys, first[name].keys, name)
		assert.Check(t, !jr.ran[StepRun] && !jr.ran[StepJUnit], name)
		assert.Check(t, is.Contains(jr.summary, "| "+name+" | SKIP | "))
	}
}
