package vars

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
)

// GenerateOptions selects what Generate does.
type GenerateOptions struct {
	// Machines limits the run to these machines' generators (their own and
	// the shared ones they use); empty means every machine.
	Machines []string
	// Generators limits the run to generators with these names.
	Generators []string
	// Regenerate regenerates the selected generators even when their key
	// is current (to rotate a secret); their dependents follow.
	Regenerate bool
}

// Report says what Generate did.
type Report struct {
	// Generated are the IDs of the units that ran, in order.
	Generated []string
	// UpToDate counts the units whose stored key was current.
	UpToDate int
	// StaleRecipients lists secret files whose recipients differ from the
	// fleet's (a machine or admin was added or removed): run Rekey.
	StaleRecipients []string
	// ScriptTime is the time spent inside generator scripts.
	ScriptTime time.Duration
}

// unitState is what a run knows of a unit it has visited.
type unitState struct {
	stamp       []byte
	values      map[string][]byte
	secrets     map[string][]byte // plaintext, only when generated or read in this run
	regenerated bool
}

// Generate runs every missing or outdated generator of the selection in
// dependency order and stores the outputs. A unit's dependencies, and the
// host-key generators of the machines its secrets are encrypted to, are
// brought up to date first; a unit that is regenerated regenerates its
// dependents (on any machine) in the same run. A run where nothing changed
// writes nothing.
//
// Each unit is a pipeline.Step of NewGeneration, run by Pipeline.Run with
// no record: the committed stamps decide (Generation says why).
func (v *Vars) Generate(ctx context.Context, opts GenerateOptions) (*Report, error) {
	g, err := v.NewGeneration(opts)
	if err != nil {
		return nil, err
	}
	if err := v.store().recoverAll(); err != nil {
		return nil, fmt.Errorf("recover interrupted write under %s: %w", v.Dir, err)
	}
	swept, err := SweepStale(g.run.tmpBase)
	for _, d := range swept {
		v.logf("removed %s, the work directory of a generator run that was killed", d)
	}
	if err != nil {
		return nil, err
	}
	v.creating = true
	defer func() { v.creating = false }()
	results, err := g.Pipeline(nil).Run(cache.OnlyMadeHere(ctx))
	if results == nil && err != nil {
		return g.rep, err
	}
	return g.rep, g.firstError(results)
}

func (v *Vars) generateUnit(ctx context.Context, p *Plan, u *Unit, key string, states map[*Unit]*unitState, prompter Prompter, run runner, hostKey func(string) ([]byte, error)) (*unitState, time.Duration, error) {
	isHostKey := p.hostKey[u.Machine] == u && !u.Shared()
	// Recipients are resolved before the script runs, so a bad admin key
	// or a missing host key fails without running anything. A host-key
	// unit's own machine key comes from its fresh output.
	var want []Recipient
	if u.HasSecrets() && !isHostKey {
		r, err := v.expectedRecipients(u, hostKey)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", u, err)
		}
		want = r
	}
	in := map[string]map[string][]byte{}
	for _, d := range u.Deps {
		files, err := v.depFiles(u, d, states[d])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", u, err)
		}
		in[d.Name] = files
	}
	prompts := map[string][]byte{}
	for _, pn := range slices.Sorted(maps.Keys(u.Gen.Prompts)) {
		if prompter == nil {
			dp, err := NewPrompter()
			if err != nil {
				return nil, 0, err
			}
			prompter = dp
			v.Prompter = dp
		}
		pr := *u.Gen.Prompts[pn]
		pr.Name = pn
		ans, err := prompter.Ask(u, &pr)
		if err != nil {
			return nil, 0, err
		}
		prompts[pn] = ans
	}
	start := time.Now()
	out, err := run.run(ctx, scriptInput{unit: u, in: in, prompts: prompts})
	dur := time.Since(start)
	if err != nil {
		return nil, dur, err
	}
	if isHostKey && u.HasSecrets() {
		name, err := hostKeyFile(u)
		if err != nil {
			return nil, dur, err
		}
		self := func(m string) ([]byte, error) {
			if m == u.Machine {
				return out[name], nil
			}
			return hostKey(m)
		}
		r, err := v.expectedRecipients(u, self)
		if err != nil {
			return nil, dur, fmt.Errorf("%s: %w", u, err)
		}
		want = r
	}
	if len(want) > 0 {
		// clan reads a recipient's key from sops/<kind>/<name>/key.json.
		if err := v.refusePublished(want); err != nil {
			return nil, dur, fmt.Errorf("%s: %w", u, err)
		}
		if err := v.writeKeyJSONs(want); err != nil {
			return nil, dur, fmt.Errorf("%s: %w", u, err)
		}
	}
	files := unitFiles{}
	s := &unitState{values: map[string][]byte{}, secrets: map[string][]byte{}, regenerated: true}
	for _, f := range u.Files {
		b := out[f.Name]
		if !f.Secret {
			files[f.Name] = map[string][]byte{valueName: b}
			s.values[f.Name] = b
			continue
		}
		fw := forFile(f, want)
		if len(fw) == 0 {
			return nil, dur, fmt.Errorf("%s: secret %q has deploy = false, so only the admins of %v may read it, and they have none (give a user settings.admin = true and an age key)", u, f.Name, u.Machines)
		}
		ct, err := v.sealSecret(u, f.Name, b, fw)
		if err != nil {
			return nil, dur, err
		}
		leaves := map[string][]byte{secretName: ct}
		for l, t := range v.recipientLinks(u, f.Name, fw) {
			leaves[l] = []byte(t)
		}
		files[f.Name] = leaves
		s.secrets[f.Name] = b
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	s.stamp = newStamp(key, hex.EncodeToString(nonce))
	if err := v.store().writeUnit(u, s.stamp, files); err != nil {
		return nil, dur, err
	}
	return s, dur, nil
}

