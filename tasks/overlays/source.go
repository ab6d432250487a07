package overlays

import (
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// source is the Go reading of one .nix file: its comments, where it appends
// to nixpkgsOverlays, the overlays in that list and the entries (attribute
// bindings) each overlay defines. Nix checks the syntax and evaluates the
// overlays; this reading supplies what evaluation cannot see: comments,
// lines of list elements, and how each entry's value is written.
type source struct {
	code     []token     // tokens without comments
	match    map[int]int // index of an opening bracket -> its closer
	comments map[int]string
	codeLine map[int]bool // lines holding at least one code token
	bindings map[string][]token

	FileHeader     Header
	FileHeaderLine int // 0 when the file has no leading comment block

	AppendLine   int    // line of the nixpkgsOverlays binding, 0 if none
	AppendTarget string // "flake.nixpkgsOverlays", "nixpkgsOverlays" or ""
	Priority     int    // module-system order (lib.mkOrder); 1000 by default

	Elements []element
	Patches  []*Entry

	Names      []string            // attributes read from final/prev (stand-in package set)
	Inputs     map[string][]string // flake inputs read, with the overlay names read from each
	SystemLits []sysLit
}

type element struct {
	Line    int
	Lambdas int    // leading "x:" lambdas: 2 for final: prev:
	Ref     string // a plain reference such as inputs.nuenv.overlays.nuenv
	Entries []*Entry
}

type sysLit struct {
	System string
	Line   int
}

var systemRE = regexp.MustCompile(`^(x86_64|aarch64|i686|armv[5-7]l|riscv64|powerpc64le|loongarch64|s390x|mips64el)-(linux|darwin|freebsd|netbsd|openbsd|windows|none)$`)

var pkgSetNames = map[string]bool{"final": true, "prev": true, "super": true, "self": true, "pkgs": true}

func readSource(src string) *source {
	s := &source{
		match:    map[int]int{},
		comments: map[int]string{},
		codeLine: map[int]bool{},
		Priority: 1000,
		Inputs:   map[string][]string{},
	}
	for _, t := range lex(src) {
		if t.Kind == tComment {
			if strings.HasPrefix(t.Text, "/*") {
				continue
			}
			if _, dup := s.comments[t.Line]; !dup {
				s.comments[t.Line] = t.Text
			}
			continue
		}
		s.code = append(s.code, t)
		s.codeLine[t.Line] = true
	}
	var stack []int
	for i, t := range s.code {
		if t.Kind != tPunct {
			continue
		}
		switch t.Text {
		case "(", "[", "{", "${":
			stack = append(stack, i)
		case ")", "]", "}":
			if len(stack) > 0 {
				s.match[stack[len(stack)-1]] = i
				stack = stack[:len(stack)-1]
			}
		}
	}
	// File header: the comment lines before the first code token.
	first := 1
	for l := range s.comments {
		first = max(first, l+1)
	}
	if len(s.code) > 0 {
		first = s.code[0].Line
	}
	// The header is every comment line before the first code token, across
	// blank lines (a header often has a paragraph per concern); blank lines
	// are kept as empty lines so that a line's index is its offset.
	var lines []string
	for l := 1; l < first; l++ {
		c, ok := s.comments[l]
		if !ok {
			if len(lines) > 0 {
				lines = append(lines, "")
			}
			continue
		}
		if s.FileHeaderLine == 0 {
			s.FileHeaderLine = l
		}
		lines = append(lines, c)
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > 0 {
		s.FileHeader = ParseHeader(lines)
	}
	s.scanNames()
	s.findAppend()
	s.findPatches()
	return s
}

// closeOf returns the index of the bracket closing the opener at i, or the
// last token when the source is unbalanced.
func (s *source) closeOf(i int) int {
	if j, ok := s.match[i]; ok {
		return j
	}
	return len(s.code) - 1
}

func isOpener(t token) bool {
	return t.Kind == tPunct && (t.Text == "(" || t.Text == "[" || t.Text == "{" || t.Text == "${")
}

// commentAbove returns the block of pure comment lines directly above line
// (no blank line in between) and the first line of that block.
func (s *source) commentAbove(line int) ([]string, int) {
	l := line - 1
	for l > 0 {
		if _, ok := s.comments[l]; !ok || s.codeLine[l] {
			break
		}
		l--
	}
	var out []string
	for k := l + 1; k < line; k++ {
		out = append(out, s.comments[k])
	}
	return out, l + 1
}

func (s *source) scanNames() {
	names := map[string]bool{}
	systems := map[sysLit]bool{}
	var walk func(ts []token)
	walk = func(ts []token) {
		for i := 0; i < len(ts); i++ {
			t := ts[i]
			if t.Kind == tString {
				if systemRE.MatchString(t.Text) {
					systems[sysLit{t.Text, t.Line}] = true
				}
				walk(t.Inner)
				continue
			}
			if t.Kind != tIdent {
				continue
			}
			chain := selChain(ts, i)
			switch {
			case pkgSetNames[t.Text]:
				for _, c := range chain[1:] {
					names[c] = true
				}
			case t.Text == "inputs" && len(chain) > 1:
				in := chain[1]
				if _, ok := s.Inputs[in]; !ok {
					s.Inputs[in] = nil
				}
				if len(chain) > 3 && chain[2] == "overlays" {
					s.Inputs[in] = appendUniq(s.Inputs[in], chain[3])
				}
			case t.Text == "inherit" && i+1 < len(ts) && ts[i+1].punct("("):
				src := selChain(ts, i+2)
				if len(src) > 0 && pkgSetNames[src[0]] {
					for _, c := range src[1:] {
						names[c] = true
					}
					j := i + 2
					for j < len(ts) && !ts[j].punct(")") {
						j++
					}
					for j++; j < len(ts) && !ts[j].punct(";"); j++ {
						if ts[j].Kind == tIdent {
							names[ts[j].Text] = true
						} else if ts[j].Kind == tString {
							names[ts[j].Text] = true
						}
					}
				}
			}
			if len(chain) > 1 {
				i += 2*(len(chain)-1) - 0
			}
		}
	}
	walk(s.code)
	for n := range names {
		s.Names = append(s.Names, n)
	}
	sort.Strings(s.Names)
	for l := range systems {
		s.SystemLits = append(s.SystemLits, l)
	}
	sort.Slice(s.SystemLits, func(i, j int) bool {
		if s.SystemLits[i].Line != s.SystemLits[j].Line {
			return s.SystemLits[i].Line < s.SystemLits[j].Line
		}
		return s.SystemLits[i].System < s.SystemLits[j].System
	})
}

func appendUniq(l []string, v string) []string {
	for _, x := range l {
		if x == v {
			return l
		}
	}
	return append(l, v)
}

// selChain returns the attribute path a.b."c" starting at ts[i].
func selChain(ts []token, i int) []string {
	if i >= len(ts) || ts[i].Kind != tIdent {
		return nil
	}
	out := []string{ts[i].Text}
	for j := i + 1; j+1 < len(ts) && ts[j].punct("."); j += 2 {
		n := ts[j+1]
		if n.Kind != tIdent && n.Kind != tString {
			break
		}
		out = append(out, n.Text)
	}
	return out
}

// findAppend locates "nixpkgsOverlays = <order?> [ ... ]" and reads the
// list's elements and, for each final: prev: lambda, its entries.
func (s *source) findAppend() {
	for i := 0; i+1 < len(s.code); i++ {
		t := s.code[i]
		if t.Kind != tIdent || t.Text != "nixpkgsOverlays" || !s.code[i+1].punct("=") {
			continue
		}
		s.AppendLine = t.Line
		s.AppendTarget = "nixpkgsOverlays"
		if i >= 2 && s.code[i-1].punct(".") && s.code[i-2].is(tIdent, "flake") {
			s.AppendTarget = "flake.nixpkgsOverlays"
		}
		for j := i + 2; j < len(s.code); j++ {
			u := s.code[j]
			switch {
			case u.is(tIdent, "mkOrder") && j+1 < len(s.code) && s.code[j+1].Kind == tNumber:
				if p, err := strconv.Atoi(s.code[j+1].Text); err == nil {
					s.Priority = p
				}
			case u.is(tIdent, "mkBefore"):
				s.Priority = 500
			case u.is(tIdent, "mkAfter"):
				s.Priority = 1500
			case u.punct("["):
				s.readElements(j)
				return
			case u.punct(";"):
				return
			}
		}
		return
	}
}

// listElements splits the list opened at code[open] into element ranges.
func (s *source) listElements(open int) [][2]int {
	end := s.closeOf(open)
	var out [][2]int
	for i := open + 1; i < end; {
		start := i
		if isOpener(s.code[i]) {
			i = s.closeOf(i) + 1
		} else {
			i++
		}
		for i+1 < end && s.code[i].punct(".") {
			if isOpener(s.code[i+1]) {
				i = s.closeOf(i+1) + 1
			} else {
				i += 2
			}
		}
		if i < end && s.code[i].is(tIdent, "or") {
			i++
			if i < end && isOpener(s.code[i]) {
				i = s.closeOf(i) + 1
			} else if i < end {
				i++
			}
		}
		out = append(out, [2]int{start, i})
	}
	return out
}

func (s *source) readElements(open int) {
	for _, r := range s.listElements(open) {
		e := element{Line: s.code[r[0]].Line}
		first := s.code[r[0]]
		switch {
		case first.punct("("):
			inner, close := r[0]+1, s.closeOf(r[0])
			i := inner
			for i+1 < close && s.code[i].Kind == tIdent && s.code[i+1].punct(":") {
				e.Lambdas++
				i += 2
			}
			if e.Lambdas == 0 {
				e.Ref = tokensText(s.code[inner:close])
			}
			if e.Lambdas == 2 {
				e.Entries = s.walkBody(i, close)
			}
		case first.Kind == tIdent:
			e.Ref = strings.Join(selChain(s.code, r[0]), ".")
		default:
			e.Ref = tokensText(s.code[r[0]:r[1]])
		}
		s.Elements = append(s.Elements, e)
	}
}

func tokensText(ts []token) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 && !(t.punct(".") || (i > 0 && ts[i-1].punct("."))) {
			b.WriteByte(' ')
		}
		if t.Kind == tString {
			b.WriteString(strconv.Quote(t.Text))
		} else {
			b.WriteString(t.Text)
		}
		if b.Len() > 80 {
			b.WriteString("…")
			break
		}
	}
	return b.String()
}

