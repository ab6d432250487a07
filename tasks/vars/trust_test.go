package vars

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

// TestSecretBelongsToItsPath reproduces issue 16's "a secret belongs to its
// path": a file put in a secret's place (encrypted only to the admin, or
// copied from another machine's secret) used to be uploaded to the host and
// re-encrypted to the machine by rekey, after which check said ok. Every
// reader now refuses it, naming the path and the fix.
func TestSecretBelongsToItsPath(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})
	const target = "per-machine/cinnabar/zerotier/zerotier-identity-secret"
	var admins []Recipient
	for _, n := range slices.Sorted(maps.Keys(ids)) {
		admins = append(admins, Recipient{Key: ids[n].Recipient().String(), Who: "user:" + n})
	}
	// Same recipients, another secret: only the binding tells them apart.
	otherCT, err := os.ReadFile(filepath.Join(v.Dir, "per-machine/cinnabar/openssh/ssh.id_ed25519/secret"))
	assert.NilError(t, err)
	// A sops file like clan or sops writes: no binding value.
	unbound, err := sops.Encrypt(sops.Binary, []byte("attacker-chosen"), recipientKeys(admins))
	assert.NilError(t, err)
	tests := []struct {
		name    string
		ct      []byte
		wantErr error
		wantMsg string
	}{
		{name: "stand-in encrypted only to the admin", ct: unbound, wantErr: ErrUnbound, wantMsg: target},
		{name: "another machine's secret moved here", ct: otherCT, wantErr: ErrMisbound, wantMsg: "per-machine/cinnabar/openssh/ssh.id_ed25519"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := filepath.Join(v.Dir, target, "secret")
			orig, err := os.ReadFile(sp)
			assert.NilError(t, err)
			t.Cleanup(func() { assert.NilError(t, os.WriteFile(sp, orig, 0o644)) })
			assert.NilError(t, os.WriteFile(sp, tc.ct, 0o644))

			_, err = newVarsAt(t, v).Get("cinnabar", "zerotier/zerotier-identity-secret")
			assert.Assert(t, errors.Is(err, tc.wantErr), "get: %v", err)
			assert.ErrorContains(t, err, tc.wantMsg)

			r := &shellRemote{}
			_, err = newVarsAt(t, v).Upload(context.Background(), r, "cinnabar", AfterActivation, filepath.Join(t.TempDir(), "secrets"))
			assert.Assert(t, errors.Is(err, tc.wantErr), "upload: %v", err)
			assert.ErrorContains(t, err, "refusing to upload")
			assert.Equal(t, len(r.cmds), 0, "the host was contacted")

			// Make rekey want to rewrite it (a stale recipient link).
			lp := filepath.Join(v.Dir, target, "users", "x")
			assert.NilError(t, os.Symlink("../../../../../../sops/users/x", lp))
			t.Cleanup(func() { assert.NilError(t, os.Remove(lp)) })
			_, err = newVarsAt(t, v).Rekey()
			assert.Assert(t, errors.Is(err, tc.wantErr), "rekey: %v", err)
			after, err := os.ReadFile(sp)
			assert.NilError(t, err)
			assert.DeepEqual(t, after, tc.ct)

			probs, err := newVarsAt(t, v).Check(CheckOptions{Decrypt: true})
			assert.NilError(t, err)
			found := false
			for _, p := range probs {
				found = found || (p.Path == target+"/secret" && strings.Contains(p.Msg, tc.wantErr.Error()))
			}
			assert.Assert(t, found, "check did not report the binding: %v", probs)
		})
	}
	assertCheckClean(t, newVarsAt(t, v))
}

// TestMigrateFromEarlierFormat: vars:migrate converts a secret of the
// suite's earlier format (age armor + recipients record, bound or older
// than bindings) and binds a sops secret written by clan or sops, losing
// nothing; a second run does nothing.
func TestMigrateFromEarlierFormat(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})
	u, err := v.plan.MachineUnit("stibnite", "zerotier")
	assert.NilError(t, err)
	rs, err := v.expectedRecipients(u, v.diskHostKey(v.plan))
	assert.NilError(t, err)
	cases := []struct {
		name  string
		write func(t *testing.T, dir string, pt []byte)
	}{
		{"earlier format, bound", func(t *testing.T, dir string, pt []byte) {
			writeLegacy(t, dir, bindSecret(secretID(u, "zerotier-identity-secret"), pt), rs)
		}},
		{"earlier format, before bindings", func(t *testing.T, dir string, pt []byte) {
			writeLegacy(t, dir, pt, rs)
		}},
		{"sops file written by clan", func(t *testing.T, dir string, pt []byte) {
			ct, err := sops.Encrypt(sops.Binary, pt, recipientKeys(rs))
			assert.NilError(t, err)
			assert.NilError(t, os.WriteFile(filepath.Join(dir, "secret"), ct, 0o644))
		}},
	}
	const target = "per-machine/stibnite/zerotier/zerotier-identity-secret"
	want, err := v.Get("stibnite", "zerotier/zerotier-identity-secret")
	assert.NilError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.write(t, filepath.Join(v.Dir, target), want)
			done, err := newVarsAt(t, v).Migrate()
			assert.NilError(t, err)
			assert.DeepEqual(t, done, []string{target})
			got, err := newVarsAt(t, v).Get("stibnite", "zerotier/zerotier-identity-secret")
			assert.NilError(t, err)
			assert.Equal(t, string(got), string(want))
			assertCheckClean(t, newVarsAt(t, v))
			done, err = newVarsAt(t, v).Migrate()
			assert.NilError(t, err)
			assert.Equal(t, len(done), 0)
		})
	}
}

