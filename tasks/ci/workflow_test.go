package ci

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// wantStepOrder is the order of a generated job's steps: the key's tools,
// checkout and Go first (seconds), the key check next, the expensive set-up
// and the run only after it. Optional steps may be absent.
var wantStepOrder = []string{StepPackages, StepCheckout, StepGo, StepToolsCache, StepKeyTools, StepSigningKey, StepKey, StepSetup, StepRun, StepJUnit}

// checkShape asserts that w is the workflow of f: one job per CI job,
// needs mirroring the job graph, steps in wantStepOrder with the key step
// before every expensive one, and ci:run of exactly that job.
func checkShape(t *testing.T, f *File, w *Workflow) {
	t.Helper()
	var names []string
	for _, j := range f.Jobs {
		names = append(names, j.Name)
		gj, ok := w.Jobs[j.Name]
		assert.Assert(t, ok, "workflow has no job %s", j.Name)
		assert.DeepEqual(t, slices.Sorted(slices.Values(gj.Needs)), slices.Sorted(slices.Values(j.Needs)))
		assert.Equal(t, gj.Container.Image, RunnerImage)
		var ids []string
		for _, s := range gj.Steps {
			ids = append(ids, s.ID)
		}
		pos := -1
		for _, id := range ids {
			i := slices.Index(wantStepOrder, id)
			assert.Assert(t, i > pos, "job %s: step %s out of order in %v", j.Name, id, ids)
			pos = i
		}
		for _, must := range []string{StepPackages, StepCheckout, StepGo, StepKey, StepRun, StepJUnit} {
			assert.Assert(t, slices.Contains(ids, must), "job %s lacks step %s", j.Name, must)
		}
		assert.Equal(t, slices.Contains(ids, StepSetup), len(j.Setup) > 0, "job %s", j.Name)
		for _, s := range gj.Steps {
			switch s.ID {
			case StepSetup, StepRun:
				assert.Equal(t, s.If, IfMustRun, "job %s step %s", j.Name, s.ID)
			case StepJUnit:
				assert.Equal(t, s.If, IfMustRunAll)
			case StepKey:
				assert.Equal(t, s.Run, "go tool mage ci:plan --github-output "+j.Name+"\n")
			}
			if s.ID == StepRun {
				assert.Assert(t, strings.HasSuffix(strings.TrimSpace(s.Run), "go tool mage ci:run --junit .work/junit/"+j.Name+".xml "+j.Name))
			}
		}
	}
	have := slices.Sorted(maps.Keys(w.Jobs))
	slices.Sort(names)
	assert.DeepEqual(t, have, names)
}

// The committed workflow is what ci/jobs.toml generates (the workflow CI
// job runs the same check) and has the generator's shape.
func TestWorkflowCommittedIsCurrent(t *testing.T) {
	root, err := filepath.Abs("../..")
	assert.NilError(t, err)
	assert.NilError(t, CheckWorkflow(root))
	f, err := Load(filepath.Join(root, "ci", "jobs.toml"))
	assert.NilError(t, err)
	b, err := os.ReadFile(filepath.Join(root, WorkflowPath))
	assert.NilError(t, err)
	w, err := ParseWorkflow(b)
	assert.NilError(t, err)
	checkShape(t, f, w)
}

const fixtureJobs = `[[job]]
name = "build"
inputs = ["src/**"]
tools = ["go", "terraform"]
run = "true"
setup = ["nix"]

[[job]]
name = "report"
inputs = ["src/**"]
tools = ["sshd"]
needs = ["build"]
run = "true"
`

func fixtureRepo(t *testing.T, jobs string) string {
	t.Helper()
	root := t.TempDir()
	for p, body := range map[string]string{"ci/jobs.toml": jobs, "src/a.txt": "a\n", "scripts/install-nix.sh": "true\n"} {
		assert.NilError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(root, p), []byte(body), 0o644))
	}
	return root
}

