package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fixture makes a flake directory, a file and a directory to name in
// command lines.
func fixture(t *testing.T) (flake, file, dir string) {
	d := t.TempDir()
	flake = filepath.Join(d, "flake")
	assert.NilError(t, os.Mkdir(flake, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), []byte("{}"), 0o644))
	file = filepath.Join(d, "file")
	assert.NilError(t, os.WriteFile(file, []byte("x"), 0o644))
	return flake, file, d
}

func TestParseAccepts(t *testing.T) {
	flake, file, dir := fixture(t)
	cases := []struct {
		argv    []string
		env     map[string]string
		mage    []string
		words   []string
		command []string
		check   func(t *testing.T, c *Call)
	}{
		{argv: []string{"deploy:machine", "galena", "--dry-run", "--no-provision"}, mage: []string{"deploy:machine", "galena"}, words: []string{"galena"},
			check: func(t *testing.T, c *Call) {
				assert.Check(t, c.Bool("dry-run"))
				assert.Check(t, c.Bool("no-provision"))
				assert.Check(t, !c.Bool("yes"))
			}},
		{argv: []string{"-v", "deploy:machine", "galena", "--timeout=0s", "--mode", "boot"}, mage: []string{"-v", "deploy:machine", "galena"}, words: []string{"galena"},
			check: func(t *testing.T, c *Call) {
				d, ok := c.Duration("timeout")
				assert.Check(t, ok && d == 0)
				assert.Check(t, is.Equal(c.String("mode"), "boot"))
			}},
		{argv: []string{"-t", "5m", "Deploy:Machine", "x", "--flake", flake}, mage: []string{"-t", "5m", "Deploy:Machine", "x"}, words: []string{"x"},
			check: func(t *testing.T, c *Call) { assert.Check(t, is.Equal(c.String("flake"), flake)) }},
		{argv: []string{"deploy:fleet", "@server", "stibnite", "--parallel", "3"}, mage: []string{"deploy:fleet"}, words: []string{"@server", "stibnite"},
			check: func(t *testing.T, c *Call) {
				n, ok := c.Count("parallel")
				assert.Check(t, ok && n == 3)
			}},
		{argv: []string{"tf:destroy", "--yes=false"}, mage: []string{"tf:destroy"},
			check: func(t *testing.T, c *Call) { assert.Check(t, !c.Bool("yes")) }},
		{argv: []string{"tf:apply"}, env: map[string]string{"VANIXIETS_YES": "1"}, mage: []string{"tf:apply"},
			check: func(t *testing.T, c *Call) { assert.Check(t, c.Bool("yes")) }},
		{argv: []string{"tf:apply", "--yes=0"}, env: map[string]string{"VANIXIETS_YES": "1"}, mage: []string{"tf:apply"},
			check: func(t *testing.T, c *Call) { assert.Check(t, !c.Bool("yes"), "the flag wins over the variable") }},
		{argv: []string{"lab:ssh", "cinnabar", "--", "nix", "--version"}, mage: []string{"lab:ssh"}, words: []string{"cinnabar"}, command: []string{"nix", "--version"}},
		{argv: []string{"ci:run", "--force", "go-unit", "--", "--odd-job"}, mage: []string{"ci:run"}, words: []string{"go-unit", "--odd-job"},
			check: func(t *testing.T, c *Call) { assert.Check(t, c.Bool("force")) }},
		{argv: []string{"ci:run", "--junit", filepath.Join(dir, "out.xml")}, mage: []string{"ci:run"}},
		// .ci/run's .work/junit.xml in a fresh clone: the directory is made
		// when the file is written.
		{argv: []string{"ci:run", "--junit", filepath.Join(dir, "new", "sub", "out.xml")}, mage: []string{"ci:run"}},
		{argv: []string{"vars:get", "cinnabar", "openssh/ssh.id_ed25519.pub"}, mage: []string{"vars:get", "cinnabar", "openssh/ssh.id_ed25519.pub"}, words: []string{"cinnabar", "openssh/ssh.id_ed25519.pub"}},
		{argv: []string{"check:overlays", "--max-age", "90d", "--systems", "x86_64-linux,aarch64-darwin", "--flake-root", dir}, mage: []string{"check:overlays"}},
		{argv: []string{"check:fleet", "--flake", "github:owner/repo"}, mage: []string{"check:fleet"}},
		{argv: []string{"check:fleet"}, env: map[string]string{"VANIXIETS_AGE_IDENTITY": "/nonexistent"}, mage: []string{"check:fleet"}},
		{argv: []string{"vars:check"}, env: map[string]string{"VANIXIETS_AGE_IDENTITY": file + ":" + file, "VANIXIETS_HOME": filepath.Join(dir, "newhome")}, mage: []string{"vars:check"}},
		{argv: []string{"-l"}, mage: []string{"-l"}},
		{argv: []string{"-h", "deploy:machine"}, mage: []string{"-h", "deploy:machine"}},
		{argv: []string{}, mage: nil},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			c, err := Parse(append([]string{"mage"}, tc.argv...), func(k string) string { return tc.env[k] })
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(c.MageArgs, append([]string{"mage"}, tc.mage...)))
			assert.Check(t, is.DeepEqual(c.Words, tc.words))
			assert.Check(t, is.DeepEqual(c.Command, tc.command))
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	flake, file, dir := fixture(t)
	cases := []struct {
		argv []string
		env  map[string]string
		want string // regexp over the error text
	}{
		{[]string{"deploy:machine", "galena", "-dry-run", "--no-provision"}, nil, `"-dry-run" has one dash: flags after the target take two, --dry-run`},
		{[]string{"deploy:machine", "a", "b"}, nil, `takes <machine>, got extra "b"`},
		{[]string{"deploy:machine"}, nil, `missing <machine>`},
		{[]string{"deploy:machine", ""}, nil, `an empty word`},
		{[]string{"tf:destroy", "--yes", "extra"}, nil, `takes no words, got "extra"`},
		{[]string{"tf:destroy", "--yes=no"}, nil, `--yes "no": want true, false, 1 or 0`},
		{[]string{"check:fleet", "--yes"}, nil, `check:fleet does not take --yes \(it takes: --flake --verbose\)`},
		{[]string{"check:fleet", "check:flake"}, nil, `one target per call: run check:flake on its own`},
		{[]string{"ci:run", "--forse"}, nil, `unknown flag --forse: did you mean --force\?`},
		{[]string{"ci:run", "--bogus-thing"}, nil, `unknown flag --bogus-thing \(it takes:`},
		{[]string{"ci:plan", "--parallel", "abc"}, nil, `--parallel "abc": want a whole number of at least 1`},
		{[]string{"ci:plan", "--parallel", "-1"}, nil, `--parallel "-1": want a whole number`},
		{[]string{"ci:plan", "--parallel"}, nil, `--parallel needs a value`},
		{[]string{"ci:plan", "--parallel", "--force"}, nil, `--parallel needs a value`},
		{[]string{"ci:plan", "--force", "--force"}, nil, `--force is given twice`},
		{[]string{"deploy:machine", "x", "--timeout="}, nil, `--timeout "": want a duration`},
		{[]string{"deploy:machine", "x", "--timeout", "-5s"}, nil, `--timeout "-5s": want a duration of 0 or more`},
		{[]string{"deploy:machine", "x", "--mode", "swich"}, nil, `want one of switch, boot, test, dry-activate \(did you mean switch\?\)`},
		{[]string{"deploy:machine", "x", "--flake", filepath.Join(dir, "missing")}, nil, `no such directory: pass a flake directory`},
		{[]string{"deploy:machine", "x", "--flake", file}, nil, `is a file: pass the flake's directory`},
		{[]string{"deploy:machine", "x", "--flake", dir}, nil, `has no flake.nix`},
		{[]string{"deploy:machine", "x", "-v"}, nil, `mage's own flag: put it before the target`},
		{[]string{"deploy:machin", "x"}, nil, `unknown target "deploy:machin": did you mean deploy:machine\?`},
		{[]string{"lab:ssh", "cinnabar"}, nil, `no command to run: put it after --`},
		{[]string{"lab:ssh", "cinnabar", "ls"}, nil, `takes <machine>, got extra "ls"`},
		{[]string{"ci:run", "--junit", dir}, nil, `is a directory: name a file in it`},
		{[]string{"ci:run", "--junit", filepath.Join(file, "out.xml")}, nil, `is a file, not a directory`},
		{[]string{"check:overlays", "--max-age", "0d"}, nil, `want days \(90d\)`},
		{[]string{"check:overlays", "--systems", "a,,b"}, nil, `none empty`},
		{[]string{"check:fleet"}, map[string]string{"VANIXIETS_FLAKE": filepath.Join(dir, "typo")}, `VANIXIETS_FLAKE=.*the --flake setting.*no such directory`},
		{[]string{"check:fleet"}, map[string]string{"VANIXIETS_HOME": file}, `VANIXIETS_HOME=.*is a file, not a directory: the cache would be off`},
		{[]string{"check:fleet"}, map[string]string{"VANIXIETS_HOME": filepath.Join(dir, "a", "b")}, `neither does its parent`},
		{[]string{"vars:check"}, map[string]string{"VANIXIETS_AGE_IDENTITY": file + ":" + filepath.Join(dir, "wrong.key")}, `VANIXIETS_AGE_IDENTITY=.*wrong.key: no such file`},
		{[]string{"ci:run"}, map[string]string{"CI_FORCE_RUN": "yes"}, `CI_FORCE_RUN="yes" \(the --force setting\): want true, false, 1 or 0`},
		{[]string{"ci:run"}, map[string]string{"VANIXIETS_REMOTE_CACHE": "localhost:9092"}, `want http://host:port`},
		{[]string{"lab:up"}, map[string]string{"VANIXIETS_LAB_RANGE": "10.237.0.0"}, `want an IPv4 range`},
		{[]string{"tf:plan"}, map[string]string{"VANIXIETS_TF_STATE": filepath.Join(dir, "typo.age")}, `VANIXIETS_TF_STATE=.*no such state file.*VANIXIETS_TF_STATE_NEW=1`},
		{[]string{"deploy:fleet", "--parallel=0"}, nil, `--parallel "0"`},
		{[]string{"deploy:machine", "x", "--flake", flake, "--", "y"}, nil, `got extra "y"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			_, err := Parse(append([]string{"mage"}, tc.argv...), func(k string) string { return tc.env[k] })
			var ue *UsageError
			assert.Assert(t, errors.As(err, &ue), "accepted: %v", err)
			assert.Check(t, is.Regexp(tc.want, err.Error()))
			if ue.Target != nil {
				assert.Check(t, is.Contains(err.Error(), "\nusage: go tool mage "+ue.Target.Name))
			}
		})
	}
}

// TestTableShape keeps the table consistent: each target's mage
// parameters are among its required words, flag names unique, --verbose
// everywhere, --mode equal to what activation knows.
func TestTableShape(t *testing.T) {
	seen := map[string]bool{}
	for _, tg := range Targets {
		assert.Check(t, !seen[tg.Name], tg.Name)
		seen[tg.Name] = true
		assert.Check(t, tg.Name == strings.ToLower(tg.Name), tg.Name)
		assert.Check(t, tg.Params <= tg.Min, tg.Name)
		assert.Check(t, tg.Max < 0 || tg.Min <= tg.Max, tg.Name)
		assert.Check(t, (tg.Min > 0 || tg.Max != 0) == (tg.Args != ""), "%s: Args describes its words", tg.Name)
		fl := map[string]bool{}
		for _, f := range tg.Flags {
			assert.Check(t, !fl[f.Name], "%s --%s twice", tg.Name, f.Name)
			fl[f.Name] = true
			assert.Check(t, f.Kind != Mode || len(f.Modes) > 0)
		}
		assert.Check(t, fl["verbose"], tg.Name)
		assert.Check(t, regexp.MustCompile(`^go tool mage [a-z]+:[a-z]+`).MatchString(tg.Usage()))
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour} {
		got, err := ParseAge(in)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(got, want), in)
	}
	for _, in := range []string{"", "0d", "-1w", "d", "1y", "-5h", "9999999999d"} {
		_, err := ParseAge(in)
		assert.Check(t, err != nil, in)
	}
}

// FuzzParse: any command line either parses into a Call whose mage
// arguments are a prefix-preserving subset of the input with the target's
// parameters, or is refused with a UsageError; never a panic or another
// error, and an accepted bool flag is one of the four spellings.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"deploy:machine galena -dry-run --no-provision",
		"tf:destroy --yes=no",
		"lab:ssh m -- ls -l",
		"-t 5m ci:run --parallel 2 a b",
		"vars:get a b",
		"-l",
		"ci:run -- --x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv := append([]string{"mage"}, strings.Split(line, " ")...)
		c, err := Parse(argv, func(string) string { return "" })
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) || ue.Error() == "" {
				t.Fatalf("%q: %T %v", line, err, err)
			}
			return
		}
		if c.Target == nil {
			return
		}
		if len(c.MageArgs) < 2 || len(c.MageArgs) > len(argv) {
			t.Fatalf("%q: mage args %q", line, c.MageArgs)
		}
		if got := len(c.Words); got < c.Target.Min || (c.Target.Max >= 0 && got > c.Target.Max) {
			t.Fatalf("%q: %d words for %s", line, got, c.Target.Name)
		}
		for k, v := range c.flags {
			if f := c.Target.flag(k); f == nil {
				t.Fatalf("%q: flag %s not in the table", line, k)
			} else if f.Kind == Bool && v != "true" && v != "false" && v != "1" && v != "0" {
				t.Fatalf("%q: bool %s=%q", line, k, v)
			}
		}
	})
}
