package terranix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// FileName is the rendered configuration's file name in a work directory.
const FileName = "config.tf.json"

// Rendering is a validated, canonical terraform configuration of a flake.
type Rendering struct {
	// Key is the render key: the SHA-256 of the canonical JSON. A saved plan
	// records it; apply refuses a plan whose key differs from the current
	// rendering's.
	Key string
	// Source is the render step's key: the digest of the flake's content
	// (fleet.FilesOf), its place and the system the rendering was made
	// from ("" when the flake is not a local directory: never cached).
	Source string
	// Config is the canonical configuration.
	Config *Config
	// Machines are the fleet's cloud machines.
	Machines []Machine
	// Recipients are the age recipients of the admins of the cloud machines:
	// terraform state is encrypted to them.
	Recipients []string
	// FleetMachines names every machine of the fleet, cloud or not.
	FleetMachines []string
	// Cached is true when nothing was evaluated.
	Cached bool
}

// NewRendering validates cfg against machines and returns the rendering.
func NewRendering(cfg *Config, machines []Machine, recipients []string) (*Rendering, error) {
	if err := Validate(cfg, machines); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cfg.JSON())
	return &Rendering{Key: hex.EncodeToString(sum[:]), Config: cfg, Machines: machines, Recipients: recipients}, nil
}

// Machine returns the named cloud machine.
func (r *Rendering) Machine(name string) (Machine, bool) {
	for _, m := range r.Machines {
		if m.Name == name {
			return m, true
		}
	}
	return Machine{}, false
}

// Renderer renders a flake's terraform configuration.
//
// Rendering is one step of the engine (Step): its key covers the content
// of every file nix can read of the flake (fleet.FilesOf: for a flake in
// git, the tracked files of the whole repository, hashed through
// tasks/digest's stat cache), the system and the flake's place in the
// repository. On a key hit in the cache (tasks/cache) the recorded
// rendering is returned and no nix runs.
type Renderer struct {
	// Nix runs nix; nil: nix.New().
	Nix *nix.Nix
	// Flake is a directory holding flake.nix, or a flake reference.
	Flake string
	// System selects packages.<System>.terraform (default x86_64-linux).
	System string
	// Cache keeps renderings by key (default: a local store in CacheDir
	// when set, else cache.Open(): paths.Store(), plus the remote cache).
	Cache cache.Store
	// CacheDir is a directory for a local store of its own (tests).
	CacheDir string
	// Hasher hashes the flake's files (default digest.Default()).
	Hasher *digest.Hasher
	// NoCache forces an evaluation (the result is still recorded).
	NoCache bool
}

// renderDef names what the render step does: bump it when the step's
// outputs change meaning.
const renderDef = "terranix-render-v2"

// Step is the render as a step of the engine: building
// packages.<system>.terraform and evaluating the fleet, keyed on the
// flake's files (fleet.FilesOf: what nix reads of it), its place in the
// repository and the system. A flake reference that is no local directory
// has no content to key on: the step runs every time. Its outputs are a
// Rendering's (fromOutputs reads them back).
func (r *Renderer) Step(ctx context.Context) (*pipeline.Step, error) {
	system := r.System
	if system == "" {
		system = "x86_64-linux"
	}
	ref := r.Flake
	step := &pipeline.Step{Name: "terranix-render", Def: renderDef, Params: map[string]string{"system": system}}
	if st, err := os.Stat(r.Flake); err == nil && st.IsDir() {
		if ref, err = nix.FlakeRef(r.Flake); err != nil {
			return nil, err
		}
		ff, err := fleet.FilesOf(ctx, ref)
		if err != nil {
			return nil, err
		}
		step.Root, step.Files, step.Exclude, step.Paths = ff.Root, ff.Files, ff.Exclude, ff.Paths
		step.Params["dir"] = ff.Rel()
	} else {
		step.NoCache = true
		step.Params["ref"] = ref
	}
	step.Run = func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
		rr, err := r.evaluate(ctx, ref, system)
		if err != nil {
			return nil, err
		}
		return rr.outputs(), nil
	}
	return step, nil
}

