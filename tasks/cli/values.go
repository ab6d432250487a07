package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// Kind is what a flag or variable's value must be.
type Kind int

const (
	// Bool: true, false, 1 or 0 (a flag may also stand alone for true).
	// Anything else is refused: `--yes=no` once counted as yes.
	Bool Kind = iota
	// Duration: a Go duration, 0 or more (30s, 2m; 0s turns a timer off).
	Duration
	// Count: a whole number of at least 1.
	Count
	// Mode: one of Spec.Modes.
	Mode
	// Text: any non-empty word.
	Text
	// List: comma-separated non-empty names.
	List
	// Age: days (90d), weeks (12w) or a Go duration, more than 0.
	Age
	// Flake: a local flake directory (holding flake.nix) or a reference
	// with a scheme (github:owner/repo, git+https://...).
	Flake
	// File: an existing file.
	File
	// Files: ':'-separated existing files (age identities).
	Files
	// Dir: an existing directory.
	Dir
	// CacheDir: a directory the suite may create: if it exists it is a
	// directory, else its parent is one. A file there would silently turn
	// the cache off.
	CacheDir
	// OutFile: a file to write: not a directory, its directory exists.
	OutFile
	// URL: http(s)://host:port.
	URL
	// CIDR: an IPv4 prefix such as 10.237.0.0/16.
	CIDR
	// StateFile: the encrypted terraform state. See tasks/terraform's
	// CheckStatePath: an explicit path must exist unless
	// VANIXIETS_TF_STATE_NEW=1 says a new state starts there.
	StateFile
)

// Spec is a value's kind and, for Mode, its allowed values.
type Spec struct {
	Kind  Kind
	Modes []string
	// Meta names the value in usage lines ("<path>"); default by kind.
	Meta string
}

func (s Spec) meta() string {
	if s.Meta != "" {
		return s.Meta
	}
	switch s.Kind {
	case Duration:
		return "<duration>"
	case Count:
		return "<n>"
	case Mode:
		return strings.Join(s.Modes, "|")
	case List:
		return "<a,b>"
	case Age:
		return "<90d>"
	case Flake, File, Dir, CacheDir, OutFile, StateFile:
		return "<path>"
	case Files:
		return "<file:file>"
	case URL:
		return "<http://host:port>"
	case CIDR:
		return "<a.b.c.d/n>"
	}
	return "<value>"
}

// check returns nil when v is a valid value of s, else what is wanted.
func (s Spec) check(v string, getenv func(string) string) error {
	switch s.Kind {
	case Bool:
		if _, err := parseBool(v); err != nil || v == "" {
			return errors.New("want true, false, 1 or 0 (or the flag alone for true)")
		}
	case Duration:
		if _, err := ParseDuration(v); err != nil {
			return err
		}
	case Count:
		if _, err := parseCount(v); err != nil {
			return err
		}
	case Mode:
		for _, m := range s.Modes {
			if v == m {
				return nil
			}
		}
		if c := closest(v, s.Modes); c != "" {
			return fmt.Errorf("want one of %s (did you mean %s?)", strings.Join(s.Modes, ", "), c)
		}
		return fmt.Errorf("want one of %s", strings.Join(s.Modes, ", "))
	case Text:
		if strings.TrimSpace(v) == "" {
			return errors.New("want a non-empty value")
		}
	case List:
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == "" {
				return errors.New("want comma-separated names with none empty (a,b)")
			}
		}
	case Age:
		if _, err := ParseAge(v); err != nil {
			return err
		}
	case Flake:
		return checkFlake(v)
	case File:
		return checkFile(v)
	case Files:
		if v == "" {
			return errors.New("want one or more files separated by ':'")
		}
		for _, p := range filepath.SplitList(v) {
			if p == "" {
				continue
			}
			if err := checkFile(p); err != nil {
				return fmt.Errorf("%s: %v", p, err)
			}
		}
	case Dir:
		st, err := os.Stat(v)
		if err != nil {
			return fmt.Errorf("no such directory: check the path")
		}
		if !st.IsDir() {
			return fmt.Errorf("is a file, not a directory")
		}
	case CacheDir:
		return checkCacheDir(v)
	case OutFile:
		if v == "" {
			return errors.New("want a file path")
		}
		if st, err := os.Stat(v); err == nil && st.IsDir() {
			return errors.New("is a directory: name a file in it")
		}
		// A missing directory is made when the file is written (as `go
		// build -o` does): .ci/run names .work/junit.xml in a fresh clone.
		// Only something in the way, a file where a directory belongs, is
		// an error.
		for d := filepath.Dir(v); ; d = filepath.Dir(d) {
			st, err := os.Stat(d)
			if err == nil {
				if !st.IsDir() {
					return fmt.Errorf("%s is a file, not a directory: name a path in a directory", d)
				}
				break
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	case URL:
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("want http://host:port")
		}
	case CIDR:
		p, err := netip.ParsePrefix(v)
		if err != nil || !p.Addr().Is4() {
			return errors.New("want an IPv4 range such as 10.237.0.0/16")
		}
	case StateFile:
		return terraform.CheckStatePath(v, getenv)
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	}
	return false, errors.New("want true, false, 1 or 0 (or the flag alone for true)")
}

// ParseDuration reads a Go duration of 0 or more.
func ParseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration of 0 or more such as 30s or 2m")
	}
	return d, nil
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errors.New("want a whole number of at least 1")
	}
	return n, nil
}

// ParseAge reads "90d", "12w" or a Go duration ("2160h"), more than 0.
func ParseAge(s string) (time.Duration, error) {
	bad := errors.New("want days (90d), weeks (12w) or a duration (2160h), more than 0")
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 1 || d > 100000 {
			return 0, bad
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		w, err := strconv.Atoi(n)
		if err != nil || w < 1 || w > 10000 {
			return 0, bad
		}
		return time.Duration(w) * 7 * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

func checkFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return errors.New("no such file: check the path")
	}
	if st.IsDir() {
		return errors.New("is a directory, not a file")
	}
	return nil
}

// checkFlake accepts a flake reference with a scheme as it is (Nix reads
// it), and a path only when it is a directory holding flake.nix.
func checkFlake(v string) error {
	if v == "" {
		return errors.New("want a flake directory or reference")
	}
	p := v
	if scheme, rest, ok := strings.Cut(v, ":"); ok && !strings.Contains(scheme, "/") {
		if scheme != "path" {
			return nil
		}
		p = rest
	}
	st, err := os.Stat(p)
	if err != nil {
		return errors.New("no such directory: pass a flake directory (holding flake.nix), the lab flake `lab`, or a reference such as github:owner/repo")
	}
	if !st.IsDir() {
		return errors.New("is a file: pass the flake's directory, not its flake.nix")
	}
	if _, err := os.Stat(filepath.Join(p, "flake.nix")); err != nil {
		return errors.New("has no flake.nix: pass the directory holding the fleet's flake.nix")
	}
	return nil
}

func checkCacheDir(v string) error {
	st, err := os.Stat(v)
	if err == nil {
		if !st.IsDir() {
			return errors.New("is a file, not a directory: the cache would be off; point it at a directory (or unset it for the default)")
		}
		return nil
	}
	parent := filepath.Dir(filepath.Clean(v))
	if pst, err := os.Stat(parent); err != nil || !pst.IsDir() {
		return fmt.Errorf("does not exist and neither does its parent %s: check the path (the suite creates only the last directory)", parent)
	}
	return nil
}
