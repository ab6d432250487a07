// Package ci runs the repository's CI jobs with per-job content-addressed
// caching: a job whose inputs were already validated is skipped, on any
// machine that shares the cache.
//
// Jobs are declared in one file, ci/jobs.toml. A job's key covers the path,
// mode and content of every file its globs match, the versions of the tools
// it names, the runner (distribution, release, architecture: not the kernel,
// so a laptop and GitHub Actions share results), and the job's own
// definition; a success marker is recorded under that key only when the job
// succeeds. This fixes what the older shell scheme missed: a rename or chmod
// now changes the key, as do a new toolchain or runner image, and hashing is
// one process with a stat cache instead of one process per file.
//
// A skip is only safe when nothing the job's commands look at lies outside
// its key. The runner hands each job the exact list of its key's files
// ($VANIXIETS_JOB_INPUTS), refuses jobs that list files on their own, marks
// a marker's commit +dirty when any input differs from HEAD, and says where
// a hit came from and what changed on a miss (docs/ci.md).
package ci

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vanixiets/vanixiets/tasks/dag"
)

// Job is one CI job.
type Job struct {
	Name        string   `toml:"name" json:"name"`
	Description string   `toml:"description" json:"description,omitempty"`
	Inputs      []string `toml:"inputs" json:"inputs"`
	// Optional globs enter the key like inputs but may match nothing: a
	// folder a fleet may or may not have (pkgs/by-name). Every glob in
	// Inputs must match something, so a typo there is an error, not a key
	// that silently covers less.
	Optional []string `toml:"optional" json:"optional,omitempty"`
	Exclude  []string `toml:"exclude" json:"exclude,omitempty"`
	Tools    []string `toml:"tools" json:"tools,omitempty"`
	Run      string   `toml:"run" json:"run"`
	Needs    []string `toml:"needs" json:"needs,omitempty"`
	Timeout  string   `toml:"timeout" json:"timeout,omitempty"`
	Env      []string `toml:"env" json:"env,omitempty"`
	// Exclusive jobs run alone: nothing else runs beside them.
	Exclusive bool `toml:"exclusive" json:"exclusive,omitempty"`
	// Setup names the parts of scripts/setup.sh (SETUP_PARTS) the job's
	// commands need beyond its tools, for the generated GitHub workflow,
	// which installs only those after the key said the job must run. It is
	// not in the key, like Description: a laptop with every part installed
	// and a runner with just these compute the same key for the same tree.
	Setup []string `toml:"setup" json:"setup,omitempty"`
}

