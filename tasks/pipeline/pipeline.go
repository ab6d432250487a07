// Package pipeline is the step engine: a graph of steps, each keyed by the
// digest of everything it declares as input, run in dependency order and in
// parallel, skipped when its key is already in the cache.
//
// A Step declares its inputs (files by glob, parameters, tool versions, and
// the steps it depends on) and a Run function. Its key is a SHA-256 over:
// the step's name and Def (its own definition: bump Def when Run changes
// meaning), sorted parameters, sorted tool versions, the manifest of its
// files (path, mode, content digest of each), and for every dependency its
// key and the digest of its outputs. Anything that can change the result
// changes the key; nothing else does.
//
// Steps whose result lives in the world (the deploy's build, terraform's
// plan, apply and provision, each vars generator) set Effect: a cache hit
// alone never skips them. Their record only tells Verify what the world
// should look like; Verify checks it and says whether there is nothing to
// do. (Activation and the closure copy are NoCache: they ask the host.)
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/dag"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

// Outputs are what a step hands to its dependents and what the cache records.
type Outputs map[string]string

// Input is what a running step receives.
type Input struct {
	Key   string             // this step's key
	Files digest.Manifest    // its hashed input files
	Deps  map[string]Outputs // outputs of the steps it depends on, by name
}

// Step is one node of the graph.
type Step struct {
	Name string
	// Def describes the step's own definition; it is part of the key, so a
	// change to what Run does must change Def (a version string is enough).
	Def      string
	Root     string   // directory Files and Exclude are relative to
	Files    []string // input globs
	Exclude  []string
	Required bool // every glob in Files must match at least one file
	// Keep, when set, is the explicit source of the step's files: only
	// the files it admits count (a flake's tracked files, a CI job's files
	// git would track). The manifest, and so the key, holds what it kept.
	Keep func(rel string) bool
	// Paths, when set, are the candidate files (relative to Root) instead
	// of a walk: the explicit file source for a set known in advance (a
	// flake's tracked files), which Files and Exclude still filter.
	Paths []string
	// Optional globs are hashed with Files but may match nothing (a CI
	// job's optional inputs).
	Optional []string
	Params   map[string]string
	Tools    map[string]string // tool name -> version string
	Deps     []string          // names of steps that run first and feed the key
	// KeyOnly says the step's outputs are a report (who validated a CI
	// job, when, from what), not a result: its dependents' keys take its
	// key alone, and their Input gets no outputs of it. So a dependent's
	// key is known before the step has run, and stays the same whoever
	// recorded the step.
	KeyOnly bool

	// Run does the step's work. Its outputs are the step's results; with
	// an error, what it returns besides says what it did before failing
	// (paths sent before a copy stalled): kept in the Result for the
	// caller's report, never recorded and never given to a dependent,
	// which does not run.
	Run func(ctx context.Context, in Input) (Outputs, error)

	// Effect marks a step that changes the world: on a key hit it still
	// runs unless Verify confirms the world already matches.
	Effect bool
	// Verify, when set, must confirm a record before a hit is taken, for
	// any step: an Effect's world still matches it, a CI job's marker
	// names its own key. An Effect without Verify always runs.
	Verify func(ctx context.Context, in Input, recorded Outputs) (bool, error)
	// NoCache runs the step every time and records nothing.
	NoCache bool
	// Group names the steps that hold one of Pipeline.Groups' slots
	// together, from the first's start to the last's end (a machine's
	// steps in a fleet deployment). Empty: no group.
	Group string
}

// Status is where a step ended.
type Status int

const (
	Pending   Status = iota
	Succeeded        // ran and succeeded
	Cached           // key hit: not run, recorded outputs returned
	Failed           // ran and failed, or its key could not be made
	Skipped          // not run because a dependency did not succeed
	Cancelled        // the run was cancelled before or while it ran
)

func (s Status) String() string {
	return [...]string{"pending", "ok", "cached", "failed", "skipped", "cancelled"}[s]
}

// OK reports whether the step's outputs are usable.
func (s Status) OK() bool { return s == Succeeded || s == Cached }

// Result is the outcome of one step.
type Result struct {
	Name     string
	Key      string
	Status   Status
	Hit      bool // key was found in the cache
	Duration time.Duration
	Outputs  Outputs
	Err      error
}

// Event reports progress; Result is set once the step has ended.
type Event struct {
	Step    string
	Started bool
	Result  *Result
}

