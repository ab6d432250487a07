package digest

import (
	"fmt"
	"path"
	"strings"
)

// A pattern is a slash-separated glob relative to a root. Each segment uses
// path.Match syntax; a segment that is exactly "**" matches zero or more
// whole segments, so "tasks/**/*.go" matches tasks/a.go and tasks/x/y/b.go.
type pattern struct {
	raw  string
	segs []string
	// base is set for "**/<segment>" whose segment is no "**": it matches
	// a path by its last segment alone, so match skips splitting the path
	// (the flake's exclusions, tested against every tracked file).
	base string
}

func compile(p string) (pattern, error) {
	p = strings.TrimPrefix(path.Clean(strings.TrimSpace(p)), "./")
	if p == "" || p == "." || strings.HasPrefix(p, "../") || p == ".." || strings.HasPrefix(p, "/") {
		return pattern{}, fmt.Errorf("glob %q: must be a relative path inside the root", p)
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return pattern{}, fmt.Errorf("glob %q: bad segment %q: %v", p, s, err)
		}
	}
	c := pattern{raw: p, segs: segs}
	if len(segs) == 2 && segs[0] == "**" && segs[1] != "**" {
		c.base = segs[1]
	}
	return c, nil
}

// prefix is the literal directory the pattern starts in: walking can begin
// there instead of at the root.
func (p pattern) prefix() string {
	var lit []string
	for _, s := range p.segs[:len(p.segs)-1] {
		if s == "**" || strings.ContainsAny(s, `*?[\`) {
			break
		}
		lit = append(lit, s)
	}
	return strings.Join(lit, "/")
}

// match reports whether the slash-separated relative path rel matches.
func (p pattern) match(rel string) bool {
	if len(p.segs) == 1 && p.segs[0] == "**" {
		return true
	}
	if p.base != "" {
		ok, _ := path.Match(p.base, rel[strings.LastIndexByte(rel, '/')+1:])
		return ok
	}
	return matchSegs(p.segs, strings.Split(rel, "/"))
}

// mayContain reports whether some path under directory dir could match, so a
// walk can prune directories that cannot.
func (p pattern) mayContain(dir string) bool {
	if dir == "" {
		return true
	}
	return prefixMatch(p.segs, strings.Split(dir, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// prefixMatch reports whether dir segments can be the beginning of a path
// matched by pat.
func prefixMatch(pat, dir []string) bool {
	for len(dir) > 0 {
		if len(pat) == 0 {
			return false
		}
		if pat[0] == "**" {
			return true
		}
		if ok, _ := path.Match(pat[0], dir[0]); !ok {
			return false
		}
		pat, dir = pat[1:], dir[1:]
	}
	return true
}
