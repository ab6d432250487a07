package ci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// Def is the version of the key recipe itself; bumping it invalidates every
// marker.
const Def = "ci-v1"

// Options configure a run.
type Options struct {
	Root     string      // repository root
	Jobs     []Job       // selected jobs
	Cache    cache.Store // where markers live
	Hasher   *digest.Hasher
	Versions *Versions
	Force    bool   // run every job even on a hit
	Parallel int    // jobs at once (exclusive jobs run alone)
	LogDir   string // where each job's full output is kept
	Out      io.Writer
	// Stream copies a running job's output to Out as well as its log.
	Stream bool
	// AllFiles hashes ignored files too; by default only files git tracks
	// or would track count, so a fresh clone computes the same keys.
	AllFiles bool

	keep func(string) bool
}

// gitCmd is git in root with the repository's own ignore rules only
// (.gitignore files, .git/info/exclude): a user's global excludes file would
// hide an untracked file from the key while the job's commands (go vet, a
// test reading a directory) still see it, and would make this machine's
// keys differ from another's for the same tree.
//
// The checkout is also marked safe for these calls (safe.directory): a clone
// owned by another user (a CI checkout, a container's bind mount) otherwise
// makes git refuse, and the run would fail on a machine-local setting. The
// runner executes the checkout's own job commands anyway, so trusting its
// git config adds nothing an attacker did not already have.
func gitCmd(ctx context.Context, root string, args ...string) *exec.Cmd {
	abs, err := filepath.Abs(root)
	if err != nil {
		abs = root
	}
	pre := []string{"-C", root, "-c", "core.excludesFile=" + os.DevNull, "-c", "safe.directory=" + abs}
	return exec.CommandContext(ctx, "git", append(pre, args...)...)
}

// gitKeep returns the filter of files git tracks or would track (not
// ignored), from one `git ls-files` call; nil outside a git work tree or
// with AllFiles.
func gitKeep(ctx context.Context, o Options) (func(string) bool, error) {
	if o.AllFiles {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(o.Root, ".git")); err != nil {
		return nil, nil
	}
	out, err := gitCmd(ctx, o.Root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		msg := err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("list the files git tracks in %s (job keys count them): %s; check `git -C %s status` works there", o.Root, msg, o.Root)
	}
	set := map[string]bool{}
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			set[p] = true
		}
	}
	return func(rel string) bool { return set[rel] }, nil
}

// Marker is what a successful job records under its key.
type Marker struct {
	Job      string            `json:"job"`
	Key      string            `json:"key"`
	Commit   string            `json:"commit"`
	Time     string            `json:"time"`
	Duration string            `json:"duration"`
	Host     string            `json:"host"`
	Inputs   map[string]string `json:"inputs"` // path -> mode:digest, to explain a later miss
}

// Planned is a job with its key and what the cache says about it.
type Planned struct {
	Job      Job
	Key      string
	Files    digest.Manifest
	Tools    map[string]string
	Runner   string
	Needs    map[string]string // needed job -> its key, as it entered this key
	Hit      bool
	Origin   string // where a hit came from: cache.OriginLocal or the remote's address
	Reason   string // why it runs, or where and when it was validated
	Previous *Seen  // what this checkout last saw of the job (nil: never)
}

// ShortKey is the key as printed: job-result-<job>-<first 12 hex>.
func (p Planned) ShortKey() string { return fmt.Sprintf("job-result-%s-%s", p.Job.Name, p.Key[:12]) }

// Plan computes every selected job's key and looks it up: the engine's
// own plan (pipeline.Pipeline.Plan) over the jobs as steps (jobSteps), so
// a job's key, its files and the get of its marker are the engine's.
func Plan(ctx context.Context, o Options) ([]Planned, error) {
	_, planned, err := plan(ctx, &o, nil)
	return planned, err
}

