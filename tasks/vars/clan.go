package vars

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

// clan's on-disk format for a secret, which this file alone knows:
//
//	vars/per-machine/<m>/<gen>/<file>/secret          a sops file, binary store
//	vars/per-machine/<m>/<gen>/<file>/machines/<m>    -> ../../../../../../sops/machines/<m>
//	vars/per-machine/<m>/<gen>/<file>/users/<u>       -> ../../../../../../sops/users/<u>
//	sops/machines/<m>/key.json                         [{"publickey": "age1...", "type": "age"}]
//	sops/users/<u>/key.json                            the same, one entry per key
//
// The symlinks say who a secret is for (clan reads recipients from them);
// the sops file's "age" list says who it is encrypted to; key.json says
// what each name's key is. vars:check holds the three against each other
// and against the fleet.
//
// The binding of a secret to its path (see binding.go) lives in the sops
// file as a second value beside "data": "vanixiets_binding". Its AES-GCM
// additional data is its key name and the file's MAC covers it, so it
// cannot be changed or moved to another file without the data key. sops
// and clan read only "data" from a binary-store file, so both still
// decrypt it to exactly the secret; `sops updatekeys` keeps it (it rewraps
// the data key and leaves the values).
const (
	bindingKey = "vanixiets_binding"
	keyJSON    = "key.json"
)

// sopsDir is where clan keeps keys and named secrets: <flake>/sops, the
// sibling of the vars directory.
func (v *Vars) sopsDir() string {
	return filepath.Join(filepath.Dir(absDir(v.Dir)), "sops")
}

func absDir(d string) string {
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return d
}

// recipientLinks returns the symlinks clan keeps beside a secret: for each
// recipient, "machines/<m>" or "users/<u>" -> a relative path to its
// sops/<kind>/<name> directory.
func (v *Vars) recipientLinks(u *Unit, file string, rs []Recipient) map[string]string {
	fileDir := filepath.Join(absDir(v.Dir), filepath.FromSlash(u.ID), file)
	out := map[string]string{}
	for _, r := range rs {
		for _, w := range strings.Split(r.Who, ",") {
			kind, name, ok := strings.Cut(w, ":")
			if !ok {
				continue
			}
			dir := kind + "s" // machine -> machines, user -> users
			target := filepath.Join(v.sopsDir(), dir, name)
			rel, err := filepath.Rel(filepath.Join(fileDir, dir), target)
			if err != nil {
				rel = target
			}
			out[dir+"/"+name] = rel
		}
	}
	return out
}

// keyEntry is one element of clan's key.json.
type keyEntry struct {
	PublicKey string `json:"publickey"`
	Type      string `json:"type"`
}

// readKeyJSON reads a key.json: a JSON list of {"publickey", "type"} (clan
// also accepts one object).
func readKeyJSON(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var list []keyEntry
	if err := json.Unmarshal(b, &list); err != nil {
		var one keyEntry
		if err1 := json.Unmarshal(b, &one); err1 != nil || one.PublicKey == "" {
			return nil, fmt.Errorf("%s is not JSON of the form [{\"publickey\": \"age1...\", \"type\": \"age\"}]: %v (fix or rewrite it with vars:rekey)", p, err)
		}
		list = []keyEntry{one}
	}
	var out []string
	for i, e := range list {
		if e.Type != "" && e.Type != "age" {
			return nil, fmt.Errorf("%s: entry %d has type %q: the suite encrypts to age keys only", p, i, e.Type)
		}
		if _, err := age.ParseX25519Recipient(e.PublicKey); err != nil {
			return nil, fmt.Errorf("%s: entry %d publickey %q: %v (want an age1... key)", p, i, e.PublicKey, err)
		}
		out = append(out, e.PublicKey)
	}
	sort.Strings(out)
	return out, nil
}

func keyJSONBytes(keys []string) []byte {
	var es []keyEntry
	for _, k := range keys {
		es = append(es, keyEntry{PublicKey: k, Type: "age"})
	}
	b, _ := json.MarshalIndent(es, "", "  ")
	return append(b, '\n')
}

