package overlays

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Facts about the whole tree that the rules and their fixes depend on. They
// are read from the checked tree, never assumed, so that each fix names the
// option and the files as that tree spells them: the user's tree declares a
// top-level nixpkgsOverlays and keeps one override per file, this
// repository's declares flake.nixpkgsOverlays and keeps overrides.nix.

// declaredOption reads the overlays option's declaration from
// modules/nixpkgs/*.nix (overlays-option.nix in both shapes): options.flake
// ... nixpkgsOverlays = mkOption, or options.nixpkgsOverlays = mkOption.
// from is "" when nothing declares it.
func (c *checker) declaredOption() (option, from string) {
	files, _ := filepath.Glob(filepath.Join(c.root, NixpkgsDir, "*.nix"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(data), "nixpkgsOverlays") {
			continue
		}
		code := readSource(string(data)).code
		for i := 0; i+3 < len(code); i++ {
			if !code[i].is(tIdent, "nixpkgsOverlays") || !code[i+1].punct("=") {
				continue
			}
			if !(code[i+2].is(tIdent, "mkOption") || (i+4 < len(code) && code[i+4].is(tIdent, "mkOption"))) {
				continue
			}
			chain := pathBefore(code, i)
			rel := c.rel(f)
			switch {
			case len(chain) >= 1 && chain[len(chain)-1] == "options":
				return "nixpkgsOverlays", rel
			case hasSeq(code, "options", "flake"):
				return "flake.nixpkgsOverlays", rel
			}
		}
	}
	return "flake.nixpkgsOverlays", ""
}

// pathBefore returns the attribute path written before code[i] (a.b.c =
// gives [a b] for c).
func pathBefore(code []token, i int) []string {
	var out []string
	for j := i - 1; j >= 1 && code[j].punct(".") && code[j-1].Kind == tIdent; j -= 2 {
		out = append([]string{code[j-1].Text}, out...)
	}
	return out
}

func hasSeq(code []token, a, b string) bool {
	for i := 0; i+2 < len(code); i++ {
		if code[i].is(tIdent, a) && code[i+1].punct(".") && code[i+2].is(tIdent, b) {
			return true
		}
	}
	return false
}

// majorityOption is the option most overlay files append to, for a tree
// that declares none (its declaration lives elsewhere).
func majorityOption(files []string, srcs map[string]*source) (string, string) {
	n := map[string]int{}
	for _, f := range files {
		if t := srcs[f].AppendTarget; t != "" {
			n[t]++
		}
	}
	if n["nixpkgsOverlays"] > n["flake.nixpkgsOverlays"] {
		return "nixpkgsOverlays", "what the overlay files append to"
	}
	return "flake.nixpkgsOverlays", "what the overlay files append to"
}

var sepRE = regexp.MustCompile(`pkgsNameSeparator\s*=\s*"([^"]*)"`)

