//go:build e2e

package vars

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/nettest"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// sshRemote adapts a remote.Client to the Remote interface.
type sshRemote struct{ c *remote.Client }

func (r sshRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	return r.c.Run(ctx, cmd, stdin, stdout, nil)
}

// sshdHost is a real sshd whose host key is cinnabar's generated openssh
// var, and a client connected to it that trusts only the known_hosts file
// built from the vars (as a deployer does before the first connection to
// a new machine).
type sshdHost struct {
	v    *Vars
	c    *remote.Client
	root string
}

func startSSHDHost(t testing.TB) *sshdHost {
	t.Helper()
	nettest.NeedSSHD(t)
	f, ids := labFleet(t)
	dir := t.TempDir()
	assert.NilError(t, os.Chmod(dir, 0o755))
	port := nettest.FreePort(t)
	f.Machines["cinnabar"].Deploy.TargetHost = fmt.Sprintf("root@127.0.0.1:%d", port)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{Machines: []string{"cinnabar"}})

	hostKey, err := v.Get("cinnabar", "openssh/ssh.id_ed25519")
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "host_key"), hostKey, 0o600))
	clientKey := filepath.Join(dir, "client_key")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey).CombinedOutput()
	assert.NilError(t, err, string(out))
	pub, err := os.ReadFile(clientKey + ".pub")
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	kh, err := v.KnownHosts()
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "known_hosts"), kh, 0o644))
	nettest.SSHD(t, dir, port)

	c, err := remote.Dial(context.Background(), remote.Config{Addr: "127.0.0.1", Port: port, KnownHosts: []string{filepath.Join(dir, "known_hosts")},
		KeyFiles: []string{clientKey}, NoAgent: true, ConnectTimeout: 5 * time.Second})
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	return &sshdHost{v: v, c: c, root: filepath.Join(dir, "run", "secrets", "vars")}
}

// TestUploadOverRealSSHD uploads cinnabar's secrets through a real sshd,
// one session per upload.
func TestUploadOverRealSSHD(t *testing.T) {
	h := startSSHDHost(t)
	v, root := h.v, h.root
	ctx := context.Background()
	r := &countRemote{Remote: sshRemote{h.c}}
	res, err := v.Upload(ctx, r, "cinnabar", BeforeActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"admin-password/admin-password"})
	assert.Equal(t, r.runs, 1)
	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"openssh/ssh.id_ed25519", "zerotier/zerotier-identity-secret"})
	assert.Equal(t, r.runs, 2)
	for _, n := range []string{"admin-password/admin-password", "openssh/ssh.id_ed25519", "zerotier/zerotier-identity-secret"} {
		mode, uid, gid := statOf(t, filepath.Join(root, n))
		assert.Equal(t, mode, os.FileMode(0o400), n)
		assert.Equal(t, uid, uint32(0))
		assert.Equal(t, gid, uint32(0))
		got, _ := os.ReadFile(filepath.Join(root, n))
		want, _ := v.Get("cinnabar", n)
		assert.Assert(t, bytes.Equal(got, want), n)
	}
	before := hostFiles(t, root)
	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.Equal(t, len(res.Sent), 0)
	assert.Equal(t, len(res.Skipped), 2)
	assert.Equal(t, r.runs, 3)
	assert.DeepEqual(t, orNone(treetest.Changed(before, hostFiles(t, root))), []string{})
}

// BenchmarkUploadOverSSHD is one deploy's uploads of cinnabar's secrets
// (both phases) through a real sshd on loopback: "unchanged" (every secret
// current) and "first" (the root removed before each op). The SSH
// connection is open already, as in a deploy; each upload opens its
// sessions on it.
func BenchmarkUploadOverSSHD(b *testing.B) {
	h := startSSHDHost(b)
	for _, bc := range []struct {
		name  string
		first bool
	}{{"unchanged", false}, {"first", true}} {
		b.Run(bc.name, func(b *testing.B) {
			r := &countRemote{Remote: sshRemote{h.c}}
			deploy := func() {
				if bc.first {
					b.StopTimer()
					if err := os.RemoveAll(h.root); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				for _, ph := range []Phase{BeforeActivation, AfterActivation} {
					if _, err := h.v.Upload(context.Background(), r, "cinnabar", ph, h.root); err != nil {
						b.Fatal(err)
					}
				}
			}
			deploy()
			r.runs = 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				deploy()
			}
			b.ReportMetric(float64(r.runs)/float64(b.N), "sessions/op")
		})
	}
}

// TestUploadMachineKeyOverRealSSHD: through a real sshd, a machine with
// clan's generated age key gets it at the sops-nix key path (root, 0600)
// in its one before-activation session; a second upload skips it and
// leaves the file as it was.
func TestUploadMachineKeyOverRealSSHD(t *testing.T) {
	h := startSSHDHost(t)
	admin, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	gens := `{` + gen("boot", `printf pw > "$out/pw"`, nil, "pw") + `}`
	v := newVars(t, parseFleet(t, fleetJSON(gens, admin.Recipient().String())), map[string]*age.X25519Identity{"admin": admin}, nil)
	v.Fleet.Machines["m"].Generators["boot"].Files["pw"].NeededFor = "activation"
	mustGenerate(t, v, GenerateOptions{})
	want, ok, err := v.MachineAgeKey("m")
	assert.NilError(t, err)
	assert.Assert(t, ok)
	dir := t.TempDir()
	root := filepath.Join(dir, "run", "secrets", "vars")
	v.MachineKeyPath = filepath.Join(dir, "var", "lib", "sops-nix", "key.txt")
	ctx := context.Background()
	r := &countRemote{Remote: sshRemote{h.c}}
	for i, tc := range []struct {
		name          string
		sent, skipped []string
	}{
		{name: "first", sent: []string{"boot/pw", machineKeyItem}},
		{name: "unchanged", skipped: []string{"boot/pw", machineKeyItem}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hostFiles(t, filepath.Dir(v.MachineKeyPath))
			res, err := v.Upload(ctx, r, "m", BeforeActivation, root)
			assert.NilError(t, err)
			assert.DeepEqual(t, orNone(res.Sent), orNone(tc.sent))
			assert.DeepEqual(t, orNone(res.Skipped), orNone(tc.skipped))
			assert.Equal(t, r.runs, i+1, "one session per upload")
			mode, uid, gid := statOf(t, v.MachineKeyPath)
			assert.Equal(t, mode, os.FileMode(0o600))
			assert.Equal(t, uid, uint32(0))
			assert.Equal(t, gid, uint32(0))
			got, err := os.ReadFile(v.MachineKeyPath)
			assert.NilError(t, err)
			assert.Assert(t, bytes.Equal(got, want))
			if len(tc.sent) == 0 {
				assert.DeepEqual(t, orNone(treetest.Changed(before, hostFiles(t, filepath.Dir(v.MachineKeyPath)))), []string{})
			}
		})
	}
}
