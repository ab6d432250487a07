package nix

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Explanation is a Nix error the suite understands, said in its own words:
// what went wrong, in which file or field, and the fix. Raw is Nix's own
// error, kept for --verbose and for errors.As.
type Explanation struct {
	Msg string
	Raw error
}

func (e *Explanation) Error() string { return e.Msg }

// Unwrap returns Nix's own error.
func (e *Explanation) Unwrap() error { return e.Raw }

var (
	pureEvalRe   = regexp.MustCompile(`access to absolute path '([^']*)' is forbidden in pure eval mode`)
	notInGitRe   = regexp.MustCompile(`getting status of '/nix/store/[^/']*-source/([^']*)': No such file or directory`)
	gitFailedRe  = regexp.MustCompile(`program 'git' failed with exit code 128`)
	resolveRe    = regexp.MustCompile(`[^\n]*Could not resolve host[^\n]*`)
	typeErrorRe  = regexp.MustCompile(`value is (an? [a-z ]+?) while (an? [a-z ]+?) was expected`)
	fetchLinesRe = regexp.MustCompile(`(?m)^(fatal|error): [^\n]*(unable to access|Could not resolve|Failed to connect|timed out)[^\n]*$`)
)

// Explain translates err from a nix command on flake into an *Explanation
// when it is one the suite understands; any other error is returned as it
// is. ctx bounds the one extra nix call made for a failed git fetch, whose
// git message Nix's error line leaves out ("program 'git' failed with exit
// code 128" says nothing of the network).
func Explain(ctx context.Context, err error, flake string) error {
	if err == nil {
		return nil
	}
	var done *Explanation
	if errors.As(err, &done) {
		return err
	}
	msg := err.Error()
	if flake == "" {
		flake = "the flake"
	}
	switch {
	case pureEvalRe.MatchString(msg):
		p := pureEvalRe.FindStringSubmatch(msg)[1]
		rel := strings.TrimPrefix(p, "/nix/store/")
		return &Explanation{Raw: err, Msg: fmt.Sprintf(
			"flake %s reads %s, outside the flake's own directory, and Nix cannot see it: a flake that is not inside a git repository is copied alone, without the files beside it (the lab flake reads ../modules/_fleet). Keep the flake inside its git checkout and `git add` its files, or copy what it imports into the flake's directory", flake, rel)}
	case notInGitRe.MatchString(msg):
		rel := notInGitRe.FindStringSubmatch(msg)[1]
		return &Explanation{Raw: err, Msg: fmt.Sprintf(
			"flake %s: %s is not known to git, so Nix does not see it (a flake in a git repository is copied with the files git tracks): run `git add %s`", flake, rel, rel)}
	case resolveRe.MatchString(msg):
		return &Explanation{Raw: err, Msg: offline(flake, resolveRe.FindString(msg))}
	case gitFailedRe.MatchString(msg):
		line := fetchDiagnosis(ctx, flake)
		if line == "" {
			return &Explanation{Raw: err, Msg: fmt.Sprintf(
				"flake %s: Nix could not fetch a git input (git exited 128): check the input's URL in flake.nix and the network; the embedded lab flake (--flake lab) needs neither", flake)}
		}
		return &Explanation{Raw: err, Msg: offline(flake, line)}
	case typeErrorRe.MatchString(msg):
		m := typeErrorRe.FindStringSubmatch(msg)
		return &Explanation{Raw: err, Msg: fmt.Sprintf(
			"flake %s: a value has the wrong type (Nix: value is %s while %s was expected): run `go tool mage check:fleet --flake %s`, which names the machine and field, and fix it there", flake, m[1], m[2], flake)}
	}
	return err
}

func offline(flake, line string) string {
	return fmt.Sprintf("flake %s needs the network to fetch its inputs, and it cannot be reached: %s. Connect to the network (or a mirror of the inputs) and run again; offline, the embedded lab flake (--flake lab) works", flake, strings.TrimSpace(line))
}

// fetchDiagnosis runs `nix flake metadata` on flake once more, keeping its
// whole stderr, and returns git's own line about the failed fetch.
func fetchDiagnosis(ctx context.Context, flake string) string {
	n, err := New()
	if err != nil || flake == "" || flake == "the flake" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.Bin, "flake", "metadata", "--json", flake)
	cmd.Env = n.Env()
	cmd.Dir = n.Dir
	out, _ := cmd.CombinedOutput()
	s := StripANSI(string(out))
	if l := resolveRe.FindString(s); l != "" {
		return l
	}
	return fetchLinesRe.FindString(s)
}
