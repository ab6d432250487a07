package hostsh

import (
	"fmt"
	"regexp"
	"strings"
)

// Problem is one construct a host script must not use.
type Problem struct {
	Line int    // 1-based line of the script
	Word string // what was found
	Why  string // why not, and what to use instead
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s: %s", p.Line, p.Word, p.Why) }

// forbiddenCommands are commands a Mac does not have (or has with other
// options than NixOS's), and shell builtins POSIX sh lacks.
var forbiddenCommands = map[string]string{
	"setsid":    "util-linux, not on macOS: start the child under nohup with its stdio closed",
	"flock":     "util-linux, not on macOS: take a lock with ln -s (atomic; fails when the name exists)",
	"timeout":   "GNU coreutils, not on macOS: poll with sleep and a count, or kill a background sleeper",
	"realpath":  "not on older macOS: cd -P \"$d\" && pwd -P",
	"stat":      "GNU stat -c and BSD stat -f share no format: read a link's time from tar's header, a link's target with readlink",
	"getent":    "not on macOS: read the file, or let chown resolve the name",
	"sha256sum": "not on macOS (shasum -a 256 is, not on NixOS): compute digests on the deployer",
	"md5sum":    "not on macOS: compute digests on the deployer",
	"tac":       "GNU coreutils, not on macOS",
	"nproc":     "GNU coreutils, not on macOS",
	"stdbuf":    "GNU coreutils, not on macOS",
	"runuser":   "util-linux, not on macOS",
	"[[":        "bash/ksh, not POSIX sh: use [ ]",
	"function":  "bash/ksh, not POSIX sh: name() { ...; }",
	"source":    "bash, not POSIX sh: use .",
	"local":     "not POSIX sh: use distinct global names",
	"declare":   "bash, not POSIX sh",
	"typeset":   "ksh/bash, not POSIX sh",
	"let":       "bash/ksh, not POSIX sh: use $(( ))",
	"shopt":     "bash, not POSIX sh",
	"mapfile":   "bash, not POSIX sh",
	"readarray": "bash, not POSIX sh",
	"pushd":     "bash, not POSIX sh: use cd in a subshell",
	"popd":      "bash, not POSIX sh",
	"select":    "bash/ksh, not POSIX sh",
}

// forbiddenOptions are short options whose meaning is GNU's alone (or
// differs on a Mac), per command.
var forbiddenOptions = map[string]map[byte]string{
	"readlink": {'f': "readlink -f is GNU (macOS before 12.3 lacks it): (cd -P \"$l\" && pwd -P)", 'e': "readlink -e is GNU", 'm': "readlink -m is GNU"},
	"mv":       {'T': "mv -T is GNU: rename onto a name that is not a directory (or a link to one)"},
	"ln":       {'T': "ln -T is GNU"},
	"cp":       {'T': "cp -T is GNU"},
	"sed":      {'i': "sed -i differs between GNU and BSD: write a temporary file and mv it", 'r': "sed -r is GNU: use -E"},
	"grep":     {'P': "grep -P is GNU"},
	"date":     {'d': "date -d is GNU (BSD's is -j -f)"},
	"xargs":    {'r': "xargs -r is GNU", 'd': "xargs -d is GNU"},
	"echo":     {'n': "echo's options are not portable (macOS's sh prints -n): use printf", 'e': "echo's options are not portable: use printf"},
}

// keywords may stand before a command's name.
var keywords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true, "done": true,
	"while": true, "until": true, "!": true, "{": true, "}": true, "exec": true, "nohup": true,
	"command": true, "time": true, "in": true, "esac": true,
}

var assignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// Lint reports the constructs of script that a Mac's /bin/sh or its
// utilities do not have (the package comment lists them). It reads the
// script as sh does, closely enough for scripts written for it: words,
// quotes, comments, command substitutions (linted as scripts of their
// own) and arithmetic; it runs nothing. Words inside quotes are data, not
// commands: a message may say "flock"; a command may not be flock.
func Lint(script string) []Problem {
	l := &lexer{s: script, line: 1}
	l.run()
	return l.problems
}

type word struct {
	raw    string // as written, quotes included
	quoted bool   // begins with a quote or an expansion: not a literal name or option
	line   int
}

type lexer struct {
	s        string
	i        int
	line     int
	cur      []word
	w        strings.Builder
	wq       bool // the word being read began quoted
	wline    int
	problems []Problem
}

func (l *lexer) problem(line int, w, why string) {
	l.problems = append(l.problems, Problem{Line: line, Word: w, Why: why})
}

func (l *lexer) peek(k int) byte {
	if l.i+k < len(l.s) {
		return l.s[l.i+k]
	}
	return 0
}