// writeLegacy stores payload the way the suite did before issue 20: age
// armor and a recipients record, no links.
func writeLegacy(t *testing.T, dir string, payload []byte, rs []Recipient) {
	t.Helper()
	ct, err := encrypt(payload, rs)
	assert.NilError(t, err)
	assert.NilError(t, os.RemoveAll(filepath.Join(dir, "machines")))
	assert.NilError(t, os.RemoveAll(filepath.Join(dir, "users")))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "secret"), ct, 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "recipients"), recipientSet(rs), 0o644))
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	assert.NilError(t, err)
	return b
}

// FuzzUnbindSecret: whatever the payload, unbindSecret either returns the
// plaintext that bindSecret wrapped for exactly that id, or an error; it
// never accepts a payload bound to another id.
func FuzzUnbindSecret(f *testing.F) {
	f.Add("per-machine/m/g/f", []byte("secret\n"), []byte(""))
	f.Add("shared/g/f", []byte(""), []byte("vanixiets-secret-v1 shared/g/f"))
	f.Add("per-machine/m/g/f", []byte("x"), []byte("vanixiets-secret-v1 per-machine/m/g/f2\nx"))
	f.Fuzz(func(t *testing.T, id string, pt, raw []byte) {
		if strings.Contains(id, "\n") {
			return
		}
		got, err := unbindSecret(id, bindSecret(id, pt))
		assert.NilError(t, err)
		assert.Equal(t, string(got), string(pt))
		if out, err := unbindSecret(id, raw); err == nil {
			assert.Equal(t, string(bindSecret(id, out)), string(raw))
		} else {
			assert.Assert(t, isBindingError(err))
		}
	})
}