// Pipeline is a graph of steps and how to run it.
type Pipeline struct {
	Steps    []*Step
	Cache    cache.Store    // nil: nothing is cached
	Hasher   *digest.Hasher // nil: digest.Default()
	Parallel int            // steps running at once; <= 0 means 4
	// Groups is how many groups of steps (Step.Group) may be in flight
	// at once; <= 0: no limit. Steps without a group are not counted.
	Groups int
	// Grace is how long running steps get to return after cancellation
	// before Run gives up on them; <= 0 means 10 s.
	Grace   time.Duration
	OnEvent func(Event)
	// Force runs every step even on a key hit, and still records results.
	Force bool
	// Done holds results of steps this process ran already, by name: a
	// step named here with a usable result is neither keyed, looked up
	// nor run again; that result (its key included, so its dependents'
	// keys are what they would be) is taken as is. A deployment
	// evaluates its fleet before it knows its graph, then hands that
	// evaluation to the graph instead of asking the cache a second time.
	Done map[string]Result

	// planned holds the manifests the last Plan hashed, by step: a Run
	// after a Plan keys from them instead of hashing the files again.
	planned map[string]digest.Manifest
}

// Validate checks the graph: unique names, known dependencies, no cycle.
func (p *Pipeline) Validate() error {
	byName := map[string]*Step{}
	for _, s := range p.Steps {
		if s.Name == "" {
			return errors.New("pipeline: a step has no name")
		}
		if _, dup := byName[s.Name]; dup {
			return fmt.Errorf("pipeline: two steps are named %q", s.Name)
		}
		if s.Run == nil {
			return fmt.Errorf("pipeline: step %q has no Run function", s.Name)
		}
		byName[s.Name] = s
	}
	for _, s := range p.Steps {
		for _, d := range s.Deps {
			if _, ok := byName[d]; !ok {
				return fmt.Errorf("pipeline: step %q depends on unknown step %q", s.Name, d)
			}
		}
	}
	names := slices.Sorted(maps.Keys(byName))
	if c := dag.Cycle(names, func(n string) []string { return slices.Sorted(slices.Values(byName[n].Deps)) }); c != nil {
		return fmt.Errorf("pipeline: dependency cycle: %s", strings.Join(c, " -> "))
	}
	return nil
}

// StepKey computes a step's key from its declared inputs and its
// dependencies' results. It is exported so callers (ci:explain) can show
// what a key is made of.
func StepKey(s *Step, files digest.Manifest, deps map[string]Result) string {
	h := sha256.New()
	fmt.Fprintf(h, "vanixiets-step-v1\x00name=%s\x00def=%s\x00", s.Name, s.Def)
	writeSorted(h, "param", s.Params)
	writeSorted(h, "tool", s.Tools)
	fmt.Fprintf(h, "files=%s\x00", files.Sum())
	names := append([]string(nil), s.Deps...)
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "dep=%s\x00key=%s\x00out=%s\x00", n, deps[n].Key, OutputsDigest(deps[n].Outputs))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// OutputsDigest is a stable digest of a step's outputs.
func OutputsDigest(o Outputs) string {
	h := sha256.New()
	writeSorted(h, "out", o)
	return hex.EncodeToString(h.Sum(nil))
}

func writeSorted(w interface{ Write([]byte) (int, error) }, kind string, m map[string]string) {
	// Once per step key: kept plain, as fleet's sortedKeys says why.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s:%d:%s=%d:%s\x00", kind, len(k), k, len(m[k]), m[k])
	}
}