// walkBody reads an overlay body (the expression after final: prev:). An
// attribute set at body level (directly, inside parentheses, // chains,
// if/then/else or the last argument of lib.optionalAttrs) holds entries;
// let bindings and lists do not.
func (s *source) walkBody(start, end int) []*Entry {
	var out []*Entry
	guard := ""
	for i := start; i < end; {
		t := s.code[i]
		switch {
		case t.punct("{"):
			j := s.closeOf(i)
			out = append(out, s.walkEntries(i+1, min(j, end), guard)...)
			guard = ""
			i = j + 1
		case t.punct("[") || t.punct("${"):
			i = s.closeOf(i) + 1
		case t.is(tIdent, "let"):
			i = s.skipLet(i, end)
		case t.Kind == tIdent && guardIdent[t.Text]:
			guard = t.Text
			i++
		case t.Kind == tString && systemRE.MatchString(t.Text):
			guard = t.Text
			if i > 0 && s.code[i-1].punct("!=") {
				guard = "not " + t.Text
			}
			i++
		default:
			i++
		}
	}
	return out
}

var guardIdent = map[string]bool{
	"isDarwin": true, "isLinux": true, "isAarch64": true, "isx86_64": true, "isi686": true, "isx86": true, "isAarch": true,
}

// scanTop calls visit for each token of [i, end) that is not inside a
// bracket group opened in that range (a group is skipped whole), and
// returns the index of the first token for which visit reports true, or
// end.
func (s *source) scanTop(i, end int, visit func(t token) bool) int {
	for j := i; j < end; {
		t := s.code[j]
		if isOpener(t) {
			j = s.closeOf(j) + 1
			continue
		}
		if visit(t) {
			return j
		}
		j++
	}
	return end
}

