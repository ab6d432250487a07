package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

var (
	dialRe     = regexp.MustCompile(`dial tcp ([^ ]+): connect: (invalid argument|no route to host|network is unreachable|connection refused)`)
	noEarlier  = regexp.MustCompile(`rollback ([^:]+):.*no earlier generation of (\S+) to roll back to`)
	verboseTip = " (--verbose shows the tool's own message)"
)

// Explain turns an error a target returns into the suite's own message
// when it is one the suite understands: Nix's (tasks/nix.Explain), an
// unreachable host, a rollback with nothing to go back to. flake is the
// flake the target worked on. With verbose the tool's own message follows
// the explanation; without, a hint says how to see it.
func Explain(ctx context.Context, err error, flake string, verbose bool) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	ex := nix.Explain(ctx, err, flake)
	var e *nix.Explanation
	if !errors.As(ex, &e) {
		e = explainOwn(err)
	}
	if e == nil {
		return err
	}
	if verbose {
		return fmt.Errorf("%s\n--- the tool's own message:\n%v", e.Msg, e.Raw)
	}
	return errors.New(e.Msg + verboseTip)
}

func explainOwn(err error) *nix.Explanation {
	msg := err.Error()
	switch {
	case dialRe.MatchString(msg):
		m := dialRe.FindStringSubmatch(msg)
		return &nix.Explanation{Raw: err, Msg: fmt.Sprintf(
			"%s: host %s is unreachable (%s): check the machine's deploy.targetHost, that the host is up (lab hosts: go tool mage lab:status) and the route to it", firstWord(msg), m[1], m[2])}
	case noEarlier.MatchString(msg):
		m := noEarlier.FindStringSubmatch(msg)
		return &nix.Explanation{Raw: err, Msg: fmt.Sprintf(
			"deploy:rollback %s: the host has no earlier generation of %s to go back to (nothing was changed): deploy:rollback returns to the generation before the current one, so there must be two", m[1], m[2])}
	}
	return nil
}

// firstWord is the subject of an error ("galena: copy: ..." -> "galena").
func firstWord(msg string) string {
	for i, r := range msg {
		if r == ':' || r == ' ' {
			return msg[:i]
		}
	}
	return msg
}
