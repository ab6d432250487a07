package overlays

import (
	"strings"
)

// tokKind is the coarse class of a Nix token. The checker does not need a
// full Nix grammar: Nix itself checks syntax (nix-instantiate --parse). The
// Go reading only has to find comments, bindings and brackets with their
// lines, so the lexer is forgiving and never fails.
type tokKind int

const (
	tIdent   tokKind = iota // identifiers and keywords
	tString                 // "..." and ''...'' (Text is the raw content)
	tPath                   // ./foo, /abs, <nixpkgs>, a/b
	tURI                    // unquoted URL literals
	tNumber                 //
	tPunct                  // operators and brackets
	tComment                // # line comment (Text without the #) or /* */ block
)

type token struct {
	Kind tokKind
	Text string
	Line int
	// Inner holds the tokens of ${...} antiquotations inside a string, so that
	// references such as "${prev.foo}/bin" are seen by the name scanner.
	Inner []token
}

func (t token) is(kind tokKind, text string) bool { return t.Kind == kind && t.Text == text }
func (t token) punct(text string) bool            { return t.Kind == tPunct && t.Text == text }

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '\'' || c == '-'
}

func isPathChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+'
}

func isURIChar(c byte) bool {
	return isPathChar(c) || strings.IndexByte("%/?:@&=$,!~*'", c) >= 0
}

// lex splits Nix source into tokens. Unterminated strings and comments run to
// the end of the input; unknown bytes become one-byte punctuation.
func lex(src string) []token {
	var l lexer
	l.src = src
	l.line = 1
	return l.run(false)
}

type lexer struct {
	src  string
	pos  int
	line int
}

func (l *lexer) advance(n int) {
	end := l.pos + n
	if end > len(l.src) {
		end = len(l.src)
	}
	l.line += strings.Count(l.src[l.pos:end], "\n")
	l.pos = end
}

// run lexes until the end of input or, when inAntiquote, until the '}' that
// closes the current ${ (which it consumes).
func (l *lexer) run(inAntiquote bool) []token {
	var out []token
	depth := 0
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			end := strings.IndexByte(l.src[l.pos:], '\n')
			if end < 0 {
				end = len(l.src) - l.pos
			}
			out = append(out, token{Kind: tComment, Text: l.src[l.pos+1 : l.pos+end], Line: l.line})
			l.advance(end)
		case c == '/' && strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			n := len(l.src) - l.pos
			if end >= 0 {
				n = end + 4
			}
			text := l.src[l.pos:min(l.pos+n, len(l.src))]
			out = append(out, token{Kind: tComment, Text: text, Line: l.line})
			l.advance(n)
		case c == '"':
			out = append(out, l.dquote())
		case c == '\'' && strings.HasPrefix(l.src[l.pos:], "''"):
			out = append(out, l.indented())
		case inAntiquote && c == '{':
			depth++
			out = append(out, token{Kind: tPunct, Text: "{", Line: l.line})
			l.advance(1)
		case inAntiquote && c == '}':
			if depth == 0 {
				l.advance(1)
				return out
			}
			depth--
			out = append(out, token{Kind: tPunct, Text: "}", Line: l.line})
			l.advance(1)
		case c == '<' && l.pos+1 < len(l.src) && isPathChar(l.src[l.pos+1]):
			end := strings.IndexByte(l.src[l.pos:], '>')
			if end > 0 && !strings.ContainsAny(l.src[l.pos:l.pos+end], " \n\t") {
				out = append(out, token{Kind: tPath, Text: l.src[l.pos : l.pos+end+1], Line: l.line})
				l.advance(end + 1)
				continue
			}
			out = append(out, l.punctTok())
		case isPathChar(c) || c == '/' || c == '~':
			if t, ok := l.pathOrURI(); ok {
				out = append(out, t)
				continue
			}
			if isIdentStart(c) {
				start := l.pos
				for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
					l.pos++
				}
				out = append(out, token{Kind: tIdent, Text: l.src[start:l.pos], Line: l.line})
				continue
			}
			if c >= '0' && c <= '9' {
				start := l.pos
				for l.pos < len(l.src) && (isPathChar(l.src[l.pos])) {
					l.pos++
				}
				out = append(out, token{Kind: tNumber, Text: l.src[start:l.pos], Line: l.line})
				continue
			}
			out = append(out, l.punctTok())
		default:
			out = append(out, l.punctTok())
		}
	}
	return out
}

