package cli

import (
	"fmt"
	"strings"
)

// mageValueFlags are mage's own flags (before the target) that take a
// value; -v, -l and -h stand alone.
var mageValueFlags = map[string]bool{"-t": true, "--t": true}

// mageFlags are every flag of mage's compiled main, for the hint when one
// is typed after the target.
var mageFlags = map[string]bool{"-v": true, "-l": true, "-h": true, "-t": true}

// Parse checks argv (os.Args of mage's compiled main: the program, mage's
// own flags, the target, its words and flags) and the environment read
// through getenv. Nothing is run: the caller hands Call.MageArgs to mage.
func Parse(argv []string, getenv func(string) string) (*Call, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := &Call{flags: map[string]string{}, getenv: getenv}
	if len(argv) == 0 {
		return c, nil
	}
	i := 1
	help := false
	for ; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name, _, hasV := strings.Cut(a, "=")
		switch name {
		case "-l", "--l", "-h", "--h":
			help = true
		}
		if mageValueFlags[name] && !hasV {
			i++
		}
	}
	if help || i >= len(argv) {
		// mage lists the targets or shows a target's help: nothing runs.
		c.MageArgs = append([]string{}, argv...)
		return c, nil
	}
	name := argv[i]
	t := Lookup(name)
	if t == nil {
		msg := fmt.Sprintf("unknown target %q", name)
		var inNS []string
		for _, n := range Names() {
			if strings.HasPrefix(n, strings.ToLower(name)+":") {
				inNS = append(inNS, n)
			}
		}
		if len(inNS) > 0 {
			msg += fmt.Sprintf(": %s is a namespace; its targets: %s", name, strings.Join(inNS, ", "))
		} else if s := closest(strings.ToLower(name), Names()); s != "" {
			msg += fmt.Sprintf(": did you mean %s?", s)
		}
		return nil, &UsageError{Msg: msg + " (go tool mage -l lists the targets)"}
	}
	c.Target = t
	mageArgs := append([]string{}, argv[:i+1]...)
	bad := func(format string, a ...any) (*Call, error) {
		return nil, &UsageError{Target: t, Msg: t.Name + ": " + fmt.Sprintf(format, a...)}
	}
	afterDash := false
	for j := i + 1; j < len(argv); j++ {
		a := argv[j]
		switch {
		case afterDash && t.Command:
			c.Command = append(c.Command, a)
		case afterDash:
			c.Words = append(c.Words, a)
		case a == "--":
			afterDash = true
		case strings.HasPrefix(a, "--"):
			k, v, hasV := strings.Cut(a[2:], "=")
			f := t.flag(k)
			if f == nil {
				return bad("%s", unknownFlag(t, k))
			}
			if _, dup := c.flags[k]; dup {
				return bad("--%s is given twice: give it once", k)
			}
			if !hasV && f.Kind != Bool {
				if j+1 >= len(argv) || strings.HasPrefix(argv[j+1], "--") {
					return bad("--%s needs a value (%s): --%s %s", k, f.meta(), k, f.meta())
				}
				j++
				v = argv[j]
			}
			if !hasV && f.Kind == Bool {
				v = "true"
			}
			if err := f.check(v, getenv); err != nil {
				return bad("--%s %q: %v", k, v, err)
			}
			c.flags[k] = v
		case strings.HasPrefix(a, "-") && len(a) > 1:
			k, _, _ := strings.Cut(a[1:], "=")
			switch {
			case t.flag(k) != nil:
				return bad("%q has one dash: flags after the target take two, --%s", a, k)
			case mageFlags["-"+k]:
				return bad("%q is mage's own flag: put it before the target (go tool mage %s %s ...)", a, a, t.Name)
			}
			return bad("%q is not a flag of %s (flags after the target take two dashes: %s)", a, t.Name, flagList(t))
		default:
			c.Words = append(c.Words, a)
		}
	}
	if err := checkWords(t, c); err != nil {
		return nil, err
	}
	// Environment: a flag's variable counts only when the flag is absent.
	for _, f := range t.Flags {
		if _, given := c.flags[f.Name]; given || f.Env == "" {
			continue
		}
		if v := getenv(f.Env); v != "" {
			if err := f.check(v, getenv); err != nil {
				return bad("%s=%q (the --%s setting): %v; fix or unset it", f.Env, v, f.Name, err)
			}
		}
	}
	for _, e := range t.Env {
		if v := getenv(e.Name); v != "" {
			if err := e.check(v, getenv); err != nil {
				return bad("%s=%q: %v; fix or unset it", e.Name, v, err)
			}
		}
	}
	c.MageArgs = append(mageArgs, c.Words[:t.Params]...)
	return c, nil
}

func checkWords(t *Target, c *Call) error {
	n := len(c.Words)
	bad := func(format string, a ...any) error {
		return &UsageError{Target: t, Msg: t.Name + ": " + fmt.Sprintf(format, a...)}
	}
	if n < t.Min {
		if t.Min == 1 {
			return bad("missing %s", t.Args)
		}
		return bad("wants %s, got %d word(s)", t.Args, n)
	}
	if t.Max >= 0 && n > t.Max {
		extra := c.Words[t.Max:]
		if Lookup(extra[0]) != nil {
			return bad("one target per call: run %s on its own (nothing has run)", extra[0])
		}
		if t.Command {
			return bad("takes %s, got extra %q: the command goes after -- (go tool mage %s %s -- %s)", t.Args, strings.Join(extra, " "), t.Name, strings.Join(c.Words[:t.Max], " "), strings.Join(extra, " "))
		}
		if t.Max == 0 {
			return bad("takes no words, got %q: remove it (flags take two dashes: %s)", strings.Join(extra, " "), flagList(t))
		}
		return bad("takes %s, got extra %q: remove it (one %s per call)", t.Args, strings.Join(extra, " "), strings.Trim(t.Args, "<>[]."))
	}
	for _, w := range c.Words {
		if strings.TrimSpace(w) == "" {
			return bad("an empty word: name a %s", strings.Trim(t.Args, "<>[]."))
		}
	}
	if t.Command && len(c.Command) == 0 {
		return bad("no command to run: put it after -- (go tool mage %s %s -- <command...>)", t.Name, strings.Join(c.Words, " "))
	}
	return nil
}

func unknownFlag(t *Target, k string) string {
	if k == "" {
		return "\"--\" followed by \"=\" is not a flag"
	}
	var names []string
	for _, f := range t.Flags {
		names = append(names, f.Name)
	}
	if s := closest(k, names); s != "" {
		return fmt.Sprintf("unknown flag --%s: did you mean --%s?", k, s)
	}
	for _, o := range Targets {
		if o.flag(k) != nil {
			return fmt.Sprintf("%s does not take --%s (it takes: %s)", t.Name, k, flagList(t))
		}
	}
	return fmt.Sprintf("unknown flag --%s (it takes: %s)", k, flagList(t))
}

func flagList(t *Target) string {
	if len(t.Flags) == 0 {
		return "no flags"
	}
	var s []string
	for _, f := range t.Flags {
		s = append(s, "--"+f.Name)
	}
	return strings.Join(s, " ")
}