// Render runs Step through the engine (taking the rendering from the cache
// when the flake's content is unchanged), canonicalizes and validates.
func (r *Renderer) Render(ctx context.Context) (*Rendering, error) {
	step, err := r.Step(ctx)
	if err != nil {
		return nil, err
	}
	var rendered *Rendering
	run := step.Run
	step.Run = func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
		outs, err := run(ctx, in)
		if err == nil {
			rendered, err = fromOutputs(outs)
		}
		return outs, err
	}
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{step}, Hasher: r.hasher(), Force: r.NoCache}
	if !step.NoCache {
		p.Cache = r.store()
	}
	res, err := p.Run(cache.OnlyMadeHere(ctx)) // recipients and servers: never a shared hit
	if len(res) == 1 && res[0].Err != nil {
		return nil, res[0].Err
	}
	if err != nil {
		return nil, err
	}
	source := ""
	if !step.NoCache {
		source = res[0].Key
	}
	if rendered != nil {
		rendered.Source = source
		return rendered, nil
	}
	rr, err := fromOutputs(res[0].Outputs)
	if err != nil {
		// A record that no longer validates (it was made by an older
		// suite): render afresh.
		nr := *r
		nr.NoCache = true
		return nr.Render(ctx)
	}
	rr.Source, rr.Cached = source, true
	return rr, nil
}

func (r *Renderer) hasher() *digest.Hasher {
	if r.Hasher != nil {
		return r.Hasher
	}
	return digest.Default()
}

func (r *Renderer) store() cache.Store {
	if r.Cache != nil {
		return r.Cache
	}
	if r.CacheDir != "" {
		return cache.NewLocal(r.CacheDir)
	}
	return cache.Open()
}

// evaluate runs nix: the terraform package and the fleet.
func (r *Renderer) evaluate(ctx context.Context, ref, system string) (*Rendering, error) {
	n := r.Nix
	if n == nil {
		var err error
		if n, err = nix.New(); err != nil {
			return nil, err
		}
	}
	res, err := n.Build(ctx, nix.Installable(ref, "packages."+system+".terraform"))
	if err != nil {
		return nil, err
	}
	out := res[0].Out()
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		out = filepath.Join(out, FileName)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read rendered terraform %s: %w", out, err)
	}
	cfg, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s#packages.%s.terraform: %w", r.Flake, system, err)
	}
	fj, err := n.EvalJSON(ctx, nix.Installable(ref, "fleet"))
	if err != nil {
		return nil, err
	}
	fl, err := fleet.Parse(fj)
	if err != nil {
		return nil, fmt.Errorf("%s#fleet: %w", r.Flake, err)
	}
	machines := MachinesOf(fl)
	rr, err := NewRendering(cfg, machines, RecipientsOf(fl, machines))
	if err != nil {
		return nil, err
	}
	for m := range fl.Machines {
		rr.FleetMachines = append(rr.FleetMachines, m)
	}
	sort.Strings(rr.FleetMachines)
	return rr, nil
}

// outputs is what the render step records.
func (r *Rendering) outputs() pipeline.Outputs {
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	return pipeline.Outputs{
		"config":        string(r.Config.JSON()),
		"machines":      enc(r.Machines),
		"recipients":    enc(r.Recipients),
		"fleetMachines": enc(r.FleetMachines),
	}
}

// fromOutputs rebuilds (and re-validates) a recorded rendering.
func fromOutputs(o pipeline.Outputs) (*Rendering, error) {
	var machines []Machine
	var recips, all []string
	for k, v := range map[string]any{"machines": &machines, "recipients": &recips, "fleetMachines": &all} {
		if err := json.Unmarshal([]byte(o[k]), v); err != nil {
			return nil, fmt.Errorf("recorded rendering: %s: %v", k, err)
		}
	}
	cfg, err := Parse([]byte(o["config"]))
	if err != nil {
		return nil, err
	}
	rr, err := NewRendering(cfg, machines, recips)
	if err != nil {
		return nil, err
	}
	rr.FleetMachines = all
	return rr, nil
}

// RecipientsOf returns the age keys of every admin of a cloud machine.
func RecipientsOf(f *fleet.Fleet, machines []Machine) []string {
	set := map[string]bool{}
	for _, m := range machines {
		for _, k := range f.Recipients(m.Name) {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// WriteWork writes the rendering to dir/config.tf.json (atomically) and
// returns its difference from the rendering that was there before.
func WriteWork(dir string, r *Rendering) ([]Change, error) {
	p := filepath.Join(dir, FileName)
	var old *Config
	if b, err := os.ReadFile(p); err == nil {
		if c, err := Parse(b); err == nil {
			old = c
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read last rendering: %w", err)
	}
	if err := fsutil.WriteFile(p, r.Config.JSON(), 0o644); err != nil {
		return nil, err
	}
	return Diff(old, r.Config), nil
}
