package vars

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// keyVersion changes when the key's definition changes, so that an upgrade
// of the suite that computes keys differently regenerates rather than
// silently trusting an incomparable key.
const keyVersion = "vanixiets-vars-key-v1"

// declKey digests what a generator's declaration contributes to its key:
// the script, the validation data, the prompts' declarations and, of each
// file, its name and whether it is secret.
//
// A file's owner, group, mode, deploy and neededFor are left out on
// purpose: they say how the content is installed, not what it is, so
// changing them is applied by the next upload without regenerating (and so
// without rotating) the secret. The upload's digest on the host covers them.
func declKey(g *fleet.Generator) (string, error) {
	type file struct {
		Name   string `json:"name"`
		Secret bool   `json:"secret"`
	}
	type prompt struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Persist bool   `json:"persist"`
	}
	var d struct {
		Version    string          `json:"v"`
		Script     string          `json:"script"`
		Validation json.RawMessage `json:"validation"`
		Share      bool            `json:"share"`
		Files      []file          `json:"files"`
		Prompts    []prompt        `json:"prompts"`
		Deps       []string        `json:"deps"`
	}
	d.Version = keyVersion
	d.Script = g.Script
	d.Share = g.Share
	v, err := canonicalJSON(g.Validation)
	if err != nil {
		return "", fmt.Errorf("generator %q: validation is not JSON: %w", g.Name, err)
	}
	d.Validation = v
	for _, n := range slices.Sorted(maps.Keys(g.Files)) {
		d.Files = append(d.Files, file{n, g.Files[n].Secret})
	}
	for _, n := range slices.Sorted(maps.Keys(g.Prompts)) {
		p := g.Prompts[n]
		d.Prompts = append(d.Prompts, prompt{n, p.Type, p.Persist})
	}
	d.Deps = append([]string{}, g.Dependencies...)
	sort.Strings(d.Deps)
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalJSON re-encodes a JSON value with sorted object keys, so that
// attribute order (which Nix does not promise) never changes a key.
func canonicalJSON(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return json.RawMessage("null"), nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// depState is what a dependency contributes to its dependents' keys: its
// stored .validation-hash (which carries its own key and a generation
// nonce, so a forced regeneration of the dependency is seen too) and its
// public values.
type depState struct {
	ID     string
	Stamp  []byte
	Values map[string][]byte
}

// unitKey is the unit's key: its declaration and, for each dependency, the
// dependency's stamp and public outputs. The unit is regenerated when its
// stored key differs.
func unitKey(u *Unit, deps []depState) (string, error) {
	dk, err := declKey(u.Gen)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00decl %s\x00", keyVersion, dk)
	for _, d := range deps {
		fmt.Fprintf(h, "dep %s\x00stamp %x\x00", d.ID, sha256.Sum256(d.Stamp))
		for _, n := range slices.Sorted(maps.Keys(d.Values)) {
			fmt.Fprintf(h, "value %s %x\x00", n, sha256.Sum256(d.Values[n]))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
