package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// The front doors under bad input: every case of testdata/badinput.txt is
// run against the compiled targets, as a user types it, and must be CLEAR:
// the expected non-zero exit, a message naming the problem and the fix
// (the case's pattern), and nothing changed on disk (the repository tree,
// the private cache and lab directories, the state files).

// badCase is one line of a case file: `exit | pattern | [VAR=value ...] target words...`.
type badCase struct {
	line    int
	exit    int
	pattern *regexp.Regexp
	env     []string
	argv    []string
}

func readCases(t *testing.T, file string, subst map[string]string) []badCase {
	f, err := os.Open(file)
	assert.NilError(t, err)
	defer f.Close()
	var cases []badCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, " | ", 3)
		assert.Assert(t, len(parts) == 3, "%s:%d: want `exit | pattern | command`", file, n)
		code, err := strconv.Atoi(strings.TrimSpace(parts[0]))
		assert.NilError(t, err, "%s:%d", file, n)
		c := badCase{line: n, exit: code, pattern: regexp.MustCompile(parts[1])}
		for _, w := range strings.Fields(parts[2]) {
			for k, v := range subst {
				w = strings.ReplaceAll(w, k, v)
			}
			if w == "''" {
				w = ""
			}
			if len(c.argv) == 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(w) {
				c.env = append(c.env, w)
				continue
			}
			c.argv = append(c.argv, w)
		}
		cases = append(cases, c)
	}
	assert.NilError(t, sc.Err())
	return cases
}

// repoRoot is the checkout holding this package.
func repoRoot(t *testing.T) string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	assert.NilError(t, err)
	return r
}

// skipUnderBazel: the front-door tests compile the magefiles with `go tool
// mage` in the checkout and run the targets against its lab flake; Bazel's
// sandbox holds neither the module tree nor the go tool. CI's go-unit job
// (`go test ./...`) runs them.
func skipUnderBazel(t *testing.T) {
	t.Helper()
	if os.Getenv("TEST_SRCDIR") != "" {
		t.Skip("compiles the magefiles from the checkout with the go tool: run with go test")
	}
}

// treeStamps maps every file under the roots (skipping .git, .work and
// Bazel's output links) to its type, size and modification time: any
// write, creation or removal shows.
func treeStamps(roots ...string) map[string]string {
	m := map[string]string{}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			name := d.Name()
			if d.IsDir() && (name == ".git" || name == ".work" || strings.HasPrefix(name, "bazel-")) {
				return filepath.SkipDir
			}
			if name == "mage_output_file.go" {
				return nil // mage's transient file while someone compiles
			}
			// Memos of how things were measured, not results: the
			// installed nix's version and the file stat cache.
			if d.IsDir() && name == "statcache" {
				return filepath.SkipDir
			}
			if name == "versions.json" && filepath.Base(filepath.Dir(p)) == "nix" {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if d.IsDir() {
				// A directory is its entries, each stamped on its own: its
				// mtime moves whenever a skipped transient file comes or
				// goes (mage_output_file.go of another job's compile: the
				// fresh machine's CI once saw magefiles/ "changed").
				m[p] = fmt.Sprintf("%v", info.Mode())
				return nil
			}
			m[p] = fmt.Sprintf("%v %d %d", info.Mode(), info.Size(), info.ModTime().UnixNano())
			return nil
		})
	}
	return m
}

// treeDigest is a digest of treeStamps.
func treeDigest(roots ...string) string {
	st := treeStamps(roots...)
	keys := slices.Sorted(maps.Keys(st))
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\n", k, st[k])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// fixtures makes what the cases name: $TMP/file, $TMP/dir (no flake),
// $TMP/nofleet (a flake with no fleet output), $TMP/outside/lab (the lab
// flake copied out of git), $TMP/wrong.key (a valid age key no secret is
// encrypted to).
func fixtures(t *testing.T, root string) string {
	d := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(d, "file"), []byte("x\n"), 0o644))
	assert.NilError(t, os.Mkdir(filepath.Join(d, "dir"), 0o755))
	assert.NilError(t, os.MkdirAll(filepath.Join(d, "nofleet"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(d, "nofleet", "flake.nix"), []byte("{ outputs = { self }: { hello = 1; }; }\n"), 0o644))
	assert.NilError(t, os.MkdirAll(filepath.Join(d, "outside"), 0o755))
	cp := exec.Command("cp", "-r", filepath.Join(root, "lab"), filepath.Join(d, "outside", "lab"))
	out, err := cp.CombinedOutput()
	assert.NilError(t, err, string(out))
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(d, "wrong.key"), []byte(id.String()+"\n"), 0o600))
	return d
}

