package ci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	out, err := exec.CommandContext(ctx, "git", "-C", o.Root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil, fmt.Errorf("list files git tracks in %s: %v", o.Root, err)
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
	Hit      bool
	Reason   string // why it runs (or "cached")
	Previous *Marker
}

// ShortKey is the key as printed: job-result-<job>-<first 12 hex>.
func (p Planned) ShortKey() string { return fmt.Sprintf("job-result-%s-%s", p.Job.Name, p.Key[:12]) }

// Plan computes every selected job's key and looks it up.
func Plan(ctx context.Context, o Options) ([]Planned, error) {
	runner := Runner()
	keep, err := gitKeep(ctx, o)
	if err != nil {
		return nil, err
	}
	o.keep = keep
	out := make([]Planned, len(o.Jobs))
	errs := make([]error, len(o.Jobs))
	var wg sync.WaitGroup
	for i, j := range o.Jobs {
		wg.Add(1)
		go func(i int, j Job) {
			defer wg.Done()
			out[i], errs[i] = plan1(ctx, o, j, runner)
		}(i, j)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Keys of needed jobs feed their dependents', so a dependent is never
	// a hit on top of a dependency that changed.
	byName := map[string]*Planned{}
	for i := range out {
		byName[out[i].Job.Name] = &out[i]
	}
	for i := range out {
		p := &out[i]
		if len(p.Job.Needs) == 0 {
			continue
		}
		if err := finishKey(ctx, o, p, byName); err != nil {
			return nil, err
		}
	}
	o.Versions.Save()
	o.Hasher.Save()
	return out, nil
}

func stepFor(j Job, root string, tools map[string]string, runner string) *pipeline.Step {
	params := map[string]string{"definition": j.Definition(), "runner": runner}
	return &pipeline.Step{Name: j.Name, Def: Def, Root: root, Files: j.Inputs, Exclude: j.Exclude, Required: true, Params: params, Tools: tools}
}

func plan1(ctx context.Context, o Options, j Job, runner string) (Planned, error) {
	tools := map[string]string{}
	for _, t := range j.Tools {
		v, err := o.Versions.Of(ctx, t)
		if err != nil {
			return Planned{}, fmt.Errorf("job %s: %w", j.Name, err)
		}
		tools[t] = v
	}
	files, err := o.Hasher.Glob(digest.Spec{Root: o.Root, Patterns: j.Inputs, Exclude: j.Exclude, Required: true, Keep: o.keep})
	if err != nil {
		return Planned{}, fmt.Errorf("job %s: %w", j.Name, err)
	}
	p := Planned{Job: j, Files: files, Tools: tools, Runner: runner}
	if len(j.Needs) == 0 {
		p.Key = pipeline.StepKey(stepFor(j, o.Root, tools, runner), files, nil)
		return p, lookup(ctx, o, &p)
	}
	return p, nil
}

func finishKey(ctx context.Context, o Options, p *Planned, by map[string]*Planned) error {
	if p.Key != "" {
		return nil
	}
	deps := map[string]pipeline.Result{}
	for _, n := range p.Job.Needs {
		d := by[n]
		if d == nil {
			return fmt.Errorf("job %s needs %s, which is not selected", p.Job.Name, n)
		}
		if err := finishKey(ctx, o, d, by); err != nil {
			return err
		}
		deps[n] = pipeline.Result{Key: d.Key}
	}
	p.Key = pipeline.StepKey(stepFor(p.Job, o.Root, p.Tools, p.Runner), p.Files, deps)
	return lookup(ctx, o, p)
}

func lookup(ctx context.Context, o Options, p *Planned) error {
	prev := lastMarker(p.Job.Name)
	p.Previous = prev
	if o.Force {
		p.Reason = "forced"
		return nil
	}
	b, ok, err := o.Cache.Get(ctx, p.Key)
	if err != nil {
		return fmt.Errorf("job %s: %w", p.Job.Name, err)
	}
	var m Marker
	if ok && json.Unmarshal(b, &m) == nil && m.Key == p.Key {
		p.Hit, p.Reason = true, fmt.Sprintf("validated at %s on %s", m.Commit, m.Host)
		return nil
	}
	p.Reason = "no entry for this key"
	if prev != nil {
		if why := diffInputs(prev.Inputs, inputsOf(p.Files)); why != "" {
			p.Reason = why
		} else {
			p.Reason = "no entry for this key (tools, runner, job definition or a needed job changed)"
		}
	}
	return nil
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

func lastDir() string { return filepath.Join(paths.Home(), "ci", "last") }

// lastMarker is the marker of the job's last success on this machine, used
// only to explain a miss.
func lastMarker(job string) *Marker {
	b, err := os.ReadFile(filepath.Join(lastDir(), job+".json"))
	if err != nil {
		return nil
	}
	var m Marker
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return &m
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
// parallel up to the limit) and records a marker for each success.
func Run(ctx context.Context, o Options) ([]Outcome, error) {
	planned, err := Plan(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(o.Root, ".work", "ci-logs")
	}
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, err
	}
	outcomes := make([]Outcome, len(planned))
	byName := map[string]int{}
	for i, p := range planned {
		outcomes[i] = Outcome{Planned: p}
		byName[p.Job.Name] = i
		if p.Hit {
			fmt.Fprintln(o.Out, outcomes[i].Line())
		}
	}
	commit := gitCommit(o.Root)
	host, _ := os.Hostname()
	var exclusive sync.RWMutex
	var steps []*pipeline.Step
	for i := range planned {
		i := i
		p := planned[i]
		var deps []string
		for _, n := range p.Job.Needs {
			deps = append(deps, n)
		}
		steps = append(steps, &pipeline.Step{Name: p.Job.Name, Deps: deps, NoCache: true, Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			if p.Hit {
				return nil, nil
			}
			if p.Job.Exclusive {
				exclusive.Lock()
				defer exclusive.Unlock()
			} else {
				exclusive.RLock()
				defer exclusive.RUnlock()
			}
			oc := &outcomes[i]
			fmt.Fprintln(o.Out, oc.Line())
			oc.Ran = true
			oc.Log = filepath.Join(o.LogDir, p.Job.Name+".log")
			t0 := time.Now()
			err := execJob(ctx, o, p.Job, oc.Log)
			oc.Duration = time.Since(t0)
			if err != nil {
				oc.Err = err
				return nil, err
			}
			m := Marker{Job: p.Job.Name, Key: p.Key, Commit: commit, Time: time.Now().UTC().Format(time.RFC3339),
				Duration: oc.Duration.Round(time.Millisecond).String(), Host: host, Inputs: inputsOf(p.Files)}
			b, _ := json.Marshal(m)
			if err := o.Cache.Put(ctx, p.Key, b); err != nil {
				oc.Err = fmt.Errorf("record success marker: %w", err)
				return nil, oc.Err
			}
			fsutil.WriteFile(filepath.Join(lastDir(), p.Job.Name+".json"), b, 0o644)
			return nil, nil
		}})
	}
	pl := &pipeline.Pipeline{Steps: steps, Parallel: o.Parallel, Grace: 15 * time.Second}
	rs, runErr := pl.Run(ctx)
	for _, r := range rs {
		oc := &outcomes[byName[r.Name]]
		if !r.Status.OK() && oc.Err == nil {
			oc.Err = r.Err
		}
	}
	return outcomes, runErr
}

// execJob runs one job's command with bash in the repository root, its
// output written in full to logPath (and streamed when asked). On
// cancellation the job's process group gets SIGINT, then SIGKILL after a
// grace period.
func execJob(ctx context.Context, o Options, j Job, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, j.TimeoutOr(60*time.Minute))
	defer cancel()
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", j.Run)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), j.Env...)
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

func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
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
