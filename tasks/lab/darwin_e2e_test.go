//go:build e2e

package lab_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// sshOut runs command on the host over the lab's real ssh and returns its
// stdout and stderr; a non-zero exit fails the test.
func sshOut(t *testing.T, l *lab.Lab, host, command string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := l.SSH(context.Background(), host, command, nil, &out, &errb)
	assert.NilError(t, err)
	assert.Equal(t, code, 0, "%s on %s: %s", command, host, errb.String())
	return out.String() + errb.String()
}

// TestDarwinHostIsStrict: a darwin-class host's SSH sessions see what a
// Mac has and nothing else: posh as the login shell and /bin/sh, a PATH of
// macOS's utilities (no util-linux, no GNU-only tools, no Nix), Nix only
// in the default profile, an empty /proc, the admin and wheel groups. A
// nixos-class host of the same lab is untouched, and a host whose class
// changes is rebuilt as the other kind.
func TestDarwinHostIsStrict(t *testing.T) {
	t.Parallel()
	machines := []lab.Machine{{Name: "mac", TargetHost: "admin@mac.local", Class: lab.ClassDarwin}, {Name: "lin"}}
	l, _ := labtest.Up(t, lab.Config{Machines: machines}, "mac", "lin")

	// The login shell is posh (the command line is read by it), and so is
	// every sh the session starts.
	out := sshOut(t, l, "mac", `echo "login=${POSH_VERSION:-none} path=$PATH"; sh -c 'echo "sh=${POSH_VERSION:-none}"'; /bin/sh -c 'echo "binsh=${POSH_VERSION:-none}"'`)
	assert.Check(t, is.Contains(out, "login=0.14"), out)
	assert.Check(t, is.Contains(out, "sh=0.14"), out)
	assert.Check(t, is.Contains(out, "binsh=0.14"), out)
	assert.Check(t, is.Contains(out, "path=/run/vanixiets-lab/macos/bin\n"), out)

	// What a Mac lacks is not there; what it has is.
	out = sshOut(t, l, "mac", `for c in setsid flock timeout stat realpath getent sha256sum tac nproc bash nix nix-env nix-daemon; do command -v "$c" >/dev/null 2>&1 && echo "HAS $c"; done; for c in nohup kill ln mv readlink tar od sleep sudo; do command -v "$c" >/dev/null 2>&1 || echo "LACKS $c"; done; echo checked`)
	assert.Equal(t, strings.TrimSpace(out), "checked")

	// Nix is where the Nix installer puts it on a Mac.
	out = sshOut(t, l, "mac", `PATH=$PATH:/nix/var/nix/profiles/default/bin; nix-env --version; nix-store --version`)
	assert.Check(t, is.Contains(out, "nix-env (Nix)"), out)

	// No /proc; the admin (80) and wheel (0) groups; root's shell /bin/sh.
	out = sshOut(t, l, "mac", `ls -A /proc | wc -l; : > /tmp/vx-darwin-$$; chown root:admin /tmp/vx-darwin-$$ && chown root:wheel /tmp/vx-darwin-$$ && echo chowned; rm -f /tmp/vx-darwin-$$; grep '^root:' /etc/passwd`)
	assert.Check(t, is.Contains(out, "0\nchowned\n"), out)
	assert.Check(t, strings.HasSuffix(strings.TrimSpace(out), ":/bin/sh"), out)

	// The nixos-class host is as it was: bash or dash, Debian's PATH, /proc.
	out = sshOut(t, l, "lin", `echo "sh=${POSH_VERSION:-none}"; sh -c 'echo "sub=${POSH_VERSION:-none}"'; command -v setsid; test -e /proc/self/stat && echo proc`)
	assert.Check(t, is.Contains(out, "sh=none\nsub=none\n"), out)
	assert.Check(t, is.Contains(out, "setsid\n"), out)
	assert.Check(t, is.Contains(out, "proc\n"), out)

	// The fleet says mac is no Mac any more: the host is rebuilt as Linux.
	machines[0].Class = ""
	l2, err := lab.Open(lab.Config{Dir: l.Dir(), Name: l.Name(), Range: l.Range(), Machines: machines})
	assert.NilError(t, err)
	_, err = l2.Up(context.Background(), []string{"mac"})
	assert.NilError(t, err)
	out = sshOut(t, l2, "mac", `echo "sh=${POSH_VERSION:-none}"; command -v setsid`)
	assert.Check(t, is.Contains(out, "sh=none\n"), out)
}