// depFiles returns the files of dependency d that unit u's script gets in
// $in: every public value, and the secrets u declares it reads
// (fleet.Generator.Reads), decrypting a stored secret with the admin's
// identities when d was not generated in this run. A secret u does not
// declare never reaches its work directory: a generator that only needs a
// public key must not hold the private one.
func (v *Vars) depFiles(u, d *Unit, s *unitState) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range d.Files {
		if !f.Secret {
			out[f.Name] = s.values[f.Name]
			continue
		}
		if !slices.Contains(u.Gen.Reads, d.Name+"/"+f.Name) {
			continue
		}
		if b, ok := s.secrets[f.Name]; ok {
			out[f.Name] = b
			continue
		}
		ids, err := v.identities()
		if err != nil {
			return nil, fmt.Errorf("dependency %s: reading its secret %q needs an admin identity: %w", d, f.Name, err)
		}
		ct, err := os.ReadFile(v.store().path(d, f.Name, secretName))
		if err != nil {
			return nil, fmt.Errorf("dependency %s: %v", d, err)
		}
		pt, err := openSecret(d, f.Name, ct, ids)
		if isBindingError(err) {
			return nil, fmt.Errorf("dependency %s: %w", d, err)
		}
		if err != nil {
			return nil, fmt.Errorf("dependency %s: decrypt secret %q with %s: %v (you must be an admin of %v)", d, f.Name, IdentitySource(), err, d.Machines)
		}
		if s.secrets == nil {
			s.secrets = map[string][]byte{}
		}
		s.secrets[f.Name] = pt
		out[f.Name] = pt
	}
	return out, nil
}

// selectUnits returns the units of the given machines (all when empty)
// whose generator is in gens (all when empty).
func (p *Plan) selectUnits(machines, gens []string) (map[*Unit]bool, error) {
	for _, m := range machines {
		if _, err := p.Fleet.ByName(m); err != nil {
			return nil, err
		}
	}
	out := map[*Unit]bool{}
	found := map[string]bool{}
	for _, u := range p.Units {
		inMachines := len(machines) == 0
		for _, m := range machines {
			inMachines = inMachines || slices.Contains(u.Machines, m)
		}
		if !inMachines {
			continue
		}
		if len(gens) > 0 && !slices.Contains(gens, u.Name) {
			continue
		}
		found[u.Name] = true
		out[u] = true
	}
	for _, g := range gens {
		if !found[g] {
			return nil, fmt.Errorf("no selected machine declares generator %q", g)
		}
	}
	return out, nil
}

// closure adds to the selection every unit that depends on a selected one
// (transitively, on any machine), then everything those need first: their
// dependencies and the host keys their secrets are encrypted to.
func (p *Plan) closure(initial map[*Unit]bool) map[*Unit]bool {
	set := map[*Unit]bool{}
	var down func(u *Unit)
	down = func(u *Unit) {
		if set[u] {
			return
		}
		set[u] = true
		for _, d := range p.dependents(u) {
			down(d)
		}
	}
	for u := range initial {
		down(u)
	}
	var up func(u *Unit)
	seen := map[*Unit]bool{}
	up = func(u *Unit) {
		if seen[u] {
			return
		}
		seen[u] = true
		set[u] = true
		for _, d := range u.after {
			up(d)
		}
	}
	for u := range set {
		up(u)
	}
	return set
}