// endWord closes the word being read.
func (l *lexer) endWord() {
	if l.w.Len() == 0 {
		return
	}
	raw := l.w.String()
	if strings.Contains(raw, "/proc/") || strings.HasSuffix(raw, "/proc") {
		l.problem(l.wline, raw, "/proc is Linux's: a Mac has none")
	}
	l.cur = append(l.cur, word{raw: raw, quoted: l.wq, line: l.wline})
	l.w.Reset()
	l.wq = false
}

// add appends text to the word being read (starting it when empty).
func (l *lexer) add(text string, quoted bool) {
	if l.w.Len() == 0 {
		l.wq = quoted
		l.wline = l.line
	}
	l.w.WriteString(text)
}

// endCmd closes the simple command being read and checks it.
func (l *lexer) endCmd() {
	l.endWord()
	l.check(l.cur)
	l.cur = nil
}

func (l *lexer) run() {
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == '\\' && l.peek(1) == '\n':
			l.i += 2
			l.line++
		case c == '\\':
			l.add(l.s[l.i:min(l.i+2, len(l.s))], false)
			l.i += 2
		case c == ' ' || c == '\t' || c == '\r':
			l.endWord()
			l.i++
		case c == '\n':
			l.endCmd()
			l.line++
			l.i++
		case c == '#' && l.w.Len() == 0:
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
		case c == ';' || c == '|' || c == '(' || c == ')':
			if c == '(' && l.w.Len() > 0 && strings.HasSuffix(l.w.String(), "=") {
				l.problem(l.line, l.w.String()+"(", "arrays are bash/ksh, not POSIX sh")
			}
			l.endCmd()
			l.i++
		case c == '&':
			if l.peek(1) == '>' {
				l.problem(l.line, "&>", "bash, not POSIX sh: use >file 2>&1")
			}
			l.endCmd()
			l.i++
		case c == '>' || c == '<':
			l.redirect()
		case c == '\'':
			j := strings.IndexByte(l.s[l.i+1:], '\'')
			end := len(l.s)
			if j >= 0 {
				end = l.i + 1 + j + 1
			}
			l.add(l.s[l.i:end], true)
			l.line += strings.Count(l.s[l.i:end], "\n")
			l.i = end
		case c == '"':
			l.dquote()
		case c == '`':
			l.backquote()
		case c == '$':
			l.dollar(false)
		default:
			if (c >= '0' && c <= '9') && (l.peek(1) == '>' || l.peek(1) == '<') && l.w.Len() == 0 {
				l.i++ // an fd number before a redirection
				continue
			}
			l.add(string(c), false)
			l.i++
		}
	}
	l.endCmd()
}

// redirect reads a redirection operator and its target word, which is not
// part of the command's words. A here-document's body is read on as
// script lines (the agent travels as one: it is checked like the rest).
func (l *lexer) redirect() {
	l.endWord()
	if strings.HasPrefix(l.s[l.i:], "<<<") {
		l.problem(l.line, "<<<", "here-strings are bash/ksh, not POSIX sh: use a here-document or printf |")
	}
	for l.i < len(l.s) && strings.IndexByte("<>&|-", l.s[l.i]) >= 0 {
		l.i++
	}
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t') {
		l.i++
	}
	// The target: read as a word, then dropped.
	keep := l.cur
	l.cur = nil
	for l.i < len(l.s) {
		c := l.s[l.i]
		if c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == ')' || c == '(' || c == '<' || c == '>' {
			break
		}
		switch c {
		case '\'':
			j := strings.IndexByte(l.s[l.i+1:], '\'')
			end := len(l.s)
			if j >= 0 {
				end = l.i + 1 + j + 1
			}
			l.add(l.s[l.i:end], true)
			l.i = end
		case '"':
			l.dquote()
		case '$':
			l.dollar(false)
		default:
			l.add(string(c), false)
			l.i++
		}
	}
	l.endWord()
	l.cur = keep
}

// dquote reads a double-quoted string into the word; the command
// substitutions in it are linted.
func (l *lexer) dquote() {
	l.add(`"`, true)
	l.i++
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == '\\':
			l.add(l.s[l.i:min(l.i+2, len(l.s))], true)
			if l.peek(1) == '\n' {
				l.line++
			}
			l.i += 2
		case c == '"':
			l.add(`"`, true)
			l.i++
			return
		case c == '$':
			l.dollar(true)
		case c == '`':
			l.backquote()
		default:
			if c == '\n' {
				l.line++
			}
			l.add(string(c), true)
			l.i++
		}
	}
}