// TestUploadValidatesTheFleet reproduces issue 16 part 7: modes such as
// "u+s" or "4755", owner names that are not names, and world-readable
// secrets reached the host's chmod/chown because Upload trusted the fleet
// it was handed. Upload now validates first and contacts no host.
func TestUploadValidatesTheFleet(t *testing.T) {
	tests := []struct {
		name, owner, group, mode, want string
	}{
		{name: "setuid symbolic", mode: "u+s", want: `mode "u+s" is not a plain octal permission`},
		{name: "setuid octal", mode: "4755", want: `mode "4755" is not a plain octal permission`},
		{name: "world-readable secret", mode: "0644", want: `secret file with mode "0644"`},
		{name: "owner with shell syntax", owner: "root;id", want: `owner "root;id" is not a user or group name`},
		{name: "group like an option", group: "-R", want: `group "-R" is not a user or group name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ids := labFleet(t)
			v := newVars(t, f, ids, labEnv)
			mustGenerate(t, v, GenerateOptions{Machines: []string{"cinnabar"}})
			zf := f.Machines["cinnabar"].Generators["zerotier"].Files["zerotier-identity-secret"]
			zf.Owner, zf.Group, zf.Mode = or(tc.owner, zf.Owner), or(tc.group, zf.Group), or(tc.mode, zf.Mode)
			r := &shellRemote{}
			_, err := newVarsAt(t, v).Upload(context.Background(), r, "cinnabar", AfterActivation, filepath.Join(t.TempDir(), "secrets"))
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, len(r.cmds), 0, "the host was contacted")
		})
	}
}

// TestSweepRemovesAKilledRunsPlaintext reproduces issue 16 part 6: a
// generator run killed with SIGKILL left its /dev/shm work directory, with
// the decrypted dependency secret in it, forever. The next run removes it;
// a live run's directory is left alone.
func TestSweepRemovesAKilledRunsPlaintext(t *testing.T) {
	if os.Getenv("VANIXIETS_TEST_KILLED_RUN") != "" {
		killedRunChild()
		return
	}
	base := t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepRemovesAKilledRunsPlaintext$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VANIXIETS_TEST_KILLED_RUN=1", "VANIXIETS_VARS_TMPDIR="+base, "STARTED="+started)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	assert.NilError(t, cmd.Start())
	for i := 0; ; i++ {
		if b, err := os.ReadFile(started); err == nil && strings.HasSuffix(string(b), "\n") {
			// The script's sleep outlives its killed parent: end it too.
			var pid int
			_, err := fmt.Sscan(string(b), &pid)
			assert.NilError(t, err)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			break
		}
		assert.Assert(t, i < 600, "child never reached its script: %s", out)
		time.Sleep(50 * time.Millisecond)
	}
	assert.NilError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	// The killed run's directory, with the dependency's secret in $in.
	leftover, err := filepath.Glob(filepath.Join(base, workPrefix+"*", "in", "base", "key"))
	assert.NilError(t, err)
	assert.Equal(t, len(leftover), 1, "want the killed run's plaintext on disk before the sweep")

	// A live run's directory in the same place.
	live, release, err := newWorkDir(base)
	assert.NilError(t, err)
	defer release()

	removed, err := SweepStale(base)
	assert.NilError(t, err)
	assert.DeepEqual(t, removed, []string{filepath.Dir(filepath.Dir(filepath.Dir(leftover[0])))})
	_, err = os.Stat(leftover[0])
	assert.Assert(t, errors.Is(err, os.ErrNotExist))
	_, err = os.Stat(live)
	assert.NilError(t, err, "the live run's directory was swept")

	// A directory without a lock (an older suite's) goes once it is old.
	old := filepath.Join(base, workPrefix+"old")
	assert.NilError(t, os.Mkdir(old, 0o700))
	removed, err = SweepStale(base)
	assert.NilError(t, err)
	assert.Equal(t, len(removed), 0)
	past := time.Now().Add(-2 * unlockedGrace)
	assert.NilError(t, os.Chtimes(old, past, past))
	removed, err = SweepStale(base)
	assert.NilError(t, err)
	assert.DeepEqual(t, removed, []string{old})
}

// killedRunChild generates a dependent whose script signals the parent and
// then waits to be killed, holding base's secret in $in.
func killedRunChild() {
	id, _ := age.GenerateX25519Identity()
	started := os.Getenv("STARTED")
	gens := `{` + opensshGen + `,` + gen("base", `printf secret-base > "$out/key"`, nil, "key") + `,` +
		gen("derived", `echo $$ > `+started+`; exec sleep 60`, []string{"base"}, "both") + `}`
	f, err := fleet.Parse([]byte(fleetJSON(gens, id.Recipient().String())))
	if err != nil {
		panic(err)
	}
	f.Machines["m"].Generators["derived"].Reads = []string{"base/key"}
	dir, err := os.MkdirTemp("", "killed-run-")
	if err != nil {
		panic(err)
	}
	v := New(f, filepath.Join(dir, "vars"))
	v.Identities = func() ([]age.Identity, error) { return []age.Identity{id}, nil }
	_, err = v.Generate(context.Background(), GenerateOptions{})
	panic(err) // not reached: the parent kills this process first
}

// gitRepo makes a git repository in a fresh directory with files committed.
func gitRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	treetest.Write(t, dir, files)
	treetest.GitCommit(t, dir)
	return dir
}

// TestRefusesPublishedKeys reproduces issue 16 part 2: the real fleet's
// admins had the lab's age keys, whose private halves are committed, so
// anyone with the repository could read its secrets. Generate (and rekey,
// through the same sealSecret) now refuses a recipient whose private key
// is tracked in the repository holding the vars, unless the fleet declares
// itself a lab naming that identity file; a placeholder key fails with how
// to set one.
func TestRefusesPublishedKeys(t *testing.T) {
	admin, _ := age.GenerateX25519Identity()
	keyFile := []byte("# test identity\n" + admin.String() + "\n")
	tests := []struct {
		name    string
		lab     *fleet.Lab
		key     string
		wantErr string
	}{
		{name: "published admin key", key: admin.Recipient().String(), wantErr: "has its private key in keys/admin.agekey"},
		{name: "lab names another file", lab: &fleet.Lab{Identities: []string{"keys/other.agekey"}}, key: admin.Recipient().String(), wantErr: "refusing to encrypt"},
		{name: "lab declares it", lab: &fleet.Lab{Identities: []string{"keys/admin.agekey"}}, key: admin.Recipient().String()},
		{name: "placeholder", key: "PLACEHOLDER-admin: set your key", wantErr: "age-keygen -y ~/.config/sops/age/keys.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := gitRepo(t, map[string]string{"keys/admin.agekey": string(keyFile)})
			gens := `{` + opensshGen + `,` + gen("base", `printf s > "$out/key"`, nil, "key") + `}`
			f := parseFleet(t, fleetJSON(gens, tc.key))
			f.Lab = tc.lab
			v := New(f, filepath.Join(repo, "vars"))
			v.TmpDir = t.TempDir()
			v.Identities = func() ([]age.Identity, error) { return []age.Identity{admin}, nil }
			_, err := v.Generate(context.Background(), GenerateOptions{})
			if tc.wantErr == "" {
				assert.NilError(t, err)
				got, err := v.Get("m", "base/key")
				assert.NilError(t, err)
				assert.Equal(t, string(got), "s")
				return
			}
			assert.ErrorContains(t, err, tc.wantErr)
			_, err = os.Stat(filepath.Join(repo, "vars", "per-machine", "m", "base"))
			assert.Assert(t, errors.Is(err, os.ErrNotExist), "a secret was written")
		})
	}
}
