// Package closurediff compares two system closures the way nvd does: what
// a deployment would change, in packages and versions rather than store
// hashes.
//
// A closure is a set of store paths with their NAR sizes (`nix path-info
// -r --json`). Each path's name ("firefox-121.0", after the 32-character
// hash) splits into a package name and a version at the first '-' that is
// followed by a digit ("firefox", "121.0"); a name with no such dash has
// no version ("nixos-system-cinnabar-lab"). Paths are grouped by package
// name, and a package is
//
//   - added when only the new closure has it,
//   - removed when only the old one has it,
//   - changed when both have it with different versions, and
//   - rebuilt when both have it with the same versions but different
//     paths (a dependency or the build changed, not the version).
//
// The size delta is the difference of the closures' summed NAR sizes,
// which is what the host's store grows or shrinks by once the old system
// is collected. Everything here is pure: callers list the two closures
// (the running system's on the host, the new one locally) and render.
package closurediff

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Path is one store path of a closure.
type Path struct {
	Path    string `json:"path"`
	NarSize int64  `json:"narSize"`
}

// Package is one package name whose presence or versions differ.
type Package struct {
	Name string `json:"name"`
	// Old and New are its versions in the old and new closure, sorted,
	// one entry per path ("" for a path whose name has no version).
	Old []string `json:"old,omitempty"`
	New []string `json:"new,omitempty"`
	// SizeDelta is the NAR size of its new paths minus its old ones.
	SizeDelta int64 `json:"sizeDelta"`
}

// Diff is what changes from the old closure to the new one.
type Diff struct {
	Added   []Package `json:"added,omitempty"`
	Removed []Package `json:"removed,omitempty"`
	Changed []Package `json:"changed,omitempty"`
	// Rebuilt names the packages whose versions stayed but whose paths
	// differ.
	Rebuilt []string `json:"rebuilt,omitempty"`
	// OldPaths, NewPaths count the closures' paths; OldSize, NewSize
	// sum their NAR sizes.
	OldPaths int   `json:"oldPaths"`
	NewPaths int   `json:"newPaths"`
	OldSize  int64 `json:"oldSize"`
	NewSize  int64 `json:"newSize"`
	// PathsAdded, PathsRemoved count the paths only in the new, only in
	// the old closure.
	PathsAdded   int `json:"pathsAdded"`
	PathsRemoved int `json:"pathsRemoved"`
}

// SizeDelta is the new closure's size minus the old one's.
func (d Diff) SizeDelta() int64 { return d.NewSize - d.OldSize }

// Empty says whether the closures hold the same paths.
func (d Diff) Empty() bool { return d.PathsAdded == 0 && d.PathsRemoved == 0 }

// hashLen is the length of a store path's hash part (base-32 of 160 bits).
const hashLen = 32

// Name is a store path's name: its base without the hash and its dash
// ("/nix/store/<hash>-firefox-121.0" -> "firefox-121.0"). A base without
// a hash part is returned whole.
func Name(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if len(base) > hashLen && base[hashLen] == '-' {
		return base[hashLen+1:]
	}
	return base
}

// SplitName splits a store path name into package name and version at
// the first '-' followed by a digit, as nvd does: "firefox-121.0" ->
// ("firefox", "121.0"), "python3.11-requests-2.31.0-dist" ->
// ("python3.11-requests", "2.31.0-dist"), "nixos-system-cinnabar-lab" ->
// ("nixos-system-cinnabar-lab", ""). A name starting with "-<digit>"
// keeps it whole: a package needs a name.
func SplitName(name string) (pname, version string) {
	for i := 1; i+1 < len(name); i++ {
		if name[i] == '-' && name[i+1] >= '0' && name[i+1] <= '9' {
			return name[:i], name[i+1:]
		}
	}
	return name, ""
}

// group is one package name's paths in one closure.
type group struct {
	versions []string
	paths    []string
	size     int64
}

func groups(c []Path) (map[string]*group, map[string]bool, int64) {
	out := map[string]*group{}
	seen := map[string]bool{}
	var size int64
	for _, p := range c {
		if seen[p.Path] {
			continue
		}
		seen[p.Path] = true
		size += p.NarSize
		pname, v := SplitName(Name(p.Path))
		g := out[pname]
		if g == nil {
			g = &group{}
			out[pname] = g
		}
		g.versions = append(g.versions, v)
		g.paths = append(g.paths, p.Path)
		g.size += p.NarSize
	}
	for _, g := range out {
		sort.Strings(g.versions)
		sort.Strings(g.paths)
	}
	return out, seen, size
}

// Compute compares the old closure with the new one. A path listed twice
// counts once. The lists in the result are sorted by package name.
func Compute(old, new []Path) Diff {
	og, oseen, osize := groups(old)
	ng, nseen, nsize := groups(new)
	d := Diff{OldPaths: len(oseen), NewPaths: len(nseen), OldSize: osize, NewSize: nsize}
	for p := range nseen {
		if !oseen[p] {
			d.PathsAdded++
		}
	}
	for p := range oseen {
		if !nseen[p] {
			d.PathsRemoved++
		}
	}
	for name, n := range ng {
		o := og[name]
		switch {
		case o == nil:
			d.Added = append(d.Added, Package{Name: name, New: n.versions, SizeDelta: n.size})
		case !slices.Equal(o.versions, n.versions):
			d.Changed = append(d.Changed, Package{Name: name, Old: o.versions, New: n.versions, SizeDelta: n.size - o.size})
		case !slices.Equal(o.paths, n.paths):
			d.Rebuilt = append(d.Rebuilt, name)
		}
	}
	for name, o := range og {
		if ng[name] == nil {
			d.Removed = append(d.Removed, Package{Name: name, Old: o.versions, SizeDelta: -o.size})
		}
	}
	byName := func(a, b Package) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(d.Added, byName)
	slices.SortFunc(d.Removed, byName)
	slices.SortFunc(d.Changed, byName)
	sort.Strings(d.Rebuilt)
	return d
}

// Versions renders a version list: "1.0", "1.0, 2.0", "1.0 ×2" for two
// paths of one version, "(none)" for a name without a version.
func Versions(vs []string) string {
	var parts []string
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j] == vs[i] {
			j++
		}
		v := vs[i]
		if v == "" {
			v = "(none)"
		}
		if j-i > 1 {
			v += fmt.Sprintf(" ×%d", j-i)
		}
		parts = append(parts, v)
		i = j
	}
	return strings.Join(parts, ", ")
}