// keysByName groups recipients by their clan name ("machines/<m>",
// "users/<u>").
func keysByName(rs []Recipient) map[string][]string {
	out := map[string][]string{}
	for _, r := range rs {
		for _, w := range strings.Split(r.Who, ",") {
			kind, name, ok := strings.Cut(w, ":")
			if ok {
				k := kind + "s/" + name
				out[k] = append(out[k], r.Key)
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// writeKeyJSONs makes sops/<kind>/<name>/key.json hold the keys the fleet
// gives each recipient, writing only the files whose content differs.
func (v *Vars) writeKeyJSONs(rs []Recipient) error {
	for name, keys := range keysByName(rs) {
		p := filepath.Join(v.sopsDir(), filepath.FromSlash(name), keyJSON)
		want := keyJSONBytes(keys)
		if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, want) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := fsutil.WriteFile(p, want, 0o644); err != nil {
			return err
		}
		v.logf("wrote %s", filepath.Join("sops", name, keyJSON))
	}
	return nil
}

func recipientKeys(rs []Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Key)
	}
	sort.Strings(out)
	return out
}

// sealSops encrypts a bound payload as a binary-store sops file.
func sealSops(id string, plaintext []byte, rs []Recipient) ([]byte, error) {
	doc := &sops.Map{Items: []sops.Item{
		{Key: "data", Value: string(plaintext)},
		{Key: bindingKey, Value: strings.TrimSuffix(string(bindSecret(id, nil)), "\n")},
	}}
	return sops.EncryptDoc(sops.Binary, doc, recipientKeys(rs))
}

// openSops decrypts a binary-store sops file (MAC verified) and returns its
// data and its binding ("" when it has none: written by clan or sops).
func openSops(ct []byte, ids []age.Identity) (data []byte, binding string, err error) {
	doc, err := sops.DecryptDoc(sops.Binary, ct, ids)
	if err != nil {
		return nil, "", err
	}
	d, ok := doc.Get("data")
	s, isStr := d.(string)
	if !ok || !isStr {
		return nil, "", errors.New(`the sops file has no "data" value`)
	}
	if b, ok := doc.Get(bindingKey); ok {
		binding, _ = b.(string)
	}
	return []byte(s), binding, nil
}

// checkBinding compares a sops file's binding with the place id it was read
// from.
func checkBinding(id, binding string) error {
	if binding == "" {
		return fmt.Errorf("%s: %w (written by clan or sops, or it may stand in for another secret). If you know it is this secret, bind it in place with vars:migrate; otherwise regenerate it with vars:generate --regenerate", id, ErrUnbound)
	}
	_, err := unbindSecret(id, []byte(binding+"\n"))
	return err
}

// secretRecipients reads the age recipients of a stored secret without
// decrypting it.
func secretRecipients(ct []byte) ([]string, error) {
	return sops.Recipients(sops.Binary, ct)
}

// readLinks returns the recipient symlinks beside a secret ("machines/<m>"
// -> target) and problems: an entry that is not a symlink, or one pointing
// nowhere.
func readLinks(fileDir string) (map[string]string, []string) {
	out := map[string]string{}
	var probs []string
	for _, kind := range []string{"machines", "users", "groups"} {
		ents, err := os.ReadDir(filepath.Join(fileDir, kind))
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(fileDir, kind, e.Name())
			if e.Type()&fs.ModeSymlink == 0 {
				probs = append(probs, fmt.Sprintf("%s/%s is not a symlink: clan names a recipient with a symlink to sops/%s/%s (remove it and run vars:rekey)", kind, e.Name(), kind, e.Name()))
				continue
			}
			t, _ := os.Readlink(p)
			if _, err := os.Stat(p); err != nil {
				probs = append(probs, fmt.Sprintf("%s/%s points nowhere (%s): create sops/%s/%s/key.json or remove the link, then run vars:rekey", kind, e.Name(), t, kind, e.Name()))
			}
			out[kind+"/"+e.Name()] = t
		}
	}
	return out, probs
}

// recipientsCurrent reports whether the secret at fileDir is encrypted to
// exactly want and carries exactly want's links.
func (v *Vars) recipientsCurrent(u *Unit, file string, want []Recipient) bool {
	fileDir := filepath.Join(v.store().dir(u), file)
	ct, err := os.ReadFile(filepath.Join(fileDir, secretName))
	if err != nil {
		return false
	}
	have, err := secretRecipients(ct)
	if err != nil || strings.Join(have, ",") != strings.Join(recipientKeys(want), ",") {
		return false
	}
	links, probs := readLinks(fileDir)
	if len(probs) > 0 {
		return false
	}
	wl := v.recipientLinks(u, file, want)
	if len(links) != len(wl) {
		return false
	}
	for k, t := range wl {
		if links[k] != t {
			return false
		}
	}
	return true
}

