package vars

import (
	"fmt"
	"os"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// Rekey re-wraps every secret whose recipients differ from the fleet's (a
// machine joined a shared generator, an admin was added, a key rotated),
// without regenerating it, the way `sops updatekeys` does: the data key is
// unwrapped with the admin's identity and wrapped for the new set; the
// values and their MAC stay byte-identical. The binding is checked first,
// so following check's advice cannot launder a stand-in. Only those secrets,
// their recipient links and the key.json files change. It returns the
// rekeyed paths (relative to the vars root).
func (v *Vars) Rekey() ([]string, error) {
	p, st, err := v.writable()
	if err != nil {
		return nil, err
	}
	hostKey := v.diskHostKey(p)
	var done []string
	for _, u := range p.Units {
		if !u.HasSecrets() {
			continue
		}
		if stamp, _ := st.readStamp(u); stamp == nil {
			continue // never generated: vars:generate's job
		}
		want, err := v.expectedRecipients(u, hostKey)
		if err != nil {
			return done, fmt.Errorf("%s: %w", u, err)
		}
		if err := v.writeKeyJSONs(want); err != nil {
			return done, err
		}
		for _, f := range u.Files {
			want := forFile(f, want)
			if !f.Secret || v.recipientsCurrent(u, f.Name, want) {
				continue
			}
			sp := st.path(u, f.Name, secretName)
			ct, err := os.ReadFile(sp)
			if err != nil {
				return done, fmt.Errorf("%s: secret %q: %v (run vars:generate)", u, f.Name, err)
			}
			ids, err := v.identities()
			if err != nil {
				return done, err
			}
			pt, err := openSecret(u, f.Name, ct, ids)
			if isBindingError(err) {
				return done, fmt.Errorf("%s: refusing to rekey: %w", u, err)
			}
			if err != nil {
				return done, fmt.Errorf("%s: decrypt secret %q to rekey it: %v (an admin of %v must run vars:rekey)", u, f.Name, err, u.Machines)
			}
			clear(pt)
			nct, changed, err := v.updateKeys(sp, ct, ids, want)
			if err != nil {
				return done, fmt.Errorf("%s: secret %q: %w", u, f.Name, err)
			}
			if changed {
				if err := fsutil.WriteFile(sp, nct, 0o644); err != nil {
					return done, err
				}
			}
			if err := v.writeLinks(u, f.Name, want); err != nil {
				return done, err
			}
			done = append(done, u.ID+"/"+f.Name)
			v.logf("rekeyed %s/%s (%s)", u.ID, f.Name, whoList(want))
		}
	}
	return done, nil
}

// Get returns the content of machine's generator file "gen/file": a public
// value as stored, a secret decrypted with the admin's identities.
func (v *Vars) Get(machine, genFile string) ([]byte, error) {
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	g, f, ok := cut(genFile)
	if !ok {
		return nil, fmt.Errorf("want <generator>/<file>, got %q", genFile)
	}
	u, err := p.MachineUnit(machine, g)
	if err != nil {
		return nil, err
	}
	file := u.File(f)
	if file == nil {
		var names []string
		for _, x := range u.Files {
			names = append(names, x.Name)
		}
		return nil, fmt.Errorf("%s has no file %q (its files: %v)", u, f, names)
	}
	st := v.store()
	if !file.Secret {
		b, err := os.ReadFile(st.path(u, f, valueName))
		if err != nil {
			return nil, fmt.Errorf("%s file %q: %v (run vars:generate)", u, f, err)
		}
		return b, nil
	}
	ct, err := os.ReadFile(st.path(u, f, secretName))
	if err != nil {
		return nil, fmt.Errorf("%s secret %q: %v (run vars:generate)", u, f, err)
	}
	ids, err := v.identities()
	if err != nil {
		return nil, err
	}
	pt, err := openSecret(u, f, ct, ids)
	if isBindingError(err) {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s secret %q: %v (is %s the key of an admin of %v?)", u, f, err, IdentitySource(), u.Machines)
	}
	return pt, nil
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], s[:i] != "" && s[i+1:] != ""
		}
	}
	return "", "", false
}
