package fleet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/gitrepo"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// Attr is the flake output the inventory is read from.
const Attr = "fleet"

// keyVersion changes when the cached value's meaning changes.
const keyVersion = "vanixiets/fleet/v1"

// Loader evaluates a flake's `fleet` output, through the content cache.
type Loader struct {
	// Nix runs evaluations; nil means nix.New() on first need (so a warm,
	// cached load works even where nix is missing).
	Nix *nix.Nix
	// Cache keeps evaluated JSON by the flake's content key; nil disables
	// caching.
	Cache cache.Store
	// Hasher hashes the flake's files; nil means digest.Default().
	Hasher *digest.Hasher
}

// NewLoader returns a Loader with the suite's cache (cache.Open).
func NewLoader() *Loader { return &Loader{Cache: cache.Open()} }

// Load evaluates flakeRef#fleet, parses it strictly and validates it, for a
// caller that acts on it: see Loader.Load. flakeRef is a directory or a
// flake URL.
func Load(ctx context.Context, flakeRef string) (*Fleet, error) {
	return NewLoader().Load(ctx, flakeRef)
}

// Load is the fleet a caller may act on: vars generate (whose generator
// scripts run as root on the deployer), deploy (owners, modes and health
// checks on hosts), terraform (whose state is encrypted to the admins'
// recipients). It is taken from the cache only when this machine evaluated
// it itself (cache.OnlyMadeHere); an entry copied from the shared cache,
// even one signed by a trusted writer, is re-evaluated. Signing says who
// wrote an entry, not that what they evaluated is this checkout's fleet:
// only an evaluation here says that. The cost is one evaluation per flake
// change on each machine (BenchmarkLoadMadeHere).
//
// LoadUnvalidated, for display (check:fleet, show), takes any verified hit.
func (l *Loader) Load(ctx context.Context, flakeRef string) (*Fleet, error) {
	f, _, err := l.LoadUnvalidated(cache.OnlyMadeHere(ctx), flakeRef)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("flake %s: %w", flakeRef, err)
	}
	return f, nil
}

// LoadUnvalidated evaluates and parses without validating; hit reports
// whether the JSON came from the cache (no nix process started). The hit
// may come from the shared cache: use Load for anything that acts on the
// fleet.
func (l *Loader) LoadUnvalidated(ctx context.Context, flakeRef string) (f *Fleet, hit bool, err error) {
	data, hit, err := l.JSON(ctx, flakeRef)
	if err != nil {
		return nil, false, err
	}
	f, err = Parse(data)
	if err != nil {
		return nil, hit, fmt.Errorf("flake %s: %w", flakeRef, err)
	}
	return f, hit, nil
}

// JSON returns the `fleet` output's JSON, from the cache when the flake's
// content is unchanged: EvalStep run through the engine, the one
// get-else-run-put. Only successful evaluations are recorded. ctx carries
// the caller's trust (cache.OnlyMadeHere) to the store.
func (l *Loader) JSON(ctx context.Context, flakeRef string) ([]byte, bool, error) {
	step, err := l.EvalStep(ctx, flakeRef)
	if err != nil {
		return nil, false, err
	}
	r, err := l.runOne(ctx, step)
	if err != nil {
		return nil, false, err
	}
	return []byte(r.Outputs["fleet"]), r.Hit, nil
}

// EvalStep is the fleet's evaluation (`nix eval --json <flake>#fleet`) as a
// step of the engine: keyed on the flake's files (FilesOf: what nix reads
// of it), its place in the repository and the nix that evaluates. A flake reference that is no
// local directory has no content to key on: the step runs every time.
func (l *Loader) EvalStep(ctx context.Context, flakeRef string) (*pipeline.Step, error) {
	ref, err := nix.FlakeRef(flakeRef)
	if err != nil {
		return nil, err
	}
	step, err := l.flakeStep(ctx, "fleet-eval", keyVersion, ref)
	if err != nil {
		return nil, err
	}
	step.Params["attr"] = Attr
	step.Run = func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
		n, err := l.nix()
		if err != nil {
			return nil, err
		}
		b, err := n.EvalJSON(ctx, nix.Installable(ref, Attr))
		if err != nil {
			return nil, explainEval(ref, err)
		}
		return pipeline.Outputs{"fleet": string(b)}, nil
	}
	return step, nil
}

// flakeStep is a step keyed on the local flake ref (FilesOf), or, for a
// flake URL, a step that is never cached. Its Run is the caller's.
func (l *Loader) flakeStep(ctx context.Context, name, def, ref string) (*pipeline.Step, error) {
	step := &pipeline.Step{Name: name, Def: def, Params: map[string]string{}}
	if !filepath.IsAbs(ref) || l.Cache == nil {
		step.NoCache = true
		step.Params["ref"] = ref
		return step, nil
	}
	ff, err := FilesOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	step.Root, step.Files, step.Exclude, step.Paths = ff.Root, ff.Files, ff.Exclude, ff.Paths
	step.Params["dir"] = ff.Rel()
	step.Tools = map[string]string{"nix": l.nixIdentity()}
	return step, nil
}

// runOne runs one step through the engine with the loader's cache and
// hasher, and returns its result or why it failed.
func (l *Loader) runOne(ctx context.Context, step *pipeline.Step) (pipeline.Result, error) {
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{step}, Cache: l.Cache, Hasher: l.Hasher}
	rs, err := p.Run(ctx)
	if len(rs) == 1 && rs[0].Err != nil {
		return rs[0], rs[0].Err
	}
	if err != nil {
		return pipeline.Result{}, err
	}
	return rs[0], nil
}

func (l *Loader) nix() (*nix.Nix, error) {
	if l.Nix != nil {
		return l.Nix, nil
	}
	n, err := nix.New()
	if err != nil {
		return nil, err
	}
	l.Nix = n
	return n, nil
}

// nixIdentity names the nix that would evaluate (nix.Identity: its path,
// the version it reports, read once per binary, and its config), so an
// upgraded nix is a new key.
func (l *Loader) nixIdentity() string {
	n := l.Nix
	if n == nil {
		n, _ = nix.New()
	}
	if n == nil {
		return "bin=" // no nix: evaluation fails, nothing is cached under this
	}
	return n.Identity()
}

// storeSourceRe matches the store copy of a flake's source in nix messages.
var storeSourceRe = regexp.MustCompile(`/nix/store/[0-9a-z]{32}-source/`)

// localPaths rewrites "/nix/store/<hash>-source/x/flake.nix:4:3" in nix's
// message to the file in the working tree ("<root>/x/flake.nix:4:3"), so the
// location points at what the user edits. root is the repository root of a
// flake in git, else the flake directory.
func localPaths(ref string, err error) error {
	var ce *nix.CommandError
	if err == nil || !filepath.IsAbs(ref) || !errors.As(err, &ce) {
		return err
	}
	root := gitrepo.Root(ref)
	if root == "" {
		root = ref
	}
	ce.Message = storeSourceRe.ReplaceAllLiteralString(ce.Message, root+"/")
	return err
}

// explainEval points nix's source locations at the working tree and adds
// the fix to its "does not provide attribute" error: the flake must expose
// the inventory as `fleet`.
func explainEval(ref string, err error) error {
	err = localPaths(ref, err)
	var ee *nix.EvalError
	if errors.As(err, &ee) && strings.Contains(ee.Message, "does not provide attribute") {
		return fmt.Errorf("flake %s has no `fleet` output: expose the inventory as outputs.fleet (see docs/fleet.md): %w", ref, err)
	}
	return err
}