// skipLet returns the index just after the "in" that closes the let at i.
func (s *source) skipLet(i, end int) int {
	depth := 0
	in := s.scanTop(i, end, func(t token) bool {
		switch {
		case t.is(tIdent, "let"):
			depth++
		case t.is(tIdent, "in"):
			depth--
			return depth == 0
		}
		return false
	})
	if in == end {
		return end
	}
	return in + 1
}

// valueEnd returns the index of the ";" ending a binding's value that starts
// at i, skipping brackets and the ";" of nested let, with and assert.
func (s *source) valueEnd(i, end int) int {
	lets, semis := 0, 0
	return s.scanTop(i, end, func(t token) bool {
		switch {
		case t.is(tIdent, "let"):
			lets++
		case t.is(tIdent, "in"):
			if lets > 0 {
				lets--
			}
		case t.is(tIdent, "with") || t.is(tIdent, "assert"):
			semis++
		case t.punct(";"):
			if lets > 0 {
				return false
			}
			if semis > 0 {
				semis--
				return false
			}
			return true
		}
		return false
	})
}

func (s *source) walkEntries(start, end int, guard string) []*Entry {
	var out []*Entry
	for i := start; i < end; {
		t := s.code[i]
		switch {
		case t.is(tIdent, "inherit"):
			j := i + 1
			var from []token
			if j < end && s.code[j].punct("(") {
				c := s.closeOf(j)
				from = s.code[j+1 : c]
				j = c + 1
			}
			for ; j < end && !s.code[j].punct(";"); j++ {
				n := s.code[j]
				if n.Kind == tIdent || n.Kind == tString {
					out = append(out, s.newEntry(n.Text, n.Line, from, true, guard))
				}
			}
			i = j + 1
		case t.Kind == tIdent || t.Kind == tString:
			j := i + 1
			for j+1 < end && s.code[j].punct(".") {
				if isOpener(s.code[j+1]) {
					j = s.closeOf(j+1) + 1
				} else {
					j += 2
				}
			}
			if j < end && s.code[j].punct("=") {
				k := s.valueEnd(j+1, end)
				out = append(out, s.newEntry(t.Text, t.Line, s.code[j+1:k], false, guard))
				i = k + 1
				continue
			}
			i = j
		case isOpener(t):
			i = s.closeOf(i) + 1
		default:
			i++
		}
	}
	return out
}