// pathOrURI recognises path literals (a/b, ./a, /a, ~/a) and URIs
// (scheme:rest) the way Nix's lexer does, so that "final:prev:" without
// spaces is a URI just as Nix sees it.
func (l *lexer) pathOrURI() (token, bool) {
	s := l.src[l.pos:]
	// URI: [a-zA-Z][a-zA-Z0-9+\-.]*:[uri chars]+
	if isIdentStart(s[0]) && s[0] != '_' {
		i := 1
		for i < len(s) && (isIdentStart(s[i]) && s[i] != '_' || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.') {
			i++
		}
		if i < len(s) && s[i] == ':' && i+1 < len(s) && isURIChar(s[i+1]) {
			j := i + 1
			for j < len(s) && isURIChar(s[j]) {
				j++
			}
			t := token{Kind: tURI, Text: s[:j], Line: l.line}
			l.advance(j)
			return t, true
		}
	}
	// Path: [pathchars]* (/[pathchars]+)+ /?  or ~/...
	i := 0
	if s[0] == '~' {
		if len(s) < 2 || s[1] != '/' {
			return token{}, false
		}
		i = 1
	} else {
		for i < len(s) && isPathChar(s[i]) {
			i++
		}
	}
	segs := 0
	for i+1 < len(s) && s[i] == '/' && isPathChar(s[i+1]) {
		i++
		for i < len(s) && isPathChar(s[i]) {
			i++
		}
		segs++
	}
	if segs == 0 {
		return token{}, false
	}
	t := token{Kind: tPath, Text: s[:i], Line: l.line}
	l.advance(i)
	return t, true
}

var puncts = []string{"...", "//", "++", "==", "!=", "<=", ">=", "&&", "||", "->", "${"}

func (l *lexer) punctTok() token {
	for _, p := range puncts {
		if strings.HasPrefix(l.src[l.pos:], p) {
			t := token{Kind: tPunct, Text: p, Line: l.line}
			l.advance(len(p))
			return t
		}
	}
	t := token{Kind: tPunct, Text: l.src[l.pos : l.pos+1], Line: l.line}
	l.advance(1)
	return t
}

func (l *lexer) dquote() token {
	t := token{Kind: tString, Line: l.line}
	l.advance(1)
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\\' && l.pos+1 < len(l.src):
			b.WriteByte(l.src[l.pos+1])
			l.advance(2)
		case c == '"':
			l.advance(1)
			t.Text = b.String()
			return t
		case c == '$' && strings.HasPrefix(l.src[l.pos:], "${"):
			l.advance(2)
			t.Inner = append(t.Inner, l.run(true)...)
			b.WriteString("${…}")
		default:
			b.WriteByte(c)
			l.advance(1)
		}
	}
	t.Text = b.String()
	return t
}

func (l *lexer) indented() token {
	t := token{Kind: tString, Line: l.line}
	l.advance(2)
	var b strings.Builder
	for l.pos < len(l.src) {
		s := l.src[l.pos:]
		switch {
		case strings.HasPrefix(s, "'''"):
			b.WriteString("''")
			l.advance(3)
		case strings.HasPrefix(s, "''$"):
			b.WriteByte('$')
			l.advance(3)
		case strings.HasPrefix(s, "''\\") && len(s) > 3:
			b.WriteByte(s[3])
			l.advance(4)
		case strings.HasPrefix(s, "''"):
			l.advance(2)
			t.Text = b.String()
			return t
		case strings.HasPrefix(s, "${"):
			l.advance(2)
			t.Inner = append(t.Inner, l.run(true)...)
			b.WriteString("${…}")
		default:
			b.WriteByte(s[0])
			l.advance(1)
		}
	}
	t.Text = b.String()
	return t
}