// writeLinks replaces the recipient symlinks beside a secret with want's,
// each created under a temporary name and renamed into place.
func (v *Vars) writeLinks(u *Unit, file string, want []Recipient) error {
	fileDir := filepath.Join(v.store().dir(u), file)
	wl := v.recipientLinks(u, file, want)
	for _, kind := range []string{"machines", "users"} {
		ents, _ := os.ReadDir(filepath.Join(fileDir, kind))
		for _, e := range ents {
			if _, ok := wl[kind+"/"+e.Name()]; !ok {
				if err := os.RemoveAll(filepath.Join(fileDir, kind, e.Name())); err != nil {
					return err
				}
			}
		}
		if len(ents) > 0 {
			if rest, _ := os.ReadDir(filepath.Join(fileDir, kind)); len(rest) == 0 {
				_ = os.Remove(filepath.Join(fileDir, kind))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wl)) {
		p := filepath.Join(fileDir, filepath.FromSlash(name))
		if t, err := os.Readlink(p); err == nil && t == wl[name] {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		tmp := p + ".new"
		_ = os.Remove(tmp)
		if err := os.Symlink(wl[name], tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return nil
}

// checkRecipients holds a secret's sops recipients (have), its recipient
// links and the linked key.json files against the fleet's recipients
// (want), reporting each difference with the path it is about and the fix.
func (v *Vars) checkRecipients(u *Unit, file string, have []string, want []Recipient, links map[string]string, add func(path, msg string)) {
	fileDir := filepath.Join(v.store().dir(u), file)
	sp := filepath.Join(fileDir, secretName)
	wantKeys := recipientKeys(want)
	wantSet := map[string]bool{}
	for _, k := range wantKeys {
		wantSet[k] = true
	}
	haveSet := map[string]bool{}
	for _, k := range have {
		haveSet[k] = true
		if !wantSet[k] {
			add(sp, fmt.Sprintf("encrypted to %s, which the fleet does not give this secret (want %s): run vars:rekey", k, whoList(want)))
		}
	}
	for _, r := range want {
		if !haveSet[r.Key] {
			add(sp, fmt.Sprintf("not encrypted to %s (%s): run vars:rekey", r.Key, r.Who))
		}
	}
	// Every key in the file must be one a linked key.json names: that is
	// what clan (and a reviewer) read as "who can decrypt this".
	linked := map[string]bool{}
	byName := keysByName(want)
	for name := range links {
		kp := filepath.Join(v.sopsDir(), filepath.FromSlash(name), keyJSON)
		keys, err := readKeyJSON(kp)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				add(kp, err.Error())
			}
			continue
		}
		for _, k := range keys {
			linked[k] = true
		}
		if w, ok := byName[name]; ok && strings.Join(w, ",") != strings.Join(keys, ",") {
			add(kp, fmt.Sprintf("holds %s, the fleet says %s: run vars:rekey (it rewrites key.json and re-wraps the secrets)", strings.Join(keys, ", "), strings.Join(w, ", ")))
		}
	}
	for _, k := range have {
		if !linked[k] && wantSet[k] {
			add(sp, fmt.Sprintf("recipient %s is in no key.json of its links (machines/, users/): run vars:rekey", k))
		} else if !linked[k] {
			add(sp, fmt.Sprintf("recipient %s is in no key.json of its links: someone can decrypt it whom the layout does not show; run vars:rekey", k))
		}
	}
	wl := v.recipientLinks(u, file, want)
	for name, t := range wl {
		if links[name] != t {
			add(fileDir, fmt.Sprintf("missing recipient link %s -> %s: run vars:rekey", name, t))
		}
	}
	for name := range links {
		if _, ok := wl[name]; !ok {
			add(fileDir, fmt.Sprintf("recipient link %s is not one of the fleet's recipients (%s): run vars:rekey", name, whoList(want)))
		}
	}
}