func (s *source) newEntry(name string, line int, value []token, inherit bool, guard string) *Entry {
	e := &Entry{Name: name, Line: line, Guard: guard, value: value, inherit: inherit}
	lines, hl := s.commentAbove(line)
	if len(lines) > 0 {
		e.Header = ParseHeader(lines)
		e.HeaderLine = hl
	}
	return e
}

// findPatches reads every "patches = [ ... ]" list: each element is an
// upstream patch applied to a channel, documented by the comments above it.
func (s *source) findPatches() {
	for i := 0; i+2 < len(s.code); i++ {
		if !s.code[i].is(tIdent, "patches") || !s.code[i+1].punct("=") {
			continue
		}
		j := i + 2
		for j < len(s.code) && !s.code[j].punct("[") && !s.code[j].punct(";") {
			j++
		}
		if j >= len(s.code) || !s.code[j].punct("[") {
			continue
		}
		for n, r := range s.listElements(j) {
			name := ""
			var urls []string
			for _, t := range s.code[r[0]:r[1]] {
				if t.Kind == tString && strings.HasPrefix(t.Text, "http") {
					urls = append(urls, t.Text)
				}
				if t.Kind == tURI {
					urls = append(urls, t.Text)
				}
			}
			for k := r[0]; k+2 < r[1]; k++ {
				if s.code[k].is(tIdent, "name") && s.code[k+1].punct("=") && s.code[k+2].Kind == tString {
					name = s.code[k+2].Text
					break
				}
			}
			if name == "" && len(urls) > 0 {
				name = path.Base(urls[0])
			}
			if name == "" {
				name = "patch #" + strconv.Itoa(n+1)
			}
			e := s.newEntry(name, s.code[r[0]].Line, s.code[r[0]:r[1]], false, "")
			e.Kind = KindPatch
			s.Patches = append(s.Patches, e)
		}
	}
}

// binding returns the value tokens of the first "name = ...;" binding in
// the file (a let binding or an attribute), nil when there is none. It is
// how an override's receiver is traced to where it comes from.
func (s *source) binding(name string) []token {
	if s.bindings == nil {
		s.bindings = map[string][]token{}
		for i := 0; i+1 < len(s.code); i++ {
			t := s.code[i]
			if t.Kind != tIdent || !s.code[i+1].punct("=") || (i > 0 && s.code[i-1].punct(".")) {
				continue
			}
			if _, seen := s.bindings[t.Text]; !seen {
				s.bindings[t.Text] = s.code[i+2 : s.valueEnd(i+2, len(s.code))]
			}
		}
	}
	return s.bindings[name]
}

// paragraph is a run of consecutive # comment lines.
type paragraph struct {
	start int
	lines []string
}

// paragraphs returns the file's comment paragraphs in line order.
func (s *source) paragraphs() []paragraph {
	lines := make([]int, 0, len(s.comments))
	for l := range s.comments {
		lines = append(lines, l)
	}
	sort.Ints(lines)
	var out []paragraph
	for _, l := range lines {
		if n := len(out); n > 0 && out[n-1].start+len(out[n-1].lines) == l {
			out[n-1].lines = append(out[n-1].lines, s.comments[l])
			continue
		}
		out = append(out, paragraph{start: l, lines: []string{s.comments[l]}})
	}
	return out
}