// backquote reads a `...` command substitution (outside or inside double
// quotes alike) into the word; its inside is linted as a script. An
// unclosed one runs to the end of the text, as sh would read it.
func (l *lexer) backquote() {
	j := strings.IndexByte(l.s[l.i+1:], '`')
	end := len(l.s)
	if j >= 0 {
		end = l.i + 1 + j + 1
	}
	l.sub(l.s[l.i+1 : max(l.i+1, end-1)])
	l.add(l.s[l.i:end], true)
	l.line += strings.Count(l.s[l.i:end], "\n")
	l.i = end
}

// paramRE matches the parameter expansions POSIX sh lacks: ${!x},
// ${x/a/b} and ${x//a/b}, ${x:1} and ${x: -1}.
var paramRE = regexp.MustCompile(`^\$\{(!|[A-Za-z_][A-Za-z0-9_]*(/|:[ 0-9]))`)

// dollar reads an expansion starting at '$': $(( )) arithmetic, $( )
// command substitution (linted as a script), ${ } parameter expansion,
// $'..' (bash), or a plain $name.
func (l *lexer) dollar(inQuotes bool) {
	rest := l.s[l.i:]
	switch {
	case strings.HasPrefix(rest, "$(("):
		end := matchParen(rest, 1)
		// Arithmetic: its words are names, not commands, but a command
		// substitution in it runs.
		for a := rest[3:max(3, end-2)]; ; {
			k := strings.Index(a, "$(")
			if k < 0 {
				break
			}
			if strings.HasPrefix(a[k:], "$((") {
				a = a[k+3:]
				continue
			}
			e := matchParen(a[k:], 1)
			l.sub(a[k+2 : k+max(2, e-1)])
			a = a[k+e:]
		}
		l.add(rest[:end], true)
		l.line += strings.Count(rest[:end], "\n")
		l.i += end
	case strings.HasPrefix(rest, "$("):
		end := matchParen(rest, 1)
		inner := rest[2:max(2, end-1)]
		l.sub(inner)
		l.add(rest[:end], true)
		l.line += strings.Count(rest[:end], "\n")
		l.i += end
	case strings.HasPrefix(rest, "${"):
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			end = len(rest) - 1
		}
		if paramRE.MatchString(rest) {
			l.problem(l.line, rest[:end+1], "bash/ksh expansion, not POSIX sh: use ${x#..}, ${x%..}, or sed/tr")
		}
		l.add(rest[:end+1], true)
		l.i += end + 1
	case strings.HasPrefix(rest, "$'") && !inQuotes:
		l.problem(l.line, "$'", "$'..' is bash/ksh, not POSIX sh: use printf")
		l.add("$", true)
		l.i++
	default:
		l.add("$", true)
		l.i++
	}
}

// sub lints a command substitution's text as a script of its own, its
// problems at its lines in the enclosing script.
func (l *lexer) sub(inner string) {
	for _, p := range Lint(inner) {
		p.Line += l.line - 1
		l.problems = append(l.problems, p)
	}
}

// matchParen returns the index just past the ')' closing the '(' at s[open]
// (nesting and quotes respected), or len(s).
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return len(s)
			}
			i += j + 1
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// check looks at one simple command: its name, then its options.
func (l *lexer) check(cmd []word) {
	i := 0
	for i < len(cmd) && !cmd[i].quoted && (keywords[cmd[i].raw] || assignRE.MatchString(cmd[i].raw)) {
		i++
	}
	if i >= len(cmd) || cmd[i].quoted {
		return
	}
	name := cmd[i].raw
	if name == "for" || name == "case" {
		return
	}
	base := name[strings.LastIndexByte(name, '/')+1:]
	if why, bad := forbiddenCommands[base]; bad {
		l.problem(cmd[i].line, base, why)
		return
	}
	if strings.HasPrefix(base, "nix") {
		return // Nix's own options are the same everywhere
	}
	for _, a := range cmd[i+1:] {
		if a.quoted {
			continue
		}
		if a.raw == "--" {
			break
		}
		switch {
		case base == "set" && a.raw == "pipefail":
			l.problem(a.line, "set -o pipefail", "bash/ksh, not POSIX sh (bash 3.2 has it, dash and posh do not)")
		case (base == "[" || base == "test") && a.raw == "==":
			l.problem(a.line, "==", "test's == is bash's: use =")
		case strings.HasPrefix(a.raw, "--") && len(a.raw) > 2:
			l.problem(a.line, base+" "+a.raw, "GNU long option: macOS's "+base+" has none; use the short POSIX option")
		case len(a.raw) > 1 && a.raw[0] == '-' && isLetters(a.raw[1:]):
			for j := 1; j < len(a.raw); j++ {
				if why, bad := forbiddenOptions[base][a.raw[j]]; bad {
					l.problem(a.line, base+" -"+string(a.raw[j]), why)
				}
			}
		}
	}
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
			return false
		}
	}
	return true
}
