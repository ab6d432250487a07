package vars

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
)

// shellRemote runs commands with the local /bin/sh: the real commands a
// host runs, without SSH. It records every command and stdin it was given.
type shellRemote struct {
	stdins [][]byte
	cmds   []string
}

func (r *shellRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
		c.Stdin = bytes.NewReader(in)
	}
	r.cmds = append(r.cmds, cmd)
	r.stdins = append(r.stdins, in)
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = stdout, &stderr
	if err := c.Run(); err != nil {
		return &exec.ExitError{ProcessState: c.ProcessState, Stderr: stderr.Bytes()}
	}
	return nil
}

func statOf(t *testing.T, p string) (os.FileMode, uint32, uint32) {
	t.Helper()
	st, err := os.Stat(p)
	assert.NilError(t, err)
	sys := st.Sys().(*syscall.Stat_t)
	return st.Mode().Perm(), sys.Uid, sys.Gid
}

func TestUploadPhasesModesOwnersAndSkips(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to other users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	f, ids := labFleet(t)
	// cinnabar's zerotier secret belongs to a service user; the shared
	// admin password is needed by activation (users).
	zf := f.Machines["cinnabar"].Generators["zerotier"].Files["zerotier-identity-secret"]
	zf.Owner, zf.Group, zf.Mode = "nobody", "root", "0440"
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})
	root := filepath.Join(t.TempDir(), "run", "secrets", "vars")
	r := &shellRemote{}
	ctx := context.Background()

	res, err := v.Upload(ctx, r, "cinnabar", BeforeActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"admin-password/admin-password"})
	_, err = os.Stat(filepath.Join(root, "zerotier"))
	assert.Assert(t, os.IsNotExist(err), "services secret installed before activation")

	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"openssh/ssh.id_ed25519", "zerotier/zerotier-identity-secret"})

	for name, want := range map[string]struct {
		mode     os.FileMode
		uid, gid uint32
	}{
		"admin-password/admin-password":     {0o400, 0, 0},
		"openssh/ssh.id_ed25519":            {0o400, 0, 0},
		"zerotier/zerotier-identity-secret": {0o440, uint32(atoi(nobody.Uid)), 0},
	} {
		mode, uid, gid := statOf(t, filepath.Join(root, name))
		assert.Equal(t, mode, want.mode, name)
		assert.Equal(t, uid, want.uid, name)
		assert.Equal(t, gid, want.gid, name)
		got, err := os.ReadFile(filepath.Join(root, name))
		assert.NilError(t, err)
		g, fl, _ := strings.Cut(name, "/")
		plain, err := v.Get("cinnabar", g+"/"+fl)
		assert.NilError(t, err)
		assert.Assert(t, bytes.Equal(got, plain), name)
	}
	mode, _, _ := statOf(t, filepath.Join(root, manifestName))
	assert.Equal(t, mode, os.FileMode(0o600))
	// No temporary files, and the secrets never were on a command line.
	ents, _ := os.ReadDir(filepath.Join(root, "zerotier"))
	assert.Equal(t, len(ents), 1)
	plain, _ := v.Get("cinnabar", "zerotier/zerotier-identity-secret")
	for _, c := range r.cmds {
		assert.Assert(t, !strings.Contains(c, strings.TrimSpace(string(plain))))
	}

	// Second deploy: nothing sent.
	for _, ph := range []Phase{BeforeActivation, AfterActivation} {
		res, err = v.Upload(ctx, r, "cinnabar", ph, root)
		assert.NilError(t, err)
		assert.Equal(t, len(res.Sent), 0, ph.String())
	}
	// A file deleted on the host is sent again; a mode change is applied.
	assert.NilError(t, os.Remove(filepath.Join(root, "openssh/ssh.id_ed25519")))
	zf.Mode = "0400"
	v.plan = nil
	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"openssh/ssh.id_ed25519", "zerotier/zerotier-identity-secret"})
	mode, _, _ = statOf(t, filepath.Join(root, "zerotier/zerotier-identity-secret"))
	assert.Equal(t, mode, os.FileMode(0o400))

	// A file the machine no longer declares is removed after activation.
	delete(f.Machines["cinnabar"].Generators, "zerotier")
	v.plan = nil
	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Removed, []string{"zerotier/zerotier-identity-secret"})
	_, err = os.Stat(filepath.Join(root, "zerotier"))
	assert.Assert(t, os.IsNotExist(err))
	man, _ := os.ReadFile(filepath.Join(root, manifestName))
	assert.Assert(t, !strings.Contains(string(man), "zerotier"))
}

func TestUploadBinaryAndErrors(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	gens := `{` + opensshGen + `,` + gen("bin", `head -c 4096 /dev/urandom > "$out/blob"; printf '%s' "it's 100% \"quoted\" \\ \$HOME" > "$out/quotes"`, nil, "blob", "quotes") + `}`
	f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
	for _, fl := range f.Machines["m"].Generators["bin"].Files {
		fl.Owner, fl.Group = "", "" // defaults: root
		if os.Geteuid() != 0 {
			u, _ := user.Current()
			g, _ := user.LookupGroupId(u.Gid)
			fl.Owner, fl.Group = u.Username, g.Name
		}
	}
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
	mustGenerate(t, v, GenerateOptions{})
	root := filepath.Join(t.TempDir(), "secrets")
	_, err := v.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, root)
	assert.NilError(t, err)
	for _, n := range []string{"blob", "quotes"} {
		got, err := os.ReadFile(filepath.Join(root, "bin", n))
		assert.NilError(t, err)
		want, err := v.Get("m", "bin/"+n)
		assert.NilError(t, err)
		assert.Assert(t, bytes.Equal(got, want), n)
	}

	// Not a recipient: clear error, nothing on the host.
	other, _ := age.GenerateX25519Identity()
	v2 := newVarsAt(t, v)
	v2.Identities = func() ([]age.Identity, error) { return []age.Identity{other}, nil }
	root2 := filepath.Join(t.TempDir(), "secrets")
	_, err = v2.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, root2)
	assert.ErrorContains(t, err, "the deploying admin must be a recipient")
	_, err = os.Stat(root2)
	assert.Assert(t, os.IsNotExist(err))

	// A host that fails mid-way (unknown owner) keeps no temporary file.
	f.Machines["m"].Generators["bin"].Files["quotes"].Owner = "no-such-user-xyz"
	v.plan = nil
	assert.NilError(t, os.RemoveAll(root))
	_, err = v.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, root)
	assert.ErrorContains(t, err, "install secrets")
	ents, _ := os.ReadDir(filepath.Join(root, "bin"))
	for _, e := range ents {
		assert.Assert(t, !strings.HasPrefix(e.Name(), "."), "temporary left: %s", e.Name())
	}
}

func TestPhaseOf(t *testing.T) {
	for n, want := range map[string]Phase{"partitioning": BeforeActivation, "activation": BeforeActivation, "users": BeforeActivation, "services": AfterActivation, "": AfterActivation} {
		assert.Equal(t, PhaseOf(n), want, n)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