// cleanEnv is the process environment without the suite's variables, plus
// a private home, cache and lab (a name and range no other lab uses), so
// that a case that wrongly went ahead could not touch anyone's state.
func cleanEnv(home string) []string {
	var env []string
	for _, kv := range adminkeystest.Env(os.Environ()) {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "VANIXIETS_") || strings.HasPrefix(k, "HCLOUD_") || k == "CI_FORCE_RUN" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "VANIXIETS_HOME="+home, "VANIXIETS_TOOLS="+paths.Tools(),
		"VANIXIETS_LAB_NAME=vxbad", "VANIXIETS_LAB_RANGE=10.239.128.0/24", "VANIXIETS_LAB_DIR="+filepath.Join(home, "lab"),
		"VANIXIETS_NONINTERACTIVE=1")
}

// runCases runs each case and reports the count by verdict.
func runCases(t *testing.T, bin, root string, cases []badCase, env []string, watched []string, extraCheck func() string) {
	verdicts := map[string]int{}
	for _, c := range cases {
		name := fmt.Sprintf("%d:%s", c.line, strings.Join(c.argv, " "))
		t.Run(name, func(t *testing.T) {
			before, beforeExtra := treeStamps(watched...), ""
			if extraCheck != nil {
				beforeExtra = extraCheck()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, c.argv...)
			cmd.Dir = root
			cmd.Env = append(append([]string{}, env...), c.env...)
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				assert.NilError(t, err)
			}
			verdict := "CLEAR"
			switch {
			case code == 0:
				verdict = "WRONG (exit 0)"
			case len(treetest.Changed(before, treeStamps(watched...))) > 0 || (extraCheck != nil && extraCheck() != beforeExtra):
				verdict = "WRONG (changed something)"
				t.Logf("changed: %v", treetest.Changed(before, treeStamps(watched...)))
			case strings.Contains(string(out), "goroutine ") || strings.Contains(string(out), "panic:"):
				verdict = "RAW (panic)"
			case code != c.exit || !c.pattern.Match(out):
				verdict = "VAGUE"
			}
			verdicts[verdict]++
			assert.Check(t, is.Equal(verdict, "CLEAR"), "exit %d (want %d), want /%s/ in:\n%s", code, c.exit, c.pattern, out)
		})
	}
	t.Logf("%d cases by verdict: %v", len(cases), verdicts)
}

// TestBadInput runs testdata/badinput.txt (no root, no lab needed).
func TestBadInput(t *testing.T) {
	skipUnderBazel(t)
	if testing.Short() {
		t.Skip("compiles the targets")
	}
	if _, err := exec.LookPath("nix"); err != nil {
		t.Skip("nix not installed (scripts/setup.sh)")
	}
	root := repoRoot(t)
	tmp := fixtures(t, root)
	home := t.TempDir()
	cases := readCases(t, filepath.Join("testdata", "badinput.txt"), map[string]string{"$TMP": tmp, "$REPO": root, "$HOME": home})
	assert.Assert(t, len(cases) >= 120, "the issue asks for at least 120 cases, have %d", len(cases))
	bin := labtest.CompiledTargets(t)
	// Warm the private cache with the lab fleet (as any earlier run
	// would have), so that a refusal that loads it writes nothing.
	warm := exec.Command(bin, "check:fleet")
	warm.Dir, warm.Env = root, cleanEnv(home)
	out, err := warm.CombinedOutput()
	assert.NilError(t, err, string(out))
	runCases(t, bin, root, cases, cleanEnv(home), []string{root, home, tmp}, nil)
}

// TestTableMatchesMage: the table names exactly the targets mage has.
func TestTableMatchesMage(t *testing.T) {
	skipUnderBazel(t)
	if testing.Short() {
		t.Skip("compiles the targets")
	}
	bin := labtest.CompiledTargets(t)
	out, err := exec.Command(bin, "-l").CombinedOutput()
	assert.NilError(t, err, string(out))
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(f[0], ":") && l[0] == ' ' {
			got = append(got, strings.ToLower(f[0]))
		}
	}
	assert.DeepEqual(t, got, Names())
}