// plan builds the jobs' pipeline (run gives each job's Run; nil: planning
// only) and plans it.
func plan(ctx context.Context, o *Options, run func(i int) func(context.Context, pipeline.Input) (pipeline.Outputs, error)) (*pipeline.Pipeline, []Planned, error) {
	runner := Runner()
	keep, err := gitKeep(ctx, *o)
	if err != nil {
		return nil, nil, err
	}
	o.keep = keep
	selected := map[string]bool{}
	for _, j := range o.Jobs {
		selected[j.Name] = true
	}
	for _, j := range o.Jobs {
		for _, n := range j.Needs {
			if !selected[n] {
				return nil, nil, fmt.Errorf("job %s needs %s, which is not selected", j.Name, n)
			}
		}
	}
	tools := make([]map[string]string, len(o.Jobs))
	errs := make([]error, len(o.Jobs))
	var wg sync.WaitGroup
	for i, j := range o.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tools[i], errs[i] = toolsOf(ctx, *o, j)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	steps := make([]*pipeline.Step, len(o.Jobs))
	for i, j := range o.Jobs {
		steps[i] = stepFor(j, o.Root, tools[i], runner)
		steps[i].Keep = o.keep
		if run != nil {
			steps[i].Run = run(i)
		}
	}
	pl := &pipeline.Pipeline{Steps: steps, Cache: o.Cache, Hasher: o.Hasher, Force: o.Force}
	ps, err := pl.Plan(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Planned, len(o.Jobs))
	for i, j := range o.Jobs {
		if ps[i].Err != nil {
			errs[i] = fmt.Errorf("job %s: %w", j.Name, ps[i].Err)
			continue
		}
		p := Planned{Job: j, Key: ps[i].Key, Files: ps[i].Files, Tools: tools[i], Runner: runner, Hit: ps[i].Hit, Origin: ps[i].Origin}
		for _, n := range j.Needs {
			if p.Needs == nil {
				p.Needs = map[string]string{}
			}
			p.Needs[n] = ps[slices.IndexFunc(o.Jobs, func(x Job) bool { return x.Name == n })].Key
		}
		p.Previous = lastSeen(o.Root, j.Name)
		switch {
		case o.Force:
			p.Reason = "forced"
		case p.Hit:
			m := markerOf(ps[i].Outputs)
			where := "local"
			if p.Origin != cache.OriginLocal {
				where = "remote " + p.Origin
			}
			p.Reason = fmt.Sprintf("validated at %s on %s (%s)", m.Commit, m.Host, where)
		default:
			p.Reason = whyRun(p.Previous, &p)
		}
		out[i] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	o.Versions.Save()
	return pl, out, nil
}

// notRun is a planned job's Run: Plan runs nothing.
func notRun(context.Context, pipeline.Input) (pipeline.Outputs, error) {
	return nil, errors.New("ci: a planned job is not run")
}

// stepFor is a job as a step of the engine. Its outputs are its marker, a
// report (KeyOnly: a dependent's key takes the job's key alone), and a
// marker counts only when it names the key it was recorded under (Verify).
func stepFor(j Job, root string, tools map[string]string, runner string) *pipeline.Step {
	params := map[string]string{"definition": j.Definition(), "runner": runner}
	return &pipeline.Step{Name: j.Name, Def: Def, Root: root, Files: j.Inputs, Optional: j.Optional, Exclude: j.Exclude, Required: true,
		Params: params, Tools: tools, Deps: j.Needs, KeyOnly: true, Run: notRun,
		Verify: func(_ context.Context, in pipeline.Input, rec pipeline.Outputs) (bool, error) {
			return markerOf(rec).Key == in.Key, nil
		}}
}

func toolsOf(ctx context.Context, o Options, j Job) (map[string]string, error) {
	tools := map[string]string{}
	for _, t := range j.Tools {
		v, err := o.Versions.Of(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.Name, err)
		}
		tools[t] = v
	}
	return tools, nil
}

// outputs is the marker as the job's step records it.
func (m Marker) outputs() pipeline.Outputs {
	in, _ := json.Marshal(m.Inputs)
	return pipeline.Outputs{"job": m.Job, "key": m.Key, "commit": m.Commit, "time": m.Time, "duration": m.Duration, "host": m.Host, "inputs": string(in)}
}

// markerOf reads a marker back from a job step's recorded outputs.
func markerOf(o pipeline.Outputs) Marker {
	m := Marker{Job: o["job"], Key: o["key"], Commit: o["commit"], Time: o["time"], Duration: o["duration"], Host: o["host"]}
	_ = json.Unmarshal([]byte(o["inputs"]), &m.Inputs)
	return m
}

// MarkerOf reads the marker a job's success recorded (the cache's bytes
// under its key); ok is false for bytes that are no step record.
func MarkerOf(b []byte) (Marker, bool) {
	o, _, ok := pipeline.DecodeRecord(b)
	if !ok {
		return Marker{}, false
	}
	return markerOf(o), true
}

