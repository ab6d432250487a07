package hostsh

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestLintFinds(t *testing.T) {
	tests := []struct {
		name, script, word string
		line               int
	}{
		{"setsid", "setsid nohup sh a </dev/null &", "setsid", 1},
		{"flock", "exec 9>>l\nif ! flock -w 3 9; then exit 75; fi", "flock", 2},
		{"timeout", "timeout 5 nix-env -q", "timeout", 1},
		{"stat", "t=$(stat -c %Y /run/current-system)", "stat", 1},
		{"stat in quotes' substitution", `echo "at $(stat -f %m x)"`, "stat", 1},
		{"stat in backticks", "t=`stat -c %Y x`", "stat", 1},
		{"readlink -f", "top=$(readlink -f \"$P\")", "readlink -f", 1},
		{"readlink -f in a cluster", "readlink -nf x", "readlink -f", 1},
		{"mv -T", "ln -sfn a .n && mv -T .n cur", "mv -T", 1},
		{"GNU long option", "mv --no-target-directory a b", "mv --no-target-directory", 1},
		{"long option after keyword", "if cp --reflink=auto a b; then :; fi", "cp --reflink=auto", 1},
		{"sed -i", "sed -i s/a/b/ f", "sed -i", 1},
		{"date -d", "date -d @1 +%s", "date -d", 1},
		{"echo -n", "echo -n x", "echo -n", 1},
		{"/proc", "read -r s < /proc/self/stat", "/proc/self/stat", 1},
		{"/proc in a test", "[ -d /proc ] && echo", "/proc", 1},
		{"[[", "if [[ -e x ]]; then :; fi", "[[", 1},
		{"==", "[ \"$a\" == b ]", "==", 1},
		{"local", "f() { local x=1; }", "local", 1},
		{"source", "source ./env", "source", 1},
		{"function", "function f { :; }", "function", 1},
		{"here-string", "read -r a <<< \"$x\"", "<<<", 1},
		{"&>", "cmd &>/dev/null", "&>", 1},
		{"pattern substitution", "y=${x//a/b}", "${x//a/b}", 1},
		{"substring", "y=${x:1}", "${x:1}", 1},
		{"indirection", "y=${!n}", "${!n}", 1},
		{"$'..'", "nl=$'\\n'", "$'", 1},
		{"array", "a=(1 2)", "a=(", 1},
		{"pipefail", "set -o pipefail", "set -o pipefail", 1},
		{"after an assignment", "LC_ALL=C flock x", "flock", 1},
		{"through a path", "/usr/bin/setsid x", "setsid", 1},
		{"in a here-document's script", "cat > a <<'X'\nsetsid sh b\nX\n", "setsid", 2},
		{"line continuation", "a \\\n&& flock b", "flock", 2},
		{"in an arithmetic-free substitution", "n=$(( 2 + $(nproc) ))", "nproc", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := Lint(tc.script)
			assert.Assert(t, len(ps) >= 1, "nothing found in %q", tc.script)
			assert.Equal(t, ps[0].Word, tc.word, "%v", ps)
			assert.Equal(t, ps[0].Line, tc.line, "%v", ps)
			assert.Assert(t, ps[0].Why != "")
		})
	}
}

// TestLintAllows: what the host scripts do instead is no problem, and
// data (quoted words, comments, arithmetic) is not taken for commands.
func TestLintAllows(t *testing.T) {
	for _, s := range []string{
		`nohup sh "$D/$t.agent" a b </dev/null >"$D/$t.log" 2>&1 &`,
		`trap '' HUP; kill -0 "$pid" 2>/dev/null`,
		`ln -s "$$:$token" "$D/lock" 2>/dev/null`,
		`top=$(cd -P /run/current-system 2>/dev/null && pwd -P)`,
		`nix-env -p "$P" --set "$top" && nix-env -p "$P" --switch-generation 3 --rollback`,
		`exec nix-daemon --stdio`,
		`mv -f -- "$t" "$r"/'a/b'`,
		`rm -f -- --weird-name`,
		`echo "another deployment holds the lock (no flock, no setsid here)" >&2`,
		`# setsid and flock are what this comment is about`,
		`n=$((timeout * 20)); i=$((i + 1))`,
		`timeout=$5 token=$1`,
		`case "$s" in activated*|confirmed*) break ;; esac`,
		`printf '%s\n' "$x" > "$D/s.new"; mv -f "$D/s.new" "$D/s"`,
		`readlink "$P"; l=${l##*/}; l=${l#system-}; echo "${l%-link}" "${x:-d}" "${#x}" ${1+"$@"}`,
		`tar -cf - -C /run current-system`,
		`[ "$a" = b ] && test -e x`,
		`sleep 0.05`,
		`date -u +%Y-%m-%dT%H:%M:%SZ`,
		`grep -q '^# nix-darwin: deprecated$' "$t/activate-user"`,
		"cat > a <<'X'\necho '--flag-like text is data when quoted'\nX\n",
	} {
		assert.Check(t, is.Len(Lint(s), 0), "%s", s)
	}
}

func TestLintProblemString(t *testing.T) {
	p := Lint("\nflock x")[0]
	assert.Equal(t, p.String(), "line 2: flock: "+forbiddenCommands["flock"])
}

func TestCommandRunsScriptWithArgs(t *testing.T) {
	out, err := exec.Command("sh", "-c", Command(`printf '%s|' "$0" "$@"; case ":$PATH:" in *:/nix/var/nix/profiles/default/bin:*) echo nix ;; esac`, "a b", "it's", "")).Output()
	assert.NilError(t, err)
	assert.Equal(t, string(out), "vanixiets|a b|it's||nix\n")
}

func TestSyntax(t *testing.T) {
	ctx := context.Background()
	assert.NilError(t, Syntax(ctx, Prelude+"if [ -e x ]; then echo y; fi"))
	err := Syntax(ctx, "if [ -e x ]; then echo y")
	assert.ErrorContains(t, err, "posh -n")
	assert.ErrorContains(t, err, "dash -n")
}

// FuzzLint: any text is read without a panic, and every problem points at
// a line of it.
func FuzzLint(f *testing.F) {
	for _, s := range []string{"setsid x", "a=$(b \"$(c)\")", "${x//y}", "'unterminated", "\"unterminated $(", "$((", "<<<", "x=(", "`a", "a\\", "#c\nflock"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Count(s, "\n") + 1
		for _, p := range Lint(s) {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem %v outside the script's %d lines", p, lines)
			}
		}
	})
}