// nameSeparator is pkgsNameSeparator from modules/nixpkgs/*.nix, else the
// by-name module's default "/": a nested group's package group/cli is
// named group-cli with separator "-".
func (c *checker) nameSeparator() string {
	files, _ := filepath.Glob(filepath.Join(c.root, NixpkgsDir, "*.nix"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := sepRE.FindSubmatch(data); m != nil {
			return string(m[1])
		}
	}
	return "/"
}

// customPackages lists Layer 3: every package.nix under the by-name
// directories. A directory without package.nix is a nested group (the
// by-name module recurses into it, naming its packages by their path joined
// with the separator) when some directory below it has one; otherwise it is
// a broken package.
func (c *checker) customPackages() []*Entry {
	var out []*Entry
	var walk func(dir string, prefix []string)
	walk = func(dir string, prefix []string) {
		ents, _ := os.ReadDir(dir)
		for _, de := range ents {
			if !de.IsDir() {
				continue
			}
			p := filepath.Join(dir, de.Name())
			name := append(append([]string(nil), prefix...), de.Name())
			pkg := filepath.Join(p, "package.nix")
			if _, err := os.Stat(pkg); err == nil {
				out = append(out, &Entry{Name: strings.Join(name, c.sep), File: c.rel(pkg), Line: 1, Layer: LayerCustom, Kind: KindPackage, srcFile: c.rel(pkg)})
				continue
			}
			if hasPackageBelow(p) {
				walk(p, name)
				continue
			}
			c.add(Warning, "custom-package", c.rel(p), 0, "custom package directory has no package.nix, and no directory below it has one (it is neither a package nor a nested group)",
				"add "+c.rel(pkg)+" (a callPackage function), or remove the directory")
		}
	}
	for _, d := range ByNameDirs {
		walk(filepath.Join(c.root, d), nil)
	}
	return out
}

func hasPackageBelow(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "package.nix" {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// layerFile is where entries of a layer go in this tree: the file named for
// the layer (or with its Layer: line) when there is one. For overrides in a
// tree that keeps one override per file it is a new file of its own.
func (c *checker) layerFile(l Layer, name string) string {
	for _, s := range c.sums {
		if s.explicit && s.Layer == l {
			return s.File
		}
	}
	switch l {
	case LayerChannels:
		return OverlaysDir + "/channels.nix"
	case LayerFallbacks:
		return OverlaysDir + "/stable-fallbacks.nix"
	case LayerOverrides:
		for _, s := range c.sums {
			for _, e := range s.entries {
				if s.Layer == LayerOverrides && e.Kind == KindOverride && e.headerDoc {
					return fmt.Sprintf("%s/%s.nix (one override per file, documented in its header, as %s)", OverlaysDir, name, filepath.Base(s.File))
				}
			}
		}
		return OverlaysDir + "/overrides.nix"
	}
	return OverlaysDir + "/" + name + ".nix"
}

// recommendedPriority is each layer's lib.mkOrder priority.
func recommendedPriority(l Layer) int {
	return map[Layer]int{LayerChannels: 100, LayerFallbacks: 200, LayerOverrides: 300, LayerExternal: 400}[l]
}

// order checks the composition order of the files. The module system
// merges list definitions by priority (lib.mkOrder), then in import order,
// which for import-tree is path order.
//
// A tree that orders with lib.mkOrder and gets it wrong is an error. A tree
// without lib.mkOrder composes in path order: the check says so, and says
// whether that order is right. Out of layer order it is an error when some
// attribute defined in two files composes the wrong way round (a later
// layer's entry applies first and is built upon or replaced by an earlier
// layer's), and a warning otherwise: nothing is affected today, but the
// next entry added to the wrong file would be.
func (c *checker) order(sums []*FileSummary) {
	idx := make([]int, len(sums))
	ordered := false
	for i := range idx {
		idx[i] = i
		if sums[i].Priority != 1000 {
			ordered = true
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := sums[idx[a]], sums[idx[b]]
		if x.Priority != y.Priority {
			return x.Priority < y.Priority
		}
		return x.File < y.File
	})
	c.fileOrder = map[string]int{}
	for pos, i := range idx {
		c.fileOrder[sums[i].File] = pos
	}
	type violation struct{ s, after *FileSummary }
	var vs []violation
	maxRank, maxAt := -1, -1
	for _, i := range idx {
		s := sums[i]
		r := s.Layer.rank()
		if r < maxRank {
			vs = append(vs, violation{s, sums[maxAt]})
			continue
		}
		if r > maxRank {
			maxRank, maxAt = r, i
		}
	}
	if len(vs) == 0 {
		return
	}
	fix := func(s *FileSummary) string {
		opt := s.target
		if opt == "" {
			opt = c.option
		}
		return fmt.Sprintf("in %s write %s = lib.mkOrder %d [ ... ] (taking lib in the module's arguments); each file gets its layer's priority: channels 100, stable-fallbacks 200, overrides 300, external 400",
			s.File, opt, recommendedPriority(s.Layer))
	}
	if ordered {
		for _, v := range vs {
			c.add(Error, "layer-order", v.s.File, v.s.appendLine,
				fmt.Sprintf("%s (layer %s, priority %d) composes after %s (layer %s, priority %d); the order is channels → stable-fallbacks → overrides → external → custom packages",
					filepath.Base(v.s.File), v.s.Layer, v.s.Priority, filepath.Base(v.after.File), v.after.Layer, v.after.Priority),
				fix(v.s))
		}
		return
	}
	// Path order decides. Which attributes does it affect?
	type def struct {
		e   *Entry
		pos int
	}
	byName := map[string][]def{}
	for _, s := range sums {
		for _, e := range s.entries {
			if e.Kind != KindPatch && !channelNames[e.Name] {
				byName[e.Name] = append(byName[e.Name], def{e, c.fileOrder[s.File]})
			}
		}
	}
	names := slices.Sorted(maps.Keys(byName))
	affected := 0
	for _, n := range names {
		ds := byName[n]
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].pos < ds[j].pos })
		for i := 0; i < len(ds); i++ {
			for j := i + 1; j < len(ds); j++ {
				a, b := ds[i].e, ds[j].e
				if a.srcFile == b.srcFile || a.Layer.rank() <= b.Layer.rank() || !overlap(a, b) {
					continue
				}
				affected++
				sb := c.summary(b.srcFile)
				c.add(Error, "layer-order", b.File, b.Line,
					fmt.Sprintf("no file uses lib.mkOrder, so path order decides: %s %s (layer %s) composes after %s:%d (layer %s), so the %s layer's %s applies on top of the %s layer's, against the layer order",
						kindLabel(b.Kind), n, b.Layer, a.File, a.Line, a.Layer, b.Layer, n, a.Layer),
					fix(sb))
			}
		}
	}
	if affected > 0 {
		return
	}
	var parts []string
	for k := 0; k < len(vs); {
		var group []string
		after := vs[k].after
		for ; k < len(vs) && vs[k].after == after; k++ {
			group = append(group, fmt.Sprintf("%s (%s)", filepath.Base(vs[k].s.File), vs[k].s.Layer))
		}
		parts = append(parts, fmt.Sprintf("%s compose after %s (%s)", strings.Join(group, ", "), filepath.Base(after.File), after.Layer))
	}
	first := vs[0].s
	c.add(Warning, "layer-order", first.File, first.appendLine,
		"no file uses lib.mkOrder, so path order (import-tree) decides: "+strings.Join(parts, "; ")+
			"; that is not the layer order (channels → stable-fallbacks → overrides → external), though no attribute is defined in two of these files, so nothing is affected today",
		fix(first))
}

