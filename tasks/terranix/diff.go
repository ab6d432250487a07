package terranix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Change kinds.
const (
	Appeared    = "appears"
	Disappeared = "disappears"
	Changed     = "changes"
)

// Change is one difference between two renderings: a machine (by its server
// resource) or another resource that appears, disappears or changes.
type Change struct {
	// Machine is set when the change is a machine's server.
	Machine string
	// Address is the resource address ("hcloud_server.cinnabar").
	Address string
	Kind    string
}

func (c Change) String() string {
	if c.Machine != "" {
		return fmt.Sprintf("machine %s %s (%s)", c.Machine, c.Kind, c.Address)
	}
	return fmt.Sprintf("resource %s %s", c.Address, c.Kind)
}

// Diff compares two renderings resource by resource. old may be nil (no
// earlier rendering): everything appears. Machines come first, then other
// resources, each sorted by address.
func Diff(old, cur *Config) []Change {
	if old == nil {
		old = &Config{tree: map[string]any{}}
	}
	machineOf := map[string]string{}
	for m, a := range old.Servers() {
		machineOf[a] = m
	}
	for m, a := range cur.Servers() {
		machineOf[a] = m
	}
	body := func(c *Config, addr string) []byte {
		typ, n, _ := strings.Cut(addr, ".")
		r := c.Resource(typ, n)
		if r == nil {
			return nil
		}
		b, _ := json.Marshal(r)
		return b
	}
	set := map[string]bool{}
	for _, a := range old.Addresses() {
		set[a] = true
	}
	for _, a := range cur.Addresses() {
		set[a] = true
	}
	var out []Change
	for a := range set {
		ob, cb := body(old, a), body(cur, a)
		var kind string
		switch {
		case ob == nil:
			kind = Appeared
		case cb == nil:
			kind = Disappeared
		case !bytes.Equal(ob, cb):
			kind = Changed
		default:
			continue
		}
		out = append(out, Change{Machine: machineOf[a], Address: a, Kind: kind})
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Machine != "") != (out[j].Machine != "") {
			return out[i].Machine != ""
		}
		return out[i].Address < out[j].Address
	})
	return out
}

// FormatDiff renders changes for people: one line each, or "no changes".
func FormatDiff(changes []Change) string {
	if len(changes) == 0 {
		return "no changes since the last rendering\n"
	}
	var b strings.Builder
	for _, c := range changes {
		mark := map[string]string{Appeared: "+", Disappeared: "-", Changed: "~"}[c.Kind]
		fmt.Fprintf(&b, "  %s %s\n", mark, c)
	}
	return b.String()
}
