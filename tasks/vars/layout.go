package vars

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/sops"
)

// LayoutSpec is what CheckLayout holds a clan tree against when no flake
// can be evaluated (the user's generators are declared in Nix that needs
// the network): which generators each machine has, which shared
// generators exist, and which of their files are secret. It is read from
// a JSON file (vars:check --generators <file>):
//
//	{"machines": {"cinnabar": {"openssh": {"ssh.id_ed25519": true, "ssh.id_ed25519.pub": false}}},
//	 "shared":   {"zerotier-network": {"network-id": false}}}
//
// true marks a secret file, false a public value.
type LayoutSpec struct {
	Machines map[string]map[string]map[string]bool `json:"machines"`
	Shared   map[string]map[string]bool            `json:"shared"`
}

// ReadLayoutSpec reads a LayoutSpec JSON file.
func ReadLayoutSpec(p string) (*LayoutSpec, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("generators file: %v", err)
	}
	var s LayoutSpec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("generators file %s: %v (want {\"machines\": {\"<m>\": {\"<generator>\": {\"<file>\": true|false}}}, \"shared\": {...}}; true = secret)", p, err)
	}
	return &s, nil
}

// CheckLayout checks a clan vars tree (varsDir, with its sops directory
// beside it) without a flake: every declared file present as a `secret`
// or a `value`, each secret a sops file encrypted to every key its
// machines/ and users/ links name in key.json and to no key that no
// key.json under sops/ declares, no link
// pointing nowhere, every key.json valid, nothing undeclared. With ids it
// also decrypts every secret one of them can open, verifying its MAC.
// clan-written secrets carry no binding, so the binding is not required
// here; vars:migrate adds it.
func CheckLayout(varsDir string, spec *LayoutSpec, ids []age.Identity) ([]Problem, error) {
	var probs []Problem
	add := func(p, format string, a ...any) {
		r, err := filepath.Rel(varsDir, p)
		if err != nil || strings.HasPrefix(r, "..") {
			r = p
		}
		probs = append(probs, Problem{Path: filepath.ToSlash(r), Msg: fmt.Sprintf(format, a...)})
	}
	sopsDir := filepath.Join(filepath.Dir(absDir(varsDir)), "sops")
	// Every key some key.json declares, by key: clan leaves a machine's key
	// on secrets it does not link the machine to (partitioning keys with
	// deploy = false), so an unlinked recipient is a finding only when no
	// key.json knows it.
	known := map[string]string{}
	for _, kind := range []string{"machines", "users"} {
		ents, _ := os.ReadDir(filepath.Join(sopsDir, kind))
		for _, e := range ents {
			kp := filepath.Join(sopsDir, kind, e.Name(), keyJSON)
			keys, err := readKeyJSON(kp)
			if err != nil {
				if !os.IsNotExist(err) {
					add(kp, "%v", err)
				}
				continue
			}
			for _, k := range keys {
				known[k] = kind + "/" + e.Name()
			}
		}
	}
	expected := map[string]bool{}
	check := func(genDir string, files map[string]bool) {
		expected[genDir] = true
		expected[filepath.Join(genDir, stampName)] = true
		for name, secret := range files {
			fdir := filepath.Join(genDir, name)
			expected[fdir] = true
			if !secret {
				expected[filepath.Join(fdir, valueName)] = true
				if _, err := os.Stat(filepath.Join(fdir, valueName)); err != nil {
					add(filepath.Join(fdir, valueName), "public file missing: run vars:generate (clan vars generate)")
				}
				continue
			}
			sp := filepath.Join(fdir, secretName)
			expected[sp] = true
			links, lprobs := readLinks(fdir)
			for _, m := range lprobs {
				add(fdir, "%s", m)
			}
			linked := map[string]bool{}
			for name := range links {
				kind, _, _ := strings.Cut(name, "/")
				expected[filepath.Join(fdir, kind)] = true
				expected[filepath.Join(fdir, filepath.FromSlash(name))] = true
				kp := filepath.Join(sopsDir, filepath.FromSlash(name), keyJSON)
				if kind == "groups" {
					continue // a group's members are links under sops/groups/<g>
				}
				keys, err := readKeyJSON(kp)
				if err != nil {
					continue // reported once above, or missing: the link points nowhere
				}
				for _, k := range keys {
					linked[k] = true
				}
			}
			ct, err := os.ReadFile(sp)
			if err != nil {
				add(sp, "secret missing: run vars:generate (clan vars generate)")
				continue
			}
			f, err := sops.Parse(sops.Binary, ct)
			if err != nil {
				add(sp, "not a sops file: %v", err)
				continue
			}
			for _, r := range f.Meta.Recipients() {
				if !linked[r] && known[r] == "" {
					add(sp, "recipient %s is in no key.json under sops/: someone can decrypt it whom the layout does not name (an old or foreign key); run vars:rekey or clan vars fix", r)
				}
			}
			have := map[string]bool{}
			for _, r := range f.Meta.Recipients() {
				have[r] = true
			}
			for _, k := range slices.Sorted(maps.Keys(linked)) {
				if !have[k] {
					add(sp, "not encrypted to %s, which its links name: run vars:rekey or clan vars fix", k)
				}
			}
			if len(ids) == 0 {
				continue
			}
			key, err := f.DataKey(ids)
			if err != nil {
				continue // not a recipient: nothing to prove here
			}
			if _, err := f.Open(key); err != nil {
				add(sp, "%v: restore it from git or regenerate it", err)
			}
			clear(key)
		}
	}
	for _, m := range slices.Sorted(maps.Keys(spec.Machines)) {
		for _, g := range slices.Sorted(maps.Keys(spec.Machines[m])) {
			check(filepath.Join(varsDir, "per-machine", m, g), spec.Machines[m][g])
		}
	}
	for _, g := range slices.Sorted(maps.Keys(spec.Shared)) {
		check(filepath.Join(varsDir, "shared", g), spec.Shared[g])
	}
	_ = filepath.WalkDir(varsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == varsDir {
			return nil
		}
		r, _ := filepath.Rel(varsDir, p)
		r = filepath.ToSlash(r)
		switch {
		case r == "per-machine" || r == "shared" || r == ".keep":
			return nil
		case strings.HasPrefix(r, "per-machine/") && strings.Count(r, "/") == 1:
			if _, ok := spec.Machines[d.Name()]; ok {
				return nil
			}
		}
		if expected[p] {
			return nil
		}
		add(p, "stray: not declared by the generators list (remove it, or declare its generator)")
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Path < probs[j].Path })
	return probs, nil
}