func inputsOf(m digest.Manifest) map[string]string {
	out := make(map[string]string, len(m.Files))
	for _, f := range m.Files {
		out[f.Path] = fmt.Sprintf("%o:%s", uint32(f.Mode), f.Hex())
	}
	return out
}

// diffInputs names what changed between two input sets, briefly.
func diffInputs(old, cur map[string]string) string {
	var changed, added, removed []string
	for p, v := range cur {
		if o, ok := old[p]; !ok {
			added = append(added, p)
		} else if o != v {
			if strings.SplitN(o, ":", 2)[0] != strings.SplitN(v, ":", 2)[0] {
				changed = append(changed, p+" (mode)")
			} else {
				changed = append(changed, p)
			}
		}
	}
	for p := range old {
		if _, ok := cur[p]; !ok {
			removed = append(removed, p)
		}
	}
	var parts []string
	for _, g := range []struct {
		what string
		xs   []string
	}{{"changed", changed}, {"added", added}, {"removed", removed}} {
		if len(g.xs) == 0 {
			continue
		}
		sort.Strings(g.xs)
		s := g.what + " " + g.xs[0]
		if len(g.xs) > 1 {
			s += fmt.Sprintf(" (+%d more)", len(g.xs)-1)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// Seen is what a checkout last saw of a job: its key and everything the key
// was made from, and how that run ended. It is kept per checkout and job
// (under $VANIXIETS_HOME/ci/seen), written whenever a run plans the job, so
// that the next miss can say what changed since, rather than only that
// there is no entry: "no entry for this key" is reserved for the case where
// the key is the one last seen (the last run failed, was interrupted, or the
// cache lost the entry).
type Seen struct {
	Job        string            `json:"job"`
	Key        string            `json:"key"`
	Recipe     string            `json:"recipe"` // Def: the key recipe's version
	Definition string            `json:"definition"`
	Runner     string            `json:"runner"`
	Tools      map[string]string `json:"tools"`
	Needs      map[string]string `json:"needs,omitempty"`
	Inputs     map[string]string `json:"inputs"` // path -> mode:digest
	Result     string            `json:"result"` // passed, failed, skipped (hit), not run
}

func seenOf(p Planned, result string) Seen {
	return Seen{Job: p.Job.Name, Key: p.Key, Recipe: Def, Definition: p.Job.Definition(), Runner: p.Runner,
		Tools: p.Tools, Needs: p.Needs, Inputs: inputsOf(p.Files), Result: result}
}

// seenDir is the folder of one checkout's last-seen records: two clones on
// one machine do not explain their misses against each other.
func seenDir(root string) string {
	abs, _ := filepath.Abs(root)
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(paths.Home(), "ci", "seen", hex.EncodeToString(sum[:6]))
}

func lastSeen(root, job string) *Seen {
	b, err := os.ReadFile(filepath.Join(seenDir(root), job+".json"))
	if err != nil {
		return nil
	}
	var s Seen
	if json.Unmarshal(b, &s) != nil || s.Key == "" {
		return nil
	}
	return &s
}

// recordSeen writes the job's last-seen record when it changed.
func recordSeen(root string, s Seen, prev *Seen) error {
	b, _ := json.Marshal(s)
	if prev != nil {
		if old, _ := json.Marshal(prev); bytes.Equal(old, b) {
			return nil
		}
	}
	return fsutil.WriteFile(filepath.Join(seenDir(root), s.Job+".json"), b, 0o644)
}

// whyRun says why a job with no success marker under its key runs: what
// changed since the key this checkout last saw, or, when the key is that
// same one, that there is no entry for it (and how its last run ended).
func whyRun(prev *Seen, p *Planned) string {
	if prev == nil {
		return "first run of this job in this checkout (no earlier key to compare with)"
	}
	if prev.Key == p.Key {
		if prev.Result == "" || prev.Result == "passed" || prev.Result == "skipped" {
			return "no entry for this key (it passed before: the cache lost the entry)"
		}
		return "no entry for this key (its last run " + prev.Result + ")"
	}
	var parts []string
	if d := diffInputs(prev.Inputs, inputsOf(p.Files)); d != "" {
		parts = append(parts, d)
	}
	for _, t := range sortedKeys(prev.Tools, p.Tools) {
		was, now := prev.Tools[t], p.Tools[t]
		switch {
		case was == now:
		case was == "":
			parts = append(parts, fmt.Sprintf("tool %s added (%s)", t, now))
		case now == "":
			parts = append(parts, fmt.Sprintf("tool %s removed", t))
		default:
			parts = append(parts, fmt.Sprintf("tool %s version changed (%s -> %s)", t, was, now))
		}
	}
	if prev.Definition != p.Job.Definition() {
		parts = append(parts, "job definition changed (ci/jobs.toml)")
	}
	if prev.Runner != p.Runner {
		parts = append(parts, fmt.Sprintf("runner changed (%s -> %s)", prev.Runner, p.Runner))
	}
	for _, n := range sortedKeys(prev.Needs, p.Needs) {
		if prev.Needs[n] != p.Needs[n] {
			parts = append(parts, "needed job "+n+" changed")
		}
	}
	if prev.Recipe != Def {
		parts = append(parts, fmt.Sprintf("key recipe changed (%s -> %s)", prev.Recipe, Def))
	}
	if len(parts) == 0 {
		return "key changed since the last run here"
	}
	return strings.Join(parts, "; ")
}

// sortedKeys is the keys of a and b, each once, in order.
func sortedKeys(a, b map[string]string) []string {
	keys := append(slices.Collect(maps.Keys(a)), slices.Collect(maps.Keys(b))...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Outcome is one job's result in a run.
type Outcome struct {
	Planned
	Ran      bool
	Err      error
	Duration time.Duration
	Log      string
}

// Line is the one-line report for a job, in the format CI users know.
func (o Outcome) Line() string {
	verb := "RUN"
	if !o.Ran && o.Hit {
		verb = "SKIP"
	}
	return fmt.Sprintf("CI Cache | %s :: %s | %s | %s", o.Job.Name, verb, o.ShortKey(), o.Reason)
}

// Run plans the jobs, skips hits, runs misses (in dependency order, in
// parallel up to the limit) and records a marker for each success: the
// engine's Run over the planned jobs, whose get-else-run-put records the
// marker as the job step's outputs.
func Run(ctx context.Context, o Options) ([]Outcome, error) {
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(o.Root, ".work", "ci-logs")
	}
	var outcomes []Outcome
	// Jobs run side by side: their lines go to Out one at a time (outMu,
	// which the streamed output's prefixWriter holds too).
	say := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintln(o.Out, line)
	}
	commit := gitCommit(o.Root)
	host, _ := os.Hostname()
	var exclusive sync.RWMutex
	run := func(i int) func(context.Context, pipeline.Input) (pipeline.Outputs, error) {
		return func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			oc := &outcomes[i]
			p := oc.Planned
			if p.Job.Exclusive {
				exclusive.Lock()
				defer exclusive.Unlock()
			} else {
				exclusive.RLock()
				defer exclusive.RUnlock()
			}
			say(oc.Line())
			oc.Ran = true
			oc.Log = filepath.Join(o.LogDir, p.Job.Name+".log")
			t0 := time.Now()
			err := execJob(ctx, o, p, oc.Log)
			oc.Duration = time.Since(t0)
			if err != nil {
				oc.Err = err
				return nil, err
			}
			c := commit
			if c != "unknown" && inputsDirty(ctx, o.Root, p.Job) {
				c += "+dirty"
			}
			m := Marker{Job: p.Job.Name, Key: p.Key, Commit: c, Time: time.Now().UTC().Format(time.RFC3339),
				Duration: oc.Duration.Round(time.Millisecond).String(), Host: host, Inputs: inputsOf(p.Files)}
			return m.outputs(), nil
		}
	}
	pl, planned, err := plan(ctx, &o, run)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, err
	}
	outcomes = make([]Outcome, len(planned))
	byName := map[string]int{}
	for i, p := range planned {
		outcomes[i] = Outcome{Planned: p}
		byName[p.Job.Name] = i
		if p.Hit {
			say(outcomes[i].Line())
		}
	}
	pl.Parallel, pl.Grace = o.Parallel, 15*time.Second
	rs, runErr := pl.Run(ctx)
	for _, r := range rs {
		oc := &outcomes[byName[r.Name]]
		if !r.Status.OK() && oc.Err == nil {
			oc.Err = r.Err
		}
		if r.Status == pipeline.Cached && !oc.Hit { // recorded by another run since the plan
			oc.Hit, oc.Reason = true, "validated by another run while this one planned"
			say(oc.Line())
		}
	}
	for _, oc := range outcomes {
		result := "passed"
		switch {
		case oc.Hit && !oc.Ran:
			result = "skipped"
		case !oc.Ran:
			result = "did not start"
		case ctx.Err() != nil && oc.Err != nil:
			result = "was interrupted"
		case oc.Err != nil:
			result = "failed"
		}
		if err := recordSeen(o.Root, seenOf(oc.Planned, result), oc.Previous); err != nil {
			fmt.Fprintf(o.Out, "warning: remember job %s's key for the next run's explanation: %v\n", oc.Job.Name, err)
		}
	}
	return outcomes, runErr
}

// InputsEnv names the file, exported to every job's commands, that lists
// the job's inputs: the exact files its key was made from, one path per
// line, relative to the repository root. Commands that check files one by
// one (gofmt, shellcheck, ...) read their list from it instead of asking
// git or find, so they check precisely what the key covers: a file the key
// counts cannot escape the check, and a file the check reads cannot change
// without changing the key.
const InputsEnv = "VANIXIETS_JOB_INPUTS"

// execJob runs one job's command with bash in the repository root, its
// output written in full to logPath (and streamed when asked), with
// $VANIXIETS_JOB_INPUTS listing its inputs (in a private temp dir removed
// afterwards). On cancellation the job's process group gets SIGINT, then
// SIGKILL after a grace period.
func execJob(ctx context.Context, o Options, p Planned, logPath string) error {
	j := p.Job
	ctx, cancel := context.WithTimeout(ctx, j.TimeoutOr(60*time.Minute))
	defer cancel()
	list, cleanup, err := writeInputs(p.Files)
	if err != nil {
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	defer cleanup()
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", j.Run)
	cmd.Dir = o.Root
	cmd.Env = append(append(os.Environ(), InputsEnv+"="+list), j.Env...)
	var w io.Writer = logf
	if o.Stream {
		w = io.MultiWriter(logf, prefixWriter(o.Out, j.Name))
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 15 * time.Second
	err = cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // nothing of the job outlives it
	}
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("job %s timed out after %s (log: %s)", j.Name, j.TimeoutOr(60*time.Minute), logPath)
	}
	if err != nil {
		return fmt.Errorf("job %s failed: %v (full log: %s)", j.Name, err, logPath)
	}
	return nil
}

// writeInputs writes the manifest's paths, one a line, into a new private
// temp dir; cleanup removes the dir.
func writeInputs(m digest.Manifest) (string, func(), error) {
	var b strings.Builder
	for _, f := range m.Files {
		if strings.ContainsAny(f.Path, "\n\r") {
			return "", nil, fmt.Errorf("input %q has a line break in its name, which the one-path-a-line list of %s cannot carry: rename it", f.Path, InputsEnv)
		}
		b.WriteString(f.Path)
		b.WriteByte('\n')
	}
	dir, err := os.MkdirTemp("", "vanixiets-ci-inputs-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "inputs")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// gitCommit is HEAD's short hash, "unknown" outside a git work tree.
func gitCommit(root string) string {
	out, err := gitCmd(context.Background(), root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// inputsDirty reports whether any of the job's inputs differs from HEAD:
// modified, staged, deleted, or untracked but not ignored (the key counts
// those too, so a marker made with them was not made from the commit
// alone). It asks git about the job's own globs as pathspecs, so changes to
// files outside its inputs leave its marker clean. When git cannot answer
// the marker says dirty: a clean claim must be earned.
func inputsDirty(ctx context.Context, root string, j Job) bool {
	args := []string{"status", "--porcelain", "-z", "--untracked-files=all", "--"}
	for _, g := range append(append([]string{}, j.Inputs...), j.Optional...) {
		args = append(args, ":(glob)"+g)
	}
	for _, g := range j.Exclude {
		args = append(args, ":(glob,exclude)"+g)
	}
	out, err := gitCmd(ctx, root, args...).Output()
	return err != nil || len(out) > 0
}

type linePrefixer struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	bol    bool
}

var outMu sync.Mutex

func prefixWriter(w io.Writer, name string) io.Writer {
	return &linePrefixer{mu: &outMu, w: w, prefix: "[" + name + "] ", bol: true}
}

func (l *linePrefixer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, c := range b {
		if l.bol {
			out = append(out, l.prefix...)
			l.bol = false
		}
		out = append(out, c)
		if c == '\n' {
			l.bol = true
		}
	}
	_, err := l.w.Write(out)
	return len(b), err
}