func (c *checker) summary(rel string) *FileSummary {
	for _, s := range c.sums {
		if s.File == rel {
			return s
		}
	}
	return &FileSummary{File: rel}
}

var (
	nixFileRE = regexp.MustCompile(`(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.nix\b`)
	pkgRefRE  = regexp.MustCompile(`\b(?:pkgs|final|prev)\.([A-Za-z_][A-Za-z0-9_'-]*)(?:\.([A-Za-z_][A-Za-z0-9_'-]*))?`)
	byNameRE  = regexp.MustCompile(`\bpkgs/by-name/([A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*)`)
)

// crossRefs checks what comments claim about other places. A comment
// paragraph that names another overlay file and a package
// (pkgs.<name>, final.<name>, or the entry the file documents) claims that
// file handles that package; when the file does not define it (or does not
// exist) the claim is stale, and whatever the comment justifies (a skipped
// platform, a workaround) may no longer be needed. A pkgs/by-name/<dir>
// reference must name an existing custom package or group.
func (c *checker) crossRefs(files []string, srcs map[string]*source, sums []*FileSummary) {
	defines := map[string]map[string]bool{} // overlay base name -> names
	for _, s := range sums {
		m := map[string]bool{}
		for _, e := range s.entries {
			m[e.Name] = true
		}
		defines[filepath.Base(s.File)] = m
	}
	exists := map[string]bool{}
	for _, f := range files {
		exists[filepath.Base(f)] = true
	}
	for _, f := range files {
		s := srcs[f]
		rel := c.rel(f)
		var own []string
		for _, e := range c.summary(rel).entries {
			if e.headerDoc {
				own = append(own, e.Name)
			}
		}
		for _, para := range s.paragraphs() {
			for _, sen := range para.sentences() {
				c.crossRefSentence(rel, filepath.Base(f), sen, own, defines, exists)
			}
		}
	}
}

