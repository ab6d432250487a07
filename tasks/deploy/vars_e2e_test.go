//go:build e2e

package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// labVars opens the repository's lab vars with the lab's test identities,
// to read what the deploy should have put on the host.
func labVars(t testing.TB) *vars.Vars {
	t.Helper()
	f, err := fleet.NewLoader().Load(context.Background(), labFlake(t))
	assert.NilError(t, err)
	v := vars.New(f, filepath.Join(labFlake(t), "vars"))
	files := f.LabIdentityFiles(labFlake(t))
	v.Identities = func() ([]age.Identity, error) { return adminkeys.ReadFiles(files...) }
	return v
}

// TestDeployUploadsVars: a deploy of the lab's cinnabar puts its secrets
// on the lab host under /run/secrets/vars/<generator>/<file> with the
// declared mode and owner; a second deploy sends nothing.
func TestDeployUploadsVars(t *testing.T) {
	adminkeystest.Unset(t)
	e := newEnv(t)
	var out bytes.Buffer
	rows, err := e.deploy(func(o *Options) { o.Flake = labFlake(t); o.Out = &teeWriter{t: t, b: &out} }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
	assert.Assert(t, strings.Contains(out.String(), "using the lab's test identities lab/keys/cameron.agekey:lab/keys/crs58.agekey"), out.String())

	v := labVars(t)
	before, after, err := v.DeploySecrets("cinnabar")
	assert.NilError(t, err)
	all := append(before, after...)
	assert.Assert(t, len(before) > 0 && len(after) > 0, "the lab's cinnabar has secrets of both phases: %v %v", before, after)
	assert.Equal(t, rows[0].SecretsSent, len(all))
	p, err := v.Plan()
	assert.NilError(t, err)
	run := e.host("cinnabar").RunDir
	for _, n := range all {
		g, fn, _ := strings.Cut(n, "/")
		u, err := p.MachineUnit("cinnabar", g)
		assert.NilError(t, err)
		decl := u.File(fn)
		path := filepath.Join(run, "secrets", "vars", g, fn)
		st, err := os.Stat(path)
		assert.NilError(t, err, "secret %s on the host", n)
		mode := decl.Mode
		if mode == "" {
			mode = "0400"
		}
		assert.Equal(t, st.Mode().Perm(), os.FileMode(parseMode(t, mode)), n)
		sys := st.Sys().(*syscall.Stat_t)
		assert.Equal(t, sys.Uid, uint32(0), n) // owner root (the lab's declarations)
		assert.Equal(t, decl.Owner == "" || decl.Owner == "root", true)
		got, err := os.ReadFile(path)
		assert.NilError(t, err)
		want, err := v.Get("cinnabar", n)
		assert.NilError(t, err)
		assert.Assert(t, bytes.Equal(got, want), "content of %s", n)
	}

	rows, err = e.deploy(func(o *Options) { o.Flake = labFlake(t) }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "unchanged")
	assert.Equal(t, rows[0].Paths, 0)
	assert.Equal(t, rows[0].SecretsSent, 0)
	assert.Equal(t, rows[0].SecretsTotal, len(all))
	assert.Assert(t, strings.Contains(Table(rows), fmt.Sprintf(" 0/%d ", len(all))), Table(rows))
}

// TestDeployWithSOPSAgeKey: the admin key passed the way a CI job passes it
// to sops (SOPS_AGE_KEY holding the key itself, no file, no other key
// variable, sops's keys.txt directory empty) is the deploy's key: the
// lab's cinnabar gets every secret, decrypted with it, and the lab's
// TEST-ONLY fallback is not used, since a variable named a key. HOME stays:
// the tools (a second Nix for the 2.26 job) live under it.
func TestDeployWithSOPSAgeKey(t *testing.T) {
	adminkeystest.Unset(t)
	key, err := os.ReadFile(filepath.Join(labFlake(t), "keys", "cameron.agekey"))
	assert.NilError(t, err)
	t.Setenv("SOPS_AGE_KEY", string(key))
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	e := newEnv(t)
	var out bytes.Buffer
	rows, err := e.deploy(func(o *Options) { o.Flake = labFlake(t); o.Out = &teeWriter{t: t, b: &out} }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
	assert.Check(t, rows[0].SecretsSent > 0 && rows[0].SecretsSent == rows[0].SecretsTotal, "%+v", rows[0])
	assert.Check(t, !strings.Contains(out.String(), "using the lab's test identities"), out.String())
}

func parseMode(t testing.TB, s string) uint32 {
	var m uint32
	for _, c := range s {
		if c < '0' || c > '7' {
			t.Fatalf("bad mode %q", s)
		}
		m = m*8 + uint32(c-'0')
	}
	return m
}

// teeWriter logs every line and keeps a copy.
type teeWriter struct {
	t testing.TB
	b *bytes.Buffer
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.b.Write(p)
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLabHostKeysFromVars: the lab host of a machine with a generated host
// key gets that key, so the fleet's known_hosts (from the vars) matches it;
// the deployer checks host keys against the vars, and refuses a host whose
// key is not the generated one.
func TestLabHostKeysFromVars(t *testing.T) {
	adminkeystest.Unset(t)
	e := newEnv(t)
	ctx := context.Background()
	// A cinnabar host with a key of its own, not the generated one.
	h, err := e.lab.CreateHost(ctx, "cinnabar", nil)
	assert.NilError(t, err)
	v := labVars(t)
	pub, err := v.Get("cinnabar", "openssh/ssh.id_ed25519.pub")
	assert.NilError(t, err)
	want, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	assert.NilError(t, err)
	assert.Assert(t, !bytes.Equal(h.HostKey.Marshal(), want.Marshal()))

	// Outside the lab (its ssh_config, but the fleet's known_hosts): refused.
	_, err = e.deploy(func(o *Options) { o.Flake = labFlake(t); o.Lab = nil; o.SSHConfig = e.lab.SSHConfigPath() }, "cinnabar")
	assert.ErrorContains(t, err, "CHANGED")
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(want))
	assert.ErrorContains(t, err, ssh.FingerprintSHA256(h.HostKey))

	// A lab deploy re-keys the host with the generated key.
	rows, err := e.deploy(func(o *Options) { o.Flake = labFlake(t) }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "ok")
	assert.Assert(t, bytes.Equal(e.host("cinnabar").HostKey.Marshal(), want.Marshal()), "lab host key is the var")
	kh, err := v.KnownHosts()
	assert.NilError(t, err)
	labKH, err := os.ReadFile(e.lab.KnownHostsPath())
	assert.NilError(t, err)
	wantLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(want)))
	assert.Assert(t, strings.Contains(string(kh), "cinnabar "+wantLine), string(kh))
	assert.Assert(t, strings.Contains(string(labKH), wantLine), string(labKH))
	used, err := os.ReadFile(filepath.Join(e.dir, "deploy", "known_hosts.vars", "cinnabar.known_hosts"))
	assert.NilError(t, err)
	assert.Assert(t, strings.Contains(string(used), wantLine), string(used))

	// Now the same host passes the check outside the lab too.
	rows, err = e.deploy(func(o *Options) { o.Flake = labFlake(t); o.Lab = nil; o.SSHConfig = e.lab.SSHConfigPath() }, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, rows[0].Result, "unchanged")
}