// File is a parsed jobs file.
type File struct {
	Path string
	Jobs []Job `toml:"job"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// listsFilesItself matches commands that enumerate the repository's files on
// their own. Such a list and the key's (tracked plus untracked, not ignored,
// matched by the job's globs) drift apart: that is how lint once skipped a
// gofmt failure in an untracked file. Jobs read $VANIXIETS_JOB_INPUTS.
var listsFilesItself = regexp.MustCompile(`\bgit\s+(ls-files|ls-tree|diff\s+--name-only)\b`)

// Definition is the job's own definition as it enters the key: everything
// but the description.
func (j Job) Definition() string {
	d := j
	d.Description = ""
	h := sha256.New()
	fmt.Fprintf(h, "%q", d.Name)
	for _, part := range [][]string{d.Inputs, d.Exclude, d.Tools, d.Needs, d.Env} {
		fmt.Fprintf(h, "|%q", part)
	}
	if len(d.Optional) > 0 { // only when used, so existing keys stay as they were
		fmt.Fprintf(h, "|optional%q", d.Optional)
	}
	fmt.Fprintf(h, "|%q|%q|%v", d.Run, d.Timeout, d.Exclusive)
	return hex.EncodeToString(h.Sum(nil))
}

// TimeoutOr returns the job's timeout, or def.
func (j Job) TimeoutOr(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(j.Timeout); err == nil && d > 0 {
		return d
	}
	return def
}

// Load reads and validates a jobs file. Syntax errors carry line and column.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read jobs file: %w", err)
	}
	return Parse(path, b)
}

// Parse parses jobs file content; path is used in messages.
func Parse(path string, b []byte) (*File, error) {
	var f File
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown key %q (known: name, description, inputs, optional, exclude, tools, run, needs, timeout, env, exclusive, setup)", path, und[0].String())
	}
	f.Path = path
	return &f, f.Validate()
}

// Validate checks names, tools, required fields, dependencies and cycles.
func (f *File) Validate() error {
	if len(f.Jobs) == 0 {
		return fmt.Errorf("%s: no [[job]] defined", f.Path)
	}
	seen := map[string]bool{}
	for i, j := range f.Jobs {
		where := fmt.Sprintf("%s: job %d (%q)", f.Path, i+1, j.Name)
		switch {
		case !nameRE.MatchString(j.Name):
			return fmt.Errorf("%s: name must be lower-case letters, digits and dashes", where)
		case seen[j.Name]:
			return fmt.Errorf("%s: duplicate job name", where)
		case strings.TrimSpace(j.Run) == "":
			return fmt.Errorf("%s: run is empty: give the command the job runs", where)
		case len(j.Inputs) == 0:
			return fmt.Errorf("%s: inputs is empty: a job without inputs would be cached forever", where)
		case listsFilesItself.MatchString(j.Run):
			return fmt.Errorf("%s: run lists files itself (%q), so it could check files other than the ones its key was made from: read the job's inputs from $%s instead (one path a line)", where, listsFilesItself.FindString(j.Run), InputsEnv)
		}
		if j.Timeout != "" {
			if _, err := time.ParseDuration(j.Timeout); err != nil {
				return fmt.Errorf("%s: timeout %q: %v", where, j.Timeout, err)
			}
		}
		for _, t := range j.Tools {
			if _, ok := knownTools[t]; !ok {
				return fmt.Errorf("%s: unknown tool %q (known: %s)", where, t, strings.Join(ToolNames(), ", "))
			}
		}
		for _, p := range j.Setup {
			if !nameRE.MatchString(p) {
				return fmt.Errorf("%s: setup part %q: want the name of a scripts/setup.sh part (scripts/install-<part>.sh, or lab)", where, p)
			}
		}
		for _, e := range j.Env {
			if !strings.Contains(e, "=") {
				return fmt.Errorf("%s: env entry %q: want NAME=value", where, e)
			}
		}
		seen[j.Name] = true
	}
	for _, j := range f.Jobs {
		for _, n := range j.Needs {
			if !seen[n] {
				return fmt.Errorf("%s: job %q needs unknown job %q", f.Path, j.Name, n)
			}
		}
	}
	return f.checkCycles()
}

func (f *File) checkCycles() error {
	needs := map[string][]string{}
	names := make([]string, 0, len(f.Jobs))
	for _, j := range f.Jobs {
		needs[j.Name] = j.Needs
		names = append(names, j.Name)
	}
	if c := dag.Cycle(names, func(n string) []string { return needs[n] }); c != nil {
		return fmt.Errorf("%s: cycle between jobs: %s", f.Path, strings.Join(c, " -> "))
	}
	return nil
}

// Select returns the named jobs (all when names is empty), plus the jobs
// they need, in file order. An unknown name lists the known ones.
func (f *File) Select(names []string) ([]Job, error) {
	if len(names) == 0 {
		return f.Jobs, nil
	}
	by := map[string]Job{}
	for _, j := range f.Jobs {
		by[j.Name] = j
	}
	want := map[string]bool{}
	var add func(string) error
	add = func(n string) error {
		j, ok := by[n]
		if !ok {
			known := slices.Sorted(maps.Keys(by))
			return fmt.Errorf("unknown CI job %q (known: %s)", n, strings.Join(known, ", "))
		}
		if want[n] {
			return nil
		}
		want[n] = true
		for _, d := range j.Needs {
			if err := add(d); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n); err != nil {
			return nil, err
		}
	}
	var out []Job
	for _, j := range f.Jobs {
		if want[j.Name] {
			out = append(out, j)
		}
	}
	return out, nil
}
