// Package vars generates, stores, checks, rekeys and uploads a fleet's
// machine secrets and public values, the way clan's vars do, with the
// layout clan uses on disk.
//
// A generator (declared per machine in the fleet, or shared by several
// machines) is a script that writes files into $out from prompts and from
// the outputs of the generators it depends on ($in/<dep>/<file>). Public
// files are stored as they are; secret files are encrypted with age to the
// machines that use them (the age key derived from each machine's SSH host
// key, itself the output of the machine's "openssh" generator) and to the
// admins of those machines (the ageKeys of users whose user-<u> instance has
// settings.admin = true on the machine).
//
// Every generator has a key: a digest of its script, validation data,
// prompt and file declarations, and its dependencies' stamps and public
// outputs. The key is stored in .validation-hash; a generator whose stored
// key differs from the fleet's is regenerated, and so are its dependents,
// without anyone passing --regenerate.
package vars

import (
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// Vars is a fleet's vars directory.
type Vars struct {
	// Fleet is the inventory with the generator declarations.
	Fleet *fleet.Fleet
	// Dir is the vars root (a flake's "vars" directory).
	Dir string
	// FlakeDir is the flake directory the fleet's lab identities
	// (fleet.Lab) are relative to; "" means the parent of Dir.
	FlakeDir string
	// Identities returns the admin's age identities, used to decrypt a
	// dependency's secret, for rekey, get, check and upload. nil means
	// LoadIdentities. It is only called when a secret must be read.
	Identities func() ([]age.Identity, error)
	// Prompter answers prompts; nil means NewPrompter().
	Prompter Prompter
	// Log receives one line per action; nil discards.
	Log io.Writer
	// TmpDir is where scripts' private work directories go; "" means
	// TmpBase().
	TmpDir string
	// ExtraPath is prepended to the scripts' PATH (/usr/bin:/bin), for
	// generators that need tools from elsewhere (e.g. a Nix profile).
	ExtraPath string
	// MachineKeyPath is where Upload installs a machine's clan-generated
	// age identity on its host; "" means MachineKeyPath (sops-nix's).
	MachineKeyPath string

	plan *Plan
	ids  []age.Identity
	idOK bool
	// creating is set while vars:generate runs: a machine without an
	// openssh generator then gets clan's generated age key.
	creating bool
}

// New returns the vars of fleet f stored under dir.
func New(f *fleet.Fleet, dir string) *Vars { return &Vars{Fleet: f, Dir: dir} }

// Plan returns the fleet's generator plan (computed once).
func (v *Vars) Plan() (*Plan, error) {
	if v.plan != nil {
		return v.plan, nil
	}
	p, err := NewPlan(v.Fleet)
	if err != nil {
		return nil, err
	}
	v.plan = p
	return p, nil
}

func (v *Vars) store() store { return store{root: v.Dir} }

// writable is what every command that writes the tree starts with: the
// plan, and the store with any write an earlier process left half done
// finished or undone first (recoverAll).
func (v *Vars) writable() (*Plan, store, error) {
	p, err := v.Plan()
	if err != nil {
		return nil, store{}, err
	}
	st := v.store()
	if err := st.recoverAll(); err != nil {
		return nil, store{}, fmt.Errorf("recover interrupted write under %s: %w", v.Dir, err)
	}
	return p, st, nil
}

func (v *Vars) logf(format string, a ...any) {
	if v.Log != nil {
		fmt.Fprintf(v.Log, format+"\n", a...)
	}
}

func (v *Vars) identities() ([]age.Identity, error) {
	if v.idOK {
		return v.ids, nil
	}
	load := v.Identities
	if load == nil {
		load = LoadIdentities
	}
	ids, err := load()
	if err != nil {
		return nil, err
	}
	v.ids, v.idOK = ids, true
	return ids, nil
}

// hostKeyFile returns the declared file of a host-key unit that holds the
// public host key.
func hostKeyFile(u *Unit) (string, error) {
	if f := u.File(HostKeyFile); f != nil && !f.Secret {
		return f.Name, nil
	}
	var cands []string
	for _, f := range u.Files {
		if !f.Secret && strings.HasSuffix(f.Name, ".pub") {
			cands = append(cands, f.Name)
		}
	}
	if len(cands) != 1 {
		return "", fmt.Errorf("%s: want one public file %q holding the ssh-ed25519 host key, found %d .pub files", u, HostKeyFile, len(cands))
	}
	return cands[0], nil
}

// hostKeySecretFile returns the secret file of a host-key unit holding the
// private host key: the public file's name without ".pub", or the only
// secret file.
func hostKeySecretFile(u *Unit) (string, error) {
	pub, err := hostKeyFile(u)
	if err != nil {
		return "", err
	}
	if f := u.File(strings.TrimSuffix(pub, ".pub")); f != nil && f.Secret {
		return f.Name, nil
	}
	var cands []string
	for _, f := range u.Files {
		if f.Secret {
			cands = append(cands, f.Name)
		}
	}
	if len(cands) != 1 {
		return "", fmt.Errorf("%s: cannot tell which secret file holds the private host key", u)
	}
	return cands[0], nil
}

// machineRecipient converts machine m's host key (its public value) to the
// machine's age recipient.
func machineRecipient(m string, hostKey []byte) (Recipient, error) {
	r, err := agekey.RecipientFromSSH(hostKey)
	if err != nil {
		return Recipient{}, fmt.Errorf("machine %q host key (generator %q): %w (regenerate it as ssh-ed25519: ssh-keygen -t ed25519)", m, HostKeyGenerator, err)
	}
	return Recipient{Key: r, Who: "machine:" + m}, nil
}

// expectedRecipients returns who unit u's secrets must be encrypted to: each
// machine using it (by its host key, looked up with hostKey) and each admin
// of those machines, deduplicated by key.
func (v *Vars) expectedRecipients(u *Unit, hostKey func(m string) ([]byte, error)) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]int{}
	add := func(r Recipient) {
		if i, ok := seen[r.Key]; ok {
			if !strings.Contains(","+out[i].Who+",", ","+r.Who+",") {
				out[i].Who += "," + r.Who
			}
			return
		}
		seen[r.Key] = len(out)
		out = append(out, r)
	}
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	for _, m := range u.Machines {
		var r Recipient
		if v.clanKeyed(p, m) {
			// clan's way: a generated age key (machinekey.go).
			r, err = v.clanMachineRecipient(m, v.creating)
		} else {
			var hk []byte
			if hk, err = hostKey(m); err == nil {
				r, err = machineRecipient(m, hk)
			}
		}
		if err != nil {
			return nil, err
		}
		add(r)
		for _, usr := range v.Fleet.Admins(m) {
			for i, k := range usr.AgeKeys {
				x, err := agekey.ParseRecipient(fmt.Sprintf("user %q ageKeys[%d]", usr.Name, i), k)
				if err != nil {
					return nil, err
				}
				add(Recipient{Key: x.String(), Who: "user:" + usr.Name})
			}
		}
	}
	return out, nil
}

// diskHostKey reads machine m's host key from the vars directory.
func (v *Vars) diskHostKey(p *Plan) func(m string) ([]byte, error) {
	return func(m string) ([]byte, error) {
		hk := p.hostKey[m]
		if hk == nil {
			return nil, fmt.Errorf("machine %q has no %q generator, so its secrets have no machine recipient (declare the generator: its public %s is the machine's key)", m, HostKeyGenerator, HostKeyFile)
		}
		name, err := hostKeyFile(hk)
		if err != nil {
			return nil, err
		}
		vals, err := v.store().values(hk)
		if err != nil {
			return nil, err
		}
		return vals[name], nil
	}
}