// Generation, staleness and refusals, on a small jobs file.
func TestWorkflowGenerateAndStale(t *testing.T) {
	root := fixtureRepo(t, fixtureJobs)
	err := CheckWorkflow(root)
	assert.ErrorContains(t, err, ".github/workflows/ci.yaml is missing: run `go tool mage ci:workflow` and commit it")

	changed, err := WriteWorkflow(root)
	assert.NilError(t, err)
	assert.Assert(t, changed)
	changed, err = WriteWorkflow(root)
	assert.NilError(t, err)
	assert.Assert(t, !changed, "a second write with nothing changed rewrites the file")
	assert.NilError(t, CheckWorkflow(root))

	b, err := os.ReadFile(filepath.Join(root, WorkflowPath))
	assert.NilError(t, err)
	w, err := ParseWorkflow(b)
	assert.NilError(t, err)
	f, err := Parse("jobs.toml", []byte(fixtureJobs))
	assert.NilError(t, err)
	checkShape(t, f, w)

	tests := []struct {
		job                string
		packages           string
		privileged, script bool
	}{
		{"build", "ca-certificates git", false, true},
		{"report", "ca-certificates git openssh-server", true, false},
	}
	for _, tc := range tests {
		gj := w.Jobs[tc.job]
		assert.Equal(t, gj.Steps[0].Env["PACKAGES"], tc.packages, tc.job)
		assert.Equal(t, gj.Container.Options == "--privileged", tc.privileged, tc.job)
		ids := []string{}
		for _, s := range gj.Steps {
			ids = append(ids, s.ID)
		}
		assert.Equal(t, slices.Contains(ids, StepKeyTools), tc.script, tc.job)
	}

	// An edit to jobs.toml the workflow reflects (a tool, so another
	// package) makes the committed file stale; an edit to a job's commands
	// does not (they stay in jobs.toml, which ci:run reads).
	assert.NilError(t, os.WriteFile(filepath.Join(root, "ci/jobs.toml"), []byte(strings.Replace(fixtureJobs, `run = "true"`, `run = "echo changed"`, 1)), 0o644))
	assert.NilError(t, CheckWorkflow(root))
	assert.NilError(t, os.WriteFile(filepath.Join(root, "ci/jobs.toml"), []byte(strings.Replace(fixtureJobs, `["sshd"]`, `["age"]`, 1)), 0o644))
	assert.ErrorContains(t, CheckWorkflow(root), "is stale (not what ci/jobs.toml generates): run `go tool mage ci:workflow` and commit it")
}

func TestWorkflowRefusesBadSetup(t *testing.T) {
	tests := []struct{ setup, want string }{
		{`["nixx"]`, `job "a": setup part "nixx" has no installer scripts/install-nixx.sh`},
		{`["Nix"]`, `setup part "Nix": want the name of a scripts/setup.sh part`},
	}
	for _, tc := range tests {
		root := fixtureRepo(t, "[[job]]\nname = \"a\"\ninputs = [\"src/**\"]\nrun = \"true\"\nsetup = "+tc.setup+"\n")
		_, err := WriteWorkflow(root)
		assert.ErrorContains(t, err, tc.want)
	}
}

// actionlintBin is the actionlint scripts/install-actionlint.sh builds; the
// test runs the script itself when it is missing (it is idempotent).
func actionlintBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(paths.Tools(), "bin", "actionlint")
	if _, err := os.Stat(bin); err != nil {
		out, err := exec.Command("bash", "../../scripts/install-actionlint.sh").CombinedOutput()
		assert.NilError(t, err, "scripts/install-actionlint.sh:\n%s", out)
	}
	return bin
}

// actionlint passes the committed workflow and the fixture's (with needs,
// a tools cache and a privileged container), and fails a broken one, so the
// lint really runs: expressions, needs, action inputs.
func TestWorkflowActionlint(t *testing.T) {
	bin := actionlintBin(t)
	root, err := filepath.Abs("../..")
	assert.NilError(t, err)
	fix := fixtureRepo(t, fixtureJobs)
	_, err = WriteWorkflow(fix)
	assert.NilError(t, err)
	good, err := os.ReadFile(filepath.Join(fix, WorkflowPath))
	assert.NilError(t, err)

	tests := []struct {
		name, file, body string
		want             string // "" passes
	}{
		{name: "committed", file: filepath.Join(root, WorkflowPath)},
		{name: "fixture", body: string(good)},
		{name: "unknown needs", body: strings.Replace(string(good), "- build", "- biuld", 1), want: `"biuld"`},
		{name: "bad step output", body: strings.Replace(string(good), "steps.key.outputs.skip", "steps.kee.outputs.skip", 1), want: "kee"},
		{name: "bad action input", body: strings.Replace(string(good), "go-version-file:", "go-versoin-file:", 1), want: "go-versoin-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = filepath.Join(t.TempDir(), "ci.yaml")
				assert.NilError(t, os.WriteFile(file, []byte(tc.body), 0o644))
			}
			out, err := exec.Command(bin, "-no-color", file).CombinedOutput()
			if tc.want == "" {
				assert.NilError(t, err, "actionlint:\n%s", out)
				return
			}
			assert.Assert(t, err != nil, "actionlint passed a broken workflow")
			assert.Check(t, is.Contains(string(out), tc.want))
		})
	}
}

// What enters the key of the runner: distribution and major release, OS
// and architecture; not the kernel, not the point release.
func TestRunnerFacts(t *testing.T) {
	tests := []struct {
		osRelease string
		want      []string
	}{
		{"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n", []string{"ID=debian", `VERSION_ID="12"`}},
		{"ID=ubuntu\nVERSION_ID=\"24.04\"\n", []string{"ID=ubuntu", `VERSION_ID="24.04"`}},
		{"ID_LIKE=debian\nNAME=x\n", nil},
		{"", nil},
	}
	for _, tc := range tests {
		assert.DeepEqual(t, osRelease(tc.osRelease), tc.want)
	}
	r := Runner()
	assert.Check(t, !strings.Contains(r, "kernel="), r)
	assert.Check(t, !strings.Contains(r, "debian="), r)
	assert.Check(t, is.Contains(r, "arch="))
}
