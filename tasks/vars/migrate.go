package vars

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

// Migrate converts the vars directory to clan's format, losing nothing:
//
//   - a secret in the suite's earlier format (age armor beside a
//     `recipients` record) is decrypted with the admin's identity, its
//     binding checked, and written as a sops file to exactly the
//     recipients its record named, with clan's machines/ and users/ links
//     and sops/*/key.json; the record is removed last;
//   - a sops secret that carries no binding (written by clan or sops) is
//     bound in place to the path it is stored at, keeping its recipients.
//
// Binding trusts the current layout: run it on a tree you know nobody has
// tampered with (the lab's committed vars were migrated this way). A
// secret bound to another path is refused. It returns what it converted
// and does nothing on a tree already in clan's format.
func (v *Vars) Migrate() ([]string, error) {
	p, st, err := v.writable()
	if err != nil {
		return nil, err
	}
	var done []string
	for _, u := range p.Units {
		if !u.HasSecrets() {
			continue
		}
		if stamp, _ := st.readStamp(u); stamp == nil {
			continue
		}
		for _, f := range u.Files {
			if !f.Secret {
				continue
			}
			changed, err := v.migrateSecret(u, f.Name)
			if err != nil {
				return done, err
			}
			if changed {
				done = append(done, secretID(u, f.Name))
				v.logf("migrated %s", secretID(u, f.Name))
			}
		}
	}
	return done, nil
}

func (v *Vars) migrateSecret(u *Unit, file string) (bool, error) {
	st := v.store()
	id := secretID(u, file)
	sp := st.path(u, file, secretName)
	rp := st.path(u, file, legacyRecipientsName)
	ct, err := os.ReadFile(sp)
	if err != nil {
		return false, fmt.Errorf("%s: %v (run vars:generate)", id, err)
	}
	if f, perr := sops.Parse(sops.Binary, ct); perr == nil {
		if _, ok := f.Doc.Get(bindingKey); ok {
			// clan's format, bound; a record left by an interrupted
			// migration goes now.
			if err := os.Remove(rp); err == nil {
				return true, nil
			}
			return false, nil
		}
		ids, err := v.identities()
		if err != nil {
			return false, err
		}
		pt, _, err := openSops(ct, ids)
		if err != nil {
			return false, fmt.Errorf("%s: %w", id, err)
		}
		defer clear(pt)
		var rs []Recipient
		for _, k := range f.Meta.Recipients() {
			rs = append(rs, Recipient{Key: k, Who: "key:" + k})
		}
		nct, err := v.sealSecret(u, file, pt, rs)
		if err != nil {
			return false, err
		}
		return true, fsutil.WriteFile(sp, nct, 0o644)
	}
	if _, herr := ParseHeader(ct); herr != nil {
		return false, fmt.Errorf("%s: neither a sops file nor an age file of the suite's earlier format: %v", id, herr)
	}
	rec, err := os.ReadFile(rp)
	if err != nil {
		return false, fmt.Errorf("%s: an age secret without its %s record: %v (restore it from git, or regenerate with vars:generate --regenerate)", id, legacyRecipientsName, err)
	}
	rs, err := parseLegacyRecipients(rec)
	if err != nil {
		return false, fmt.Errorf("%s: %w", rp, err)
	}
	ids, err := v.identities()
	if err != nil {
		return false, err
	}
	payload, err := decrypt(ct, ids)
	if err != nil {
		return false, fmt.Errorf("%s: decrypt to migrate: %v (use the key of one of its recipients)", id, err)
	}
	defer clear(payload)
	pt, berr := unbindSecret(id, payload)
	switch {
	case errors.Is(berr, ErrUnbound):
		pt = payload // older than bindings: bound to this path now
	case berr != nil:
		return false, berr
	}
	nct, err := v.sealSecret(u, file, pt, rs)
	if err != nil {
		return false, err
	}
	if err := v.writeKeyJSONs(rs); err != nil {
		return false, err
	}
	if err := fsutil.WriteFile(sp, nct, 0o644); err != nil {
		return false, err
	}
	if err := v.writeLinks(u, file, rs); err != nil {
		return false, err
	}
	// The record goes last: an interruption before this leaves it, and
	// the next run sees a sops file and finishes by removing it.
	if err := os.Remove(rp); err != nil {
		return false, err
	}
	return true, syncDir(filepath.Dir(sp))
}

// parseLegacyRecipients reads the earlier format's "age1... who" lines.
func parseLegacyRecipients(b []byte) ([]Recipient, error) {
	var out []Recipient
	for i, line := range strings.Split(string(bytes.TrimSpace(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], "age1") {
			return nil, fmt.Errorf("line %d: want \"age1... machine:<m>|user:<u>\", got %q", i+1, line)
		}
		out = append(out, Recipient{Key: f[0], Who: f[1]})
	}
	if len(out) == 0 {
		return nil, errors.New("no recipients")
	}
	return out, nil
}
