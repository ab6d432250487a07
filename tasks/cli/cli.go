// Package cli checks a whole command line of the suite's targets before any
// of them runs. Mage's own model is several targets per call, each run
// before the next word is looked at: `deploy:machine galena -dry-run`
// deployed galena and only then refused "-dry-run". Parse reads the line
// against Targets, the one table of every target's positional words, flags
// and environment, checks every value (booleans, durations, counts, modes,
// paths that must exist), and either returns a Call for the target to read
// or a *UsageError naming the problem, the fix and the target's usage line.
// The magefiles call Parse from an init function, so a refusal happens
// before mage's generated main has started anything; they exit ExitUsage.
package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ExitUsage is the exit code of a refused command line (as flag.Parse).
const ExitUsage = 2

// Target is one mage target as a user types it.
type Target struct {
	// Name is namespace:target as `mage -l` prints it, lower case.
	Name string
	// Args is the usage of the positional words ("<machine>",
	// "[job...]"); Min and Max bound their count (Max < 0: any number).
	Args     string
	Min, Max int
	// Params is how many positional words mage itself must receive: the
	// target function's string parameters. The others reach the target
	// through Call.Words.
	Params int
	// Command: words after `--` are a command to run (lab:ssh), and at
	// least one is required. Otherwise words after `--` are positional
	// words even when they start with a dash.
	Command bool
	// Flags the target takes (each with its environment fallback).
	Flags []Flag
	// Env are further environment variables the target reads; they are
	// checked like flag values.
	Env []EnvVar
	// Summary is one line saying what the target does (for the usage line).
	Summary string
}

// Flag is a `--name` flag with the kind of value it takes.
type Flag struct {
	Name string
	Spec
	// Env is the variable read when the flag is not given ("" none).
	Env string
}

// EnvVar is an environment variable a target reads. Empty counts as unset.
type EnvVar struct {
	Name string
	Spec
}

// Usage is the target's usage line: `go tool mage <name> <args> [flags]`.
func (t *Target) Usage() string {
	var b strings.Builder
	b.WriteString("go tool mage " + t.Name)
	if t.Args != "" {
		b.WriteString(" " + t.Args)
	}
	for _, f := range t.Flags {
		if f.Kind == Bool {
			fmt.Fprintf(&b, " [--%s]", f.Name)
		} else {
			fmt.Fprintf(&b, " [--%s %s]", f.Name, f.meta())
		}
	}
	if t.Command {
		b.WriteString(" -- <command...>")
	}
	return b.String()
}

func (t *Target) flag(name string) *Flag {
	for i := range t.Flags {
		if t.Flags[i].Name == name {
			return &t.Flags[i]
		}
	}
	return nil
}

// UsageError is a refused command line. Its text names the problem and
// the fix, then the target's usage line.
type UsageError struct {
	Target *Target // nil when the target itself is unknown
	Msg    string
}

func (e *UsageError) Error() string {
	if e.Target == nil {
		return e.Msg
	}
	return e.Msg + "\nusage: " + e.Target.Usage()
}

// Call is a checked command line.
type Call struct {
	// Target is nil when mage is asked to list targets or show help, or no
	// target was given: then mage's own handling applies.
	Target *Target
	// MageArgs is the argument vector to give mage's generated main: the
	// program, mage's own flags, the target and its Params words.
	MageArgs []string
	// Words are the positional words (all of them, Params included).
	Words []string
	// Command is what followed `--` for a Command target.
	Command []string
	flags   map[string]string
	getenv  func(string) string
}

// Given reports whether --name was on the command line.
func (c *Call) Given(name string) bool {
	_, ok := c.flags[name]
	return ok
}

// String is the value of --name, else of its environment variable, else "".
func (c *Call) String(name string) string {
	if v, ok := c.flags[name]; ok {
		return v
	}
	if c.Target != nil {
		if f := c.Target.flag(name); f != nil && f.Env != "" && c.getenv != nil {
			return c.getenv(f.Env)
		}
	}
	return ""
}

// Bool is the checked boolean value of --name (or its variable).
func (c *Call) Bool(name string) bool {
	b, _ := parseBool(c.String(name))
	return b
}

// Duration is --name as a duration; ok is false when neither the flag nor
// its variable is set.
func (c *Call) Duration(name string) (d time.Duration, ok bool) {
	v := c.String(name)
	if v == "" {
		return 0, false
	}
	d, err := ParseDuration(v)
	return d, err == nil
}

// Count is --name as a positive count; ok is false when unset.
func (c *Call) Count(name string) (n int, ok bool) {
	v := c.String(name)
	if v == "" {
		return 0, false
	}
	n, err := parseCount(v)
	return n, err == nil
}

// Env is the value of a variable the target declared (checked), or "".
func (c *Call) Env(name string) string {
	if c.getenv == nil {
		return ""
	}
	return c.getenv(name)
}

// Lookup finds a target by name, case-insensitively, as mage does.
func Lookup(name string) *Target {
	name = strings.ToLower(name)
	for i := range Targets {
		if Targets[i].Name == name {
			return &Targets[i]
		}
	}
	return nil
}

// Names lists every target name, sorted.
func Names() []string {
	var n []string
	for _, t := range Targets {
		n = append(n, t.Name)
	}
	sort.Strings(n)
	return n
}

// closest returns the candidate nearest to s by edit distance, when near
// enough to be a typo of it.
func closest(s string, cands []string) string {
	best, bestD := "", 1<<30
	for _, c := range cands {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= 2 || (bestD <= len(s)/3 && bestD <= 4) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
