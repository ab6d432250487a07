package cli

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// The justfile mirrors every target of the table: recipe `ns-name` runs
// `scripts/mage ns:name "$@"`. These tests run the real just
// (scripts/install-just.sh), as the user's hands do.

// justBin is the just scripts/install-just.sh installs; the test runs the
// script itself when it is missing (it is idempotent).
func justBin(t *testing.T, repo string) string {
	t.Helper()
	bin := filepath.Join(paths.Tools(), "bin", "just")
	if _, err := os.Stat(bin); err != nil {
		out, err := exec.Command("bash", filepath.Join(repo, "scripts", "install-just.sh")).CombinedOutput()
		assert.NilError(t, err, "scripts/install-just.sh:\n%s", out)
	}
	return bin
}

// justRecipe is what the test reads of a recipe in `just --dump --dump-format json`.
type justRecipe struct {
	Name       string  `json:"name"`
	Body       [][]any `json:"body"` // lines of fragments: text, or an interpolation (an array)
	Parameters []struct {
		Name string `json:"name"`
		Kind string `json:"kind"` // singular, plus, star
	} `json:"parameters"`
}

// mirror is the recipe name of a target: deploy:machine is deploy-machine.
func mirror(target string) string { return strings.ReplaceAll(strings.ToLower(target), ":", "-") }

// mageCall finds the target a recipe line hands to mage.
var mageCall = regexp.MustCompile(`(?:scripts/mage|go tool mage)\s+(\S+)`)

// bodyText is a recipe's body as text, with "{{…}}" for an interpolation.
func bodyText(r justRecipe) string {
	var lines []string
	for _, line := range r.Body {
		var b strings.Builder
		for _, frag := range line {
			if s, ok := frag.(string); ok {
				b.WriteString(s)
			} else {
				b.WriteString("{{…}}")
			}
		}
		lines = append(lines, b.String())
	}
	return strings.Join(lines, "\n")
}

func TestJustfileMirrorsTargets(t *testing.T) {
	skipUnderBazel(t)
	repo := repoRoot(t)
	just := justBin(t, repo)
	cmd := exec.Command(just, "--justfile", filepath.Join(repo, "justfile"), "--dump", "--dump-format", "json")
	out, err := cmd.Output()
	assert.NilError(t, err)
	var dump struct {
		Recipes map[string]justRecipe `json:"recipes"`
		Aliases map[string]struct {
			Target string `json:"target"`
		} `json:"aliases"`
	}
	assert.NilError(t, json.Unmarshal(out, &dump))
	recipes := dump.Recipes
	assert.Assert(t, len(recipes) > 0, "no recipes in the dump:\n%s", out)

	// Every target has its recipe, which hands every argument to it.
	mirrored := map[string]bool{}
	for _, target := range Names() {
		name := mirror(target)
		mirrored[name] = true
		r, ok := recipes[name]
		if !assert.Check(t, ok, "target %s has no recipe %q in the justfile", target, name) {
			continue
		}
		assert.Check(t, len(r.Parameters) == 1 && r.Parameters[0].Kind == "star",
			"recipe %s: want one parameter taking any number of words (*args), have %+v", name, r.Parameters)
		want := "scripts/mage " + target + ` "$@"`
		assert.Check(t, strings.EqualFold(bodyText(r), want), "recipe %s: body %q, want %q", name, bodyText(r), want)
	}

	// Every recipe that calls mage names a target of the table, and a recipe
	// named like a target's mirror is that mirror.
	namespaces := map[string]bool{}
	for _, target := range Names() {
		ns, _, _ := strings.Cut(target, ":")
		namespaces[ns] = true
	}
	for name, r := range recipes {
		for _, m := range mageCall.FindAllStringSubmatch(bodyText(r), -1) {
			assert.Check(t, Lookup(m[1]) != nil, "recipe %s calls %q, which is no target (scripts/mage -l)", name, m[1])
		}
		if ns, _, ok := strings.Cut(name, "-"); ok && namespaces[ns] {
			assert.Check(t, mirrored[name], "recipe %s looks like a target's but there is no target %s", name, strings.Replace(name, "-", ":", 1))
		}
	}
	var aliases []string
	for a, v := range dump.Aliases {
		aliases = append(aliases, a+" -> "+v.Target)
	}
	sort.Strings(aliases)
	t.Logf("%d targets, %d recipes, aliases %v", len(Names()), len(recipes), aliases)
}

// TestJustfilePassesArguments runs recipes for real: each word reaches the
// target as typed (a word with a space stays one word), flags included,
// through a mirror, an alias and the deploy shortcut. Every case is refused
// by the target before it touches anything, naming the word it got.
func TestJustfilePassesArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compiled targets through scripts/mage")
	}
	skipUnderBazel(t)
	repo := repoRoot(t)
	just := justBin(t, repo)
	env := cleanEnv(t.TempDir())
	tests := []struct {
		args []string
		exit int
		want string
	}{
		{args: []string{"ci-explain", "no such job"}, exit: 1, want: `unknown CI job "no such job"`},
		{args: []string{"deploy-machine", "cinnabar", "--dry-run", "--frob"}, exit: 2, want: "deploy:machine: unknown flag --frob"},
		{args: []string{"ci", "--frob"}, exit: 2, want: "ci:run: unknown flag --frob"},
		{args: []string{"deploy", "cinnabar", "--frob"}, exit: 2, want: "deploy:machine: unknown flag --frob"},
		{args: []string{"lab-ssh"}, exit: 2, want: "usage: go tool mage lab:ssh <machine>"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(just, append([]string{"--justfile", filepath.Join(repo, "justfile")}, tc.args...)...)
			cmd.Dir, cmd.Env = repo, env
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			assert.Assert(t, errors.As(err, &ee), "want a refusal, got %v:\n%s", err, out)
			// just reports the recipe's exit code as its own.
			assert.Check(t, is.Equal(ee.ExitCode(), tc.exit), "%s", out)
			assert.Check(t, is.Contains(string(out), tc.want))
		})
	}
}
