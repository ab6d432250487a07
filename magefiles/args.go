//go:build mage

package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Mage targets take a fixed number of string arguments. Users of the suite
// expect flags and lists, as in `mage ci:run --force go-unit lab-e2e` or
// `mage deploy:machine cinnabar --dry-run`. This file runs before mage's
// generated main: it takes every `--flag[=value]` after the target and, for
// the targets listed in listTargets, every further word, out of os.Args, so
// mage sees only what it understands. Targets read them with flag() and
// rest().

// listTargets take any number of trailing words (read with rest()).
var listTargets = map[string]bool{
	"ci:run": true, "ci:plan": true,
	"lab:up": true, "lab:ssh": true,
	"deploy:fleet":  true,
	"vars:generate": true,
}

// valueFlags take a value: `--junit out.xml` or `--junit=out.xml`.
var valueFlags = map[string]bool{
	"junit": true, "flake": true, "flake-root": true, "generator": true,
	"parallel": true, "mode": true, "timeout": true, "max-age": true,
	"systems": true, "identity": true,
}

// boolFlags take no value.
var boolFlags = map[string]bool{
	"force": true, "json": true, "regenerate": true, "stream": true, "strict": true,
	"yes": true, "dry-run": true, "provision": true, "no-provision": true, "all": true, "verbose": true,
}

// knownFlag reports whether --name is a flag some target reads: a typo such
// as --forse must fail loudly, not be ignored.
func knownFlag(name string) bool { return valueFlags[name] || boolFlags[name] }

func knownFlagList() string {
	var names []string
	for k := range valueFlags {
		names = append(names, "--"+k)
	}
	for k := range boolFlags {
		names = append(names, "--"+k)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

var (
	cliFlags = map[string]string{}
	cliRest  []string
)

func init() {
	args := os.Args
	target := -1
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if a == "-t" || a == "-timeout" || a == "-d" || a == "-w" {
				i++ // mage's own flags with a value
			}
			continue
		}
		target = i
		break
	}
	if target < 0 {
		return
	}
	name := strings.ToLower(args[target])
	kept := append([]string{}, args[:target+1]...)
	for i := target + 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			cliRest = append(cliRest, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			k, v, hasV := strings.Cut(a[2:], "=")
			if !knownFlag(k) {
				fmt.Fprintf(os.Stderr, "unknown flag --%s for %s (known flags: %s)\n", k, args[target], knownFlagList())
				os.Exit(2)
			}
			if !hasV {
				v = "true"
				if valueFlags[k] {
					if i+1 >= len(args) {
						fmt.Fprintf(os.Stderr, "flag --%s needs a value\n", k)
						os.Exit(2)
					}
					i++
					v = args[i]
				}
			}
			cliFlags[k] = v
			continue
		}
		if listTargets[name] {
			cliRest = append(cliRest, a)
			continue
		}
		kept = append(kept, a)
	}
	os.Args = kept
}

// flag returns the value of --name, or def.
func flag(name, def string) string {
	if v, ok := cliFlags[name]; ok {
		return v
	}
	return def
}

// boolFlag reports whether --name was given (or its env fallback is "1").
func boolFlag(name, env string) bool {
	if v, ok := cliFlags[name]; ok {
		return v != "false" && v != "0"
	}
	return env != "" && (os.Getenv(env) == "1" || os.Getenv(env) == "true")
}

// rest returns the trailing words of a list target.
func rest() []string { return cliRest }
