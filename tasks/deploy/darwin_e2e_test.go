//go:build e2e

package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// onLabHost runs command on machine's lab host over the lab's real ssh,
// as the deployer's sessions run (the host's login shell and PATH).
func (e *testEnv) onLabHost(machine, command string) string {
	e.t.Helper()
	var out, errb bytes.Buffer
	code, err := e.lab.SSH(context.Background(), machine, command, nil, &out, &errb)
	assert.NilError(e.t, err)
	assert.Equal(e.t, code, 0, "%s: %s", command, errb.String())
	return out.String()
}

// TestDarwinDeploy: a darwin-class machine (gamma) deployed to a lab host
// as strict as a Mac (posh as /bin/sh and login shell, a PATH of macOS's
// utilities only, Nix only in the default profile, no /proc: tasks/lab
// darwin.go), as darwin-rebuild does it: the system profile, then
// activate-user and activate; an update, a deploy with nothing to do, and
// deploy:rollback as darwin-rebuild --rollback (the profile back one
// generation, its system's activate-user and activate run).
func TestDarwinDeploy(t *testing.T) {
	e := newEnv(t)
	rows, err := e.deploy(nil, "gamma")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
	v1 := rows[0].Toplevel
	assert.Equal(t, e.current("gamma"), v1)

	// The host the deploy went through is the strict one.
	out := e.onLabHost("gamma", `echo "sh=${POSH_VERSION:-none} path=$PATH"; for c in setsid flock stat timeout nix-env; do command -v "$c" || :; done`)
	assert.Equal(t, out, "sh=0.14.1 path=/run/vanixiets-lab/macos/bin\n")
	// No /proc, but on a host of Nix 2.26: a Linux build of it cannot start
	// without /proc/self/exe, so that host keeps it (tasks/lab darwin.go).
	procs := strings.TrimSpace(e.onLabHost("gamma", `ls -A /proc | wc -l`))
	if v := e.onLabHost("gamma", `/nix/var/nix/profiles/default/bin/nix --version`); strings.Contains(v, " 2.26") {
		assert.Assert(t, procs != "0", "a 2.26 host keeps /proc")
	} else {
		assert.Equal(t, procs, "0", "nix: %s", v)
	}

	e.params(`{ version = "2"; }`)
	rows, err = e.deploy(nil, "gamma")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].GenBefore, 1)
	assert.Equal(t, rows[0].GenAfter, 2)
	v2 := rows[0].Toplevel
	assert.Equal(t, e.current("gamma"), v2)

	rows, err = e.deploy(nil, "gamma")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "unchanged")

	d, err := New(e.options(nil))
	assert.NilError(t, err)
	from, to, err := d.Rollback(context.Background(), "gamma")
	assert.NilError(t, err)
	assert.Equal(t, from.Generation, 2)
	assert.Equal(t, to.Generation, 1)
	assert.Equal(t, to.Toplevel, v1)
	assert.Equal(t, e.current("gamma"), v1)
	assert.Equal(t, strings.TrimSpace(e.onLabHost("gamma", `readlink /nix/var/nix/profiles/system`)), "system-1-link")

	// activate-user ran before activate, each time, the rollback too.
	b, err := os.ReadFile(filepath.Join(e.host("gamma").StateDir, "activations.log"))
	assert.NilError(t, err)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		assert.Equal(t, len(f), 3, line)
		got = append(got, f[1]+" "+f[2])
	}
	assert.DeepEqual(t, got, []string{
		"activate-user " + v1, "activate " + v1,
		"activate-user " + v2, "activate " + v2,
		"activate-user " + v1, "activate " + v1,
	})
	log, err := os.ReadFile(filepath.Join(e.host("gamma").StateDir, "deploy.log"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(log), "rollback (requested) "+v2+" -> "+v1))
}
