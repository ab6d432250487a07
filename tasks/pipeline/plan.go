package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/vanixiets/vanixiets/tasks/dag"
	"github.com/vanixiets/vanixiets/tasks/digest"
)

// Planned is what Plan found for one step, running nothing.
type Planned struct {
	Name  string
	Key   string // "" when it needs the outputs of a dependency that is no hit
	Files digest.Manifest
	// Hit says the step would be skipped: its key is recorded (and, for an
	// Effect, Verify confirmed the record). Never with Force.
	Hit     bool
	Origin  string  // where a hit came from: cache.OriginLocal or the remote's address
	Outputs Outputs // a hit's recorded outputs
	Err     error   // why the step could not be keyed (its files)
}

// Plan keys every step and asks the cache what Run would find, running no
// step: the same files, the same key and the same get as Run (one
// get-else-run-put: Plan is its get). For ci:plan and ci:explain, which say
// what would run before anything does, and for the CI runner, which prints
// the hits first. A step's key needs its dependencies' outputs unless they
// are KeyOnly; when such a dependency is no hit, the step's key is unknown
// until it has run ("").
//
// Files are hashed for all steps at once, then keys made in dependency
// order and looked up together. A Run of the same Pipeline after Plan keys
// from the manifests Plan hashed (the snapshot a run reports), so the files
// are read once. Plan returns the steps in p.Steps' order;
// its error is the graph's (Validate); a step whose files cannot be hashed
// carries its Err.
func (p *Pipeline) Plan(ctx context.Context) ([]Planned, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	hasher := p.Hasher
	if hasher == nil {
		hasher = digest.Default()
	}
	defer hasher.Save()
	out := make([]Planned, len(p.Steps))
	index := map[string]int{}
	var wg sync.WaitGroup
	for i, s := range p.Steps {
		index[s.Name] = i
		out[i].Name = s.Name
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Files, out[i].Err = s.Manifest(hasher)
		}()
	}
	wg.Wait()
	p.planned = map[string]digest.Manifest{}
	for i, s := range p.Steps {
		if out[i].Err == nil {
			p.planned[s.Name] = out[i].Files
		}
	}

	useCache := p.Cache != nil && !p.Force
	looked := make([]bool, len(p.Steps))
	look := func(i int) error {
		s, pl := p.Steps[i], &out[i]
		if looked[i] || pl.Key == "" || !useCache || s.NoCache {
			looked[i] = true
			return nil
		}
		looked[i] = true
		in := Input{Key: pl.Key, Files: pl.Files, Deps: map[string]Outputs{}}
		for _, d := range s.Deps {
			if j := index[d]; !p.Steps[j].KeyOnly { // looked up already: its outputs made the key
				in.Deps[d] = out[j].Outputs
			}
		}
		outs, origin, hit, err := get(ctx, p.Cache, s, in)
		if err != nil {
			return fmt.Errorf("step %s: cache: %w", s.Name, err)
		}
		if hit == good {
			pl.Hit, pl.Origin, pl.Outputs = true, origin, outs
		}
		return nil
	}
	byName := map[string]*Step{}
	for _, s := range p.Steps {
		byName[s.Name] = s
	}
	names := slices.Sorted(maps.Keys(byName))
	order := dag.Order(names, func(n string) []string { return slices.Sorted(slices.Values(byName[n].Deps)) })
	for _, n := range order {
		i, s := index[n], byName[n]
		if out[i].Err != nil {
			continue
		}
		deps := map[string]Result{}
		known := true
		for _, d := range s.Deps {
			j := index[d]
			if !p.Steps[j].KeyOnly {
				if err := look(j); err != nil {
					return nil, err
				}
				if !out[j].Hit {
					known = false
				}
			}
			if out[j].Key == "" {
				known = false
			}
			deps[d] = feed(p.Steps[j], Result{Key: out[j].Key, Outputs: out[j].Outputs})
		}
		if known {
			out[i].Key = StepKey(s, out[i].Files, deps)
		}
	}
	errs := make([]error, len(p.Steps))
	for i := range p.Steps {
		if looked[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = look(i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// feed is what a dependency s that ended as r gives its dependents: its
// key, and its outputs unless they are a report (KeyOnly).
func feed(s *Step, r Result) Result {
	if s.KeyOnly {
		r.Outputs = nil
	}
	return r
}

// Manifest hashes the step's files: Files (each must match when Required)
// and Optional (may match nothing), one manifest in path order. It is the
// file part of the step's key: tests that two steps key on the same
// files compare their manifests.
func (s *Step) Manifest(h *digest.Hasher) (digest.Manifest, error) {
	var m digest.Manifest
	if len(s.Files) > 0 {
		var err error
		m, err = h.Glob(digest.Spec{Root: s.Root, Patterns: s.Files, Exclude: s.Exclude, Required: s.Required, Keep: s.Keep, Paths: s.Paths})
		if err != nil {
			return m, err
		}
	}
	if len(s.Optional) == 0 {
		return m, nil
	}
	more, err := h.Glob(digest.Spec{Root: s.Root, Patterns: s.Optional, Exclude: s.Exclude, Keep: s.Keep, Paths: s.Paths})
	if err != nil {
		return m, err
	}
	return union(m, more), nil
}

// union is the manifest of the files of both, each once, in path order.
func union(a, b digest.Manifest) digest.Manifest {
	seen := make(map[string]bool, len(a.Files))
	out := digest.Manifest{Root: b.Root, Files: append([]digest.File{}, a.Files...)}
	if a.Root != "" {
		out.Root = a.Root
	}
	for _, f := range a.Files {
		seen[f.Path] = true
	}
	for _, f := range b.Files {
		if !seen[f.Path] {
			out.Files = append(out.Files, f)
		}
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Path < out.Files[j].Path })
	return out
}
