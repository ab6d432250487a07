package vars

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

// Problem is one thing vars:check found wrong, with the path it is about.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

// CheckOptions tunes Check.
type CheckOptions struct {
	// Decrypt also verifies each secret against every identity available:
	// the admin's (Identities) and the machines' (derived from host keys
	// the admin can decrypt). A recipient must decrypt it, anyone else
	// must not. Without it only the header is checked.
	Decrypt bool
}

// Check verifies the vars directory against the fleet: every declared file
// present, every generator's key current, every secret an age file whose
// header has one X25519 stanza per intended recipient and whose recipients
// record names exactly the intended recipients, and no stray files. With
// opts.Decrypt it also proves decryptability by the recipients it holds
// keys for: age's X25519 stanzas do not name their recipient, so only a
// key can tell who a stanza is for.
func (v *Vars) Check(opts CheckOptions) ([]Problem, error) {
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	st := v.store()
	var probs []Problem
	add := func(path, format string, a ...any) {
		probs = append(probs, Problem{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	rel := func(abs string) string {
		if r, err := filepath.Rel(v.Dir, abs); err == nil {
			return filepath.ToSlash(r)
		}
		return abs
	}
	// Identities: the admin's, then each machine's from its host key.
	known := map[string]age.Identity{}
	// An admin identity that is no recipient of any secret decrypts
	// nothing: saying "ok (decryption with ...)" then would be false.
	adminKeys, adminUsed, admins := map[string]bool{}, false, map[string]string{}
	if opts.Decrypt {
		ids, err := v.identities()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if r := identityRecipient(id); r != "" {
				known[r] = id
				adminKeys[r] = true
			}
		}
		for _, m := range p.Fleet.MachineNames() {
			hk := p.hostKey[m]
			if v.clanKeyed(p, m) {
				// clan's generated machine key, when the admin can open it.
				if key, ok, err := v.MachineAgeKey(m); err == nil && ok {
					if x, err := age.ParseX25519Identity(strings.TrimSpace(string(key))); err == nil {
						known[x.Recipient().String()] = x
					}
					clear(key)
				} else if err != nil {
					add(filepath.ToSlash(filepath.Join("..", "sops", "secrets", m+"-age.key", secretName)), "%v", err)
				}
				continue
			}
			name, err := hostKeySecretFile(hk)
			if err != nil {
				continue
			}
			ct, err := os.ReadFile(st.path(hk, name, secretName))
			if err != nil {
				continue
			}
			pem, err := openSecret(hk, name, ct, ids)
			if err != nil {
				continue // not an admin of m (its key is unknown here), or misbound (reported below)
			}
			s, err := agekey.IdentityFromSSH(pem, nil)
			if err != nil {
				add(rel(st.path(hk, name, secretName)), "private host key does not convert to an age identity: %v", err)
				continue
			}
			x, _ := age.ParseX25519Identity(s)
			known[x.Recipient().String()] = x
		}
	}
	expectedPaths := map[string]bool{}
	hostKey := v.diskHostKey(p)
	// The declared key is compared with what generate would compute from
	// the stored dependencies.
	stamps := map[*Unit][]byte{}
	for _, u := range p.Units {
		dir := st.dir(u)
		expectedPaths[dir] = true
		expectedPaths[filepath.Join(dir, stampName)] = true
		stamp, _ := st.readStamp(u)
		stamps[u] = stamp
		if stamp == nil {
			add(rel(dir), "%s was never generated: run vars:generate", u)
		} else {
			var deps []depState
			ok := true
			for _, d := range u.Deps {
				vals, err := st.values(d)
				if err != nil || stamps[d] == nil {
					ok = false
					break
				}
				deps = append(deps, depState{ID: d.ID, Stamp: stamps[d], Values: vals})
			}
			if key, err := unitKey(u, deps); ok && err == nil && key != stampKey(stamp) {
				add(rel(filepath.Join(dir, stampName)), "%s is outdated (its script, files, validation or a dependency changed): run vars:generate", u)
			}
		}
		var want []Recipient
		var wantErr error
		if u.HasSecrets() {
			want, wantErr = v.expectedRecipients(u, hostKey)
		}
		for _, f := range u.Files {
			fdir := filepath.Join(dir, f.Name)
			expectedPaths[fdir] = true
			if !f.Secret {
				vp := filepath.Join(fdir, valueName)
				expectedPaths[vp] = true
				if _, err := os.Stat(vp); err != nil && stamp != nil {
					add(rel(vp), "public file missing: run vars:generate")
				}
				continue
			}
			sp := filepath.Join(fdir, secretName)
			expectedPaths[sp] = true
			links, linkProbs := readLinks(fdir)
			for name := range links {
				kind, _, _ := strings.Cut(name, "/")
				expectedPaths[filepath.Join(fdir, kind)] = true
				expectedPaths[filepath.Join(fdir, filepath.FromSlash(name))] = true
			}
			for _, lp := range linkProbs {
				add(rel(fdir), "%s", lp)
			}
			ct, err := os.ReadFile(sp)
			if err != nil {
				if stamp != nil {
					add(rel(sp), "secret missing: run vars:generate")
				}
				continue
			}
			have, err := secretRecipients(ct)
			if err != nil {
				add(rel(sp), "not a sops file: %v (vars:migrate converts the suite's earlier age files; otherwise run vars:generate --regenerate)", err)
				continue
			}
			if wantErr != nil {
				add(rel(sp), "cannot tell the intended recipients: %v", wantErr)
				continue
			}
			want := forFile(f, want)
			v.checkRecipients(u, f.Name, have, want, links, func(path, msg string) { add(rel(path), "%s", msg) })
			if !opts.Decrypt {
				continue
			}
			intended := map[string]bool{}
			for _, r := range want {
				intended[r.Key] = true
				adminUsed = adminUsed || adminKeys[r.Key]
				if strings.HasPrefix(r.Who, "user:") {
					admins[r.Key] = r.Who
				}
			}
			sf, perr := sops.Parse(sops.Binary, ct)
			if perr != nil {
				add(rel(sp), "%v", perr)
				continue
			}
			opened := false
			for _, rk := range slices.Sorted(maps.Keys(known)) {
				key, err := sf.DataKey([]age.Identity{known[rk]})
				if err == nil && intended[rk] && !opened {
					opened = true
					if _, oerr := sf.Open(key); oerr != nil {
						add(rel(sp), "%v: restore it from git or regenerate it with vars:generate --regenerate", oerr)
					} else if _, binding, oerr := openSops(ct, []age.Identity{known[rk]}); oerr == nil {
						if berr := checkBinding(secretID(u, f.Name), binding); berr != nil {
							add(rel(sp), "%v", berr)
						}
					}
				}
				clear(key)
				switch {
				case intended[rk] && err != nil:
					add(rel(sp), "intended recipient %s cannot decrypt it (%v): it was encrypted to other keys; run vars:rekey or vars:generate --regenerate", who(want, rk), err)
				case !intended[rk] && err == nil:
					add(rel(sp), "%s decrypts it but is not an intended recipient: run vars:rekey", rk)
				}
			}
		}
	}
	// Stray files: anything under the root that no declaration explains.
	_ = filepath.WalkDir(v.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == v.Dir {
			return nil
		}
		r := rel(path)
		switch {
		case r == "per-machine" || r == "shared":
			return nil
		case strings.HasPrefix(r, "per-machine/") && strings.Count(r, "/") == 1 && d.IsDir():
			if _, ok := p.Fleet.Machines[d.Name()]; ok {
				return nil
			}
		}
		if expectedPaths[path] {
			return nil
		}
		if d.Name() == legacyRecipientsName {
			add(r, "a recipients record of the suite's earlier format: run vars:migrate (it converts the secrets to clan's sops format)")
			return nil
		}
		add(r, "stray: not declared by the fleet (remove it, or declare its generator)")
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if opts.Decrypt && len(admins) > 0 && !adminUsed {
		var have, want []string
		for k := range adminKeys {
			have = append(have, k)
		}
		for k, w := range admins {
			want = append(want, w+" "+k)
		}
		sort.Strings(have)
		sort.Strings(want)
		if len(have) == 0 {
			have = []string{"no X25519 key"}
		}
		add(IdentitySource(), "this admin identity (%s) is no recipient of any secret, so nothing could be decrypted: set VANIXIETS_AGE_IDENTITY to the key of one of the recipients the secrets expect: %s", strings.Join(have, ", "), strings.Join(want, "; "))
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Path < probs[j].Path })
	return probs, nil
}

func whoList(rs []Recipient) string {
	var w []string
	for _, r := range rs {
		w = append(w, r.Who)
	}
	return strings.Join(w, ", ")
}

func who(rs []Recipient, key string) string {
	for _, r := range rs {
		if r.Key == key {
			return r.Who
		}
	}
	return key
}