// Run executes the graph. It returns one Result per step in the order of
// p.Steps, and an error summarising every step that did not succeed.
func (p *Pipeline) Run(ctx context.Context) ([]Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	par := p.Parallel
	if par <= 0 {
		par = 4
	}
	grace := p.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	hasher := p.Hasher
	if hasher == nil {
		hasher = digest.Default()
	}
	defer hasher.Save()

	byName := map[string]*Step{}
	dependents := map[string][]string{}
	waiting := map[string]int{}
	for _, s := range p.Steps {
		byName[s.Name] = s
		waiting[s.Name] = len(s.Deps)
		for _, d := range s.Deps {
			dependents[d] = append(dependents[d], s.Name)
		}
	}

	var mu sync.Mutex
	results := map[string]Result{}
	done := make(chan Result, len(p.Steps))
	sem := make(chan struct{}, par)
	groups := newGroupSlots(p.Groups, p.Steps)

	start := func(s *Step) {
		mu.Lock()
		deps := map[string]Result{}
		for _, d := range s.Deps {
			deps[d] = feed(byName[d], results[d])
		}
		mu.Unlock()
		go func() {
			// The group's slot first, then a step slot (groups.go).
			if err := groups.enter(ctx, s.Group); err != nil {
				done <- Result{Name: s.Name, Status: Cancelled, Err: err}
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				done <- Result{Name: s.Name, Status: Cancelled, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			done <- p.runStep(ctx, s, hasher, deps)
		}()
	}
	finish := func(r Result) []*Step {
		mu.Lock()
		results[r.Name] = r
		mu.Unlock()
		groups.leave(byName[r.Name].Group)
		if p.OnEvent != nil {
			rr := r
			p.OnEvent(Event{Step: r.Name, Result: &rr})
		}
		var ready []*Step
		for _, n := range dependents[r.Name] {
			waiting[n]--
			if waiting[n] == 0 {
				ready = append(ready, byName[n])
			}
		}
		return ready
	}

	var queue []*Step
	for _, s := range p.Steps {
		if waiting[s.Name] == 0 {
			queue = append(queue, s)
		}
	}
	ended := 0
	var graceTimer <-chan time.Time
	ctxDone := ctx.Done()
	for ended < len(p.Steps) {
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			if bad := p.failedDep(s, results, &mu); bad != "" {
				st := Skipped
				if results[bad].Status == Cancelled {
					st = Cancelled
				}
				r := Result{Name: s.Name, Status: st, Err: fmt.Errorf("not run: dependency %q %s", bad, results[bad].Status)}
				ended++
				queue = append(queue, finish(r)...)
				continue
			}
			start(s)
		}
		if ended >= len(p.Steps) {
			break
		}
		select {
		case r := <-done:
			ended++
			queue = append(queue, finish(r)...)
		case <-graceTimer:
			// Steps ignored cancellation past the grace period: report
			// them cancelled and stop waiting.
			for _, s := range p.Steps {
				mu.Lock()
				_, have := results[s.Name]
				mu.Unlock()
				if !have {
					finish(Result{Name: s.Name, Status: Cancelled, Err: fmt.Errorf("did not stop within %s of cancellation", grace)})
				}
			}
			ended = len(p.Steps)
		case <-ctxDone:
			// Running steps see the cancelled context; give them the
			// grace period to clean up and return.
			graceTimer = time.After(grace)
			ctxDone = nil
		}
	}

	out := make([]Result, len(p.Steps))
	var failed []string
	for i, s := range p.Steps {
		out[i] = results[s.Name]
		if !out[i].Status.OK() {
			failed = append(failed, fmt.Sprintf("%s (%s: %v)", s.Name, out[i].Status, out[i].Err))
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("%d of %d steps did not succeed: %s", len(failed), len(out), strings.Join(failed, "; "))
	}
	return out, nil
}

func (p *Pipeline) failedDep(s *Step, results map[string]Result, mu *sync.Mutex) string {
	mu.Lock()
	defer mu.Unlock()
	for _, d := range s.Deps {
		if !results[d].Status.OK() {
			return d
		}
	}
	return ""
}

// runStep keys, looks up, and if needed runs one step.
func (p *Pipeline) runStep(ctx context.Context, s *Step, hasher *digest.Hasher, deps map[string]Result) Result {
	if r, ok := p.Done[s.Name]; ok && r.Status.OK() {
		r.Name = s.Name
		return r
	}
	t0 := time.Now()
	r := Result{Name: s.Name}
	if err := ctx.Err(); err != nil {
		r.Status, r.Err = Cancelled, err
		return r
	}
	files, planned := p.planned[s.Name]
	var err error
	if !planned {
		files, err = s.Manifest(hasher)
	}
	if err != nil {
		r.Status, r.Err = Failed, fmt.Errorf("step %s: %w", s.Name, err)
		return r
	}
	r.Key = StepKey(s, files, deps)
	in := Input{Key: r.Key, Files: files, Deps: map[string]Outputs{}}
	for n, d := range deps {
		in.Deps[n] = d.Outputs
	}
	useCache := p.Cache != nil && !s.NoCache
	if useCache && !p.Force {
		recorded, _, hit, err := get(ctx, p.Cache, s, in)
		if err != nil {
			r.Status, r.Err = Failed, fmt.Errorf("step %s: cache: %w", s.Name, err)
			return r
		}
		r.Hit = hit != miss
		if hit == good {
			r.Status, r.Outputs, r.Duration = Cached, recorded, time.Since(t0)
			return r
		}
	}
	if p.OnEvent != nil {
		p.OnEvent(Event{Step: s.Name, Started: true})
	}
	outs, err := s.Run(ctx, in)
	r.Duration = time.Since(t0)
	if err != nil {
		r.Status, r.Err, r.Outputs = Failed, err, outs
		if ctx.Err() != nil {
			r.Status = Cancelled
		}
		return r
	}
	if outs == nil {
		outs = Outputs{}
	}
	r.Status, r.Outputs = Succeeded, outs
	if useCache {
		if err := p.Cache.Put(ctx, r.Key, EncodeRecord(outs, r.Duration)); err != nil {
			r.Status, r.Err = Failed, fmt.Errorf("step %s: record result: %w", s.Name, err)
		}
	}
	return r
}