// crossRefSentence checks one sentence of a comment: a claim is a file and
// a package named in the same sentence.
func (c *checker) crossRefSentence(rel, self string, sen sentence, own []string, defines map[string]map[string]bool, exists map[string]bool) {
	conventional := map[string]bool{"channels.nix": true, "stable-fallbacks.nix": true, "overrides.nix": true}
	var pkgs []string
	for _, m := range pkgRefRE.FindAllStringSubmatch(sen.text, -1) {
		n := m[1]
		if channelNames[n] && m[2] != "" {
			n = m[2]
		}
		if !channelNames[n] && n != "lib" && n != "stdenv" {
			pkgs = appendUniq(pkgs, n)
		}
	}
	for _, n := range own {
		if wordIn(sen.text, n) {
			pkgs = appendUniq(pkgs, n)
		}
	}
	for _, loc := range nixFileRE.FindAllStringIndex(sen.text, -1) {
		ref := sen.text[loc[0]:loc[1]]
		line := sen.lineAt(loc[0])
		base, dir := path.Base(ref), path.Dir(ref)
		if base == self || len(pkgs) == 0 || (dir != "." && path.Base(dir) != "overlays") {
			continue
		}
		if !exists[base] {
			if conventional[base] || dir != "." {
				c.add(Warning, "stale-xref", rel, line,
					fmt.Sprintf("comment says %s handles %s, but %s has no %s", base, strings.Join(pkgs, ", "), OverlaysDir, base),
					"correct the comment in "+rel+" (and whatever it justifies), or restore "+base)
			}
			continue
		}
		for _, p := range pkgs {
			if !defines[base][p] {
				c.add(Warning, "stale-xref", rel, line,
					fmt.Sprintf("comment says %s handles %s, but %s defines no %s", base, p, base, p),
					fmt.Sprintf("correct the comment in %s and drop what it justifies (a skipped platform, a workaround), or restore %s in %s", rel, p, base))
			}
		}
	}
	for _, loc := range byNameRE.FindAllStringSubmatchIndex(sen.text, -1) {
		p := strings.TrimRight(sen.text[loc[2]:loc[3]], "/.,;:")
		ok := false
		for _, d := range ByNameDirs {
			if st, err := os.Stat(filepath.Join(c.root, d, filepath.FromSlash(p))); err == nil && st.IsDir() {
				ok = true
			}
		}
		if !ok {
			c.add(Warning, "stale-xref", rel, sen.lineAt(loc[0]),
				fmt.Sprintf("comment names pkgs/by-name/%s, which does not exist", p),
				"correct the comment in "+rel+", or add the custom package pkgs/by-name/"+p+"/package.nix")
		}
	}
}

// sentence is a sentence of a comment paragraph, with the line each of its
// bytes came from.
type sentence struct {
	text  string
	lines []int // lines[i]: the line of text[i]
}

func (s sentence) lineAt(i int) int { return s.lines[i] }

var sentenceEnd = regexp.MustCompile(`[.!?;](\s|$)`)

// sentences splits the paragraph at ". ", "! ", "? " and "; " (a dot
// inside a word, as in stable-fallbacks.nix or pkgs.hello, does not end one).
func (p paragraph) sentences() []sentence {
	var text []byte
	var lines []int
	for k, l := range p.lines {
		l = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "#"))
		if len(text) > 0 {
			text = append(text, ' ')
			lines = append(lines, p.start+k)
		}
		text = append(text, l...)
		for range len(l) {
			lines = append(lines, p.start+k)
		}
	}
	var out []sentence
	start := 0
	for _, m := range sentenceEnd.FindAllIndex(text, -1) {
		out = append(out, sentence{string(text[start:m[1]]), lines[start:m[1]]})
		start = m[1]
	}
	if start < len(text) {
		out = append(out, sentence{string(text[start:]), lines[start:]})
	}
	return out
}

// wordIn reports whether w occurs in text as a whole word (package names
// hold '-', so \b is not enough).
func wordIn(text, w string) bool {
	for i := 0; ; {
		k := strings.Index(text[i:], w)
		if k < 0 {
			return false
		}
		a, b := i+k, i+k+len(w)
		if (a == 0 || !isIdentChar(text[a-1])) && (b == len(text) || !isIdentChar(text[b])) {
			return true
		}
		i = a + 1
	}
}
