package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"text/tabwriter"

	"golang.org/x/crypto/ssh"
)

// SplitMachines splits a comma- or space-separated machine list ("" and
// "all" mean every machine, returned as nil).
func SplitMachines(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if f == "all" {
			return nil
		}
		out = append(out, f)
	}
	return out
}

// FormatStatus renders Status as the table lab:status prints.
func FormatStatus(st []HostStatus) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "MACHINE\tADDRESS\tSSHD\tGENERATION")
	for _, s := range st {
		a := "alive"
		if !s.Alive {
			a = "down: " + s.Problem
		}
		g := s.Generation
		if g == "" {
			g = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Name, s.Addr, a, g)
	}
	w.Flush()
	return b.String()
}

// AuthorizedKey renders a public key as one authorized_keys line.
func AuthorizedKey(k ssh.PublicKey) string {
	if k == nil {
		return "-\n"
	}
	return string(ssh.MarshalAuthorizedKey(k))
}

// SSH runs command on host name over real ssh (the lab's ssh_config, client
// key and known_hosts, strict host key checking) and returns ssh's exit code.
func (l *Lab) SSH(ctx context.Context, name, command string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	var r hostRecord
	ok, err := readJSON(l.hostFile(name), &r)
	if err != nil {
		return 1, l.errf("%v", err)
	}
	if !ok {
		return 1, l.errf("no host %s (run lab:up %s)", name, name)
	}
	args := append(l.SSHArgs(), r.Target, "--", command)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 255 {
			return 255, l.errf("ssh to %s (%s) failed; see the message above", name, r.Target)
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, l.errf("ssh %s: %v", name, err)
	}
	return 0, nil
}
