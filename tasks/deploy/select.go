package deploy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// Select resolves selectors (machine names and @tags; none = all).
func Select(f *fleet.Fleet, selectors []string) ([]string, error) {
	if len(selectors) == 0 {
		return f.MachineNames(), nil
	}
	set := map[string]bool{}
	for _, s := range selectors {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if tag, ok := strings.CutPrefix(s, "@"); ok {
			n := 0
			for _, m := range f.SortedMachines() {
				if m.HasTag(tag) {
					set[m.Name] = true
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("no machine has tag %q; the fleet's tags: %s", tag, strings.Join(fleetTags(f), ", "))
			}
			continue
		}
		if _, err := f.ByName(s); err != nil {
			return nil, err
		}
		set[s] = true
	}
	out := slices.Sorted(maps.Keys(set))
	if len(out) == 0 {
		return nil, errors.New("no machine selected")
	}
	return out, nil
}

// fleetTags lists every tag of the fleet's machines, sorted, each once.
func fleetTags(f *fleet.Fleet) []string {
	set := map[string]bool{}
	var out []string
	for _, m := range f.SortedMachines() {
		for _, t := range m.Tags {
			if !set[t] {
				set[t] = true
				out = append(out, "@"+t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// SplitSelectors splits "a,@tag b" into selectors.
func SplitSelectors(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// Selectors turns a command line's words into selectors: each word may hold
// several, comma- or space-separated ("@server,stibnite"); no selector, or
// the single word "all", means every machine (nil).
func Selectors(words []string) []string {
	var sel []string
	for _, w := range words {
		sel = append(sel, SplitSelectors(w)...)
	}
	if len(sel) == 1 && strings.EqualFold(sel[0], "all") {
		return nil
	}
	return sel
}
