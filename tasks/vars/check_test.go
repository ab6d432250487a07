package vars

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

func TestCheckFindsBadSecrets(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})
	zt := filepath.Join(v.Dir, "per-machine/cinnabar/zerotier/zerotier-identity-secret/secret")
	orig, err := os.ReadFile(zt)
	assert.NilError(t, err)

	other1, _ := age.GenerateX25519Identity()
	other2, _ := age.GenerateX25519Identity()
	wrong, err := sops.Encrypt(sops.Binary, []byte("x"), []string{other1.Recipient().String(), other2.Recipient().String()})
	assert.NilError(t, err)
	three, err := sops.Encrypt(sops.Binary, []byte("x"), []string{other1.Recipient().String(), other2.Recipient().String(), ids["cameron"].Recipient().String()})
	assert.NilError(t, err)
	// A MAC from another secret under the same key cannot be made: the
	// closest tamper is the values of one file with the MAC of another.
	sf, err := sops.Parse(sops.Binary, orig)
	assert.NilError(t, err)
	other, err := sops.Parse(sops.Binary, mustRead(t, filepath.Join(v.Dir, "per-machine/cinnabar/openssh/ssh.id_ed25519/secret")))
	assert.NilError(t, err)
	sf.Meta.MAC = other.Meta.MAC
	tampered, err := sf.Emit()
	assert.NilError(t, err)
	keyJSON := filepath.Join(filepath.Dir(v.Dir), "sops/users/cameron/key.json")
	savedKey := mustRead(t, keyJSON)

	tests := []struct {
		name    string
		mutate  func(t *testing.T)
		want    []string
		decrypt bool
	}{
		{name: "not sops", mutate: func(t *testing.T) { write(t, zt, "zerotier secret in plain text\n") }, want: []string{"zerotier-identity-secret/secret: not a sops file"}},
		{name: "truncated", mutate: func(t *testing.T) { write(t, zt, string(orig[:60])) }, want: []string{"zerotier-identity-secret/secret: not a sops file"}},
		{name: "other recipients, same count", mutate: func(t *testing.T) { write(t, zt, string(wrong)) }, decrypt: true, want: []string{
			"encrypted to " + other1.Recipient().String() + ", which the fleet does not give this secret",
			"recipient " + other1.Recipient().String() + " is in no key.json of its links",
			"intended recipient machine:cinnabar cannot decrypt it", "intended recipient user:cameron cannot decrypt it"}},
		{name: "extra recipient", mutate: func(t *testing.T) { write(t, zt, string(three)) }, want: []string{"encrypted to " + other2.Recipient().String() + ", which the fleet does not give"}},
		{name: "tampered (MAC of another file)", mutate: func(t *testing.T) { write(t, zt, string(tampered)) }, decrypt: true, want: []string{"zerotier-identity-secret/secret: MAC mismatch"}},
		{name: "key.json not JSON", mutate: func(t *testing.T) { write(t, keyJSON, "age1notjson") }, want: []string{"sops/users/cameron/key.json is not JSON"}},
		{name: "missing secret", mutate: func(t *testing.T) { assert.NilError(t, os.Remove(zt)) }, want: []string{"secret missing"}},
		{name: "stray file", mutate: func(t *testing.T) { write(t, filepath.Join(v.Dir, "per-machine/cinnabar/zerotier/notes.txt"), "hi") }, want: []string{"per-machine/cinnabar/zerotier/notes.txt: stray"}},
		{name: "stray machine", mutate: func(t *testing.T) {
			write(t, filepath.Join(v.Dir, "per-machine/gone/openssh/.validation-hash"), "x")
		}, want: []string{"per-machine/gone: stray"}},
		{name: "leftover swap", mutate: func(t *testing.T) {
			assert.NilError(t, os.MkdirAll(filepath.Join(v.Dir, "per-machine/cinnabar/.zerotier.new-1"), 0o755))
		}, want: []string{"per-machine/cinnabar/.zerotier.new-1: stray"}},
		{name: "recipient link to nowhere", mutate: func(t *testing.T) {
			assert.NilError(t, os.Symlink("../../../../../../sops/users/mallory", filepath.Join(filepath.Dir(zt), "users", "mallory")))
		}, want: []string{"users/mallory points nowhere", "recipient link users/mallory is not one of the fleet's recipients"}},
		{name: "outdated", mutate: func(t *testing.T) { f.Machines["cinnabar"].Generators["zerotier"].Script += "#" }, want: []string{"is outdated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			saved := f.Machines["cinnabar"].Generators["zerotier"].Script
			t.Cleanup(func() {
				// restore the generated tree for the next case
				f.Machines["cinnabar"].Generators["zerotier"].Script = saved
				_ = os.RemoveAll(filepath.Join(v.Dir, "per-machine/gone"))
				_ = os.RemoveAll(filepath.Join(v.Dir, "per-machine/cinnabar/.zerotier.new-1"))
				_ = os.Remove(filepath.Join(v.Dir, "per-machine/cinnabar/zerotier/notes.txt"))
				write(t, zt, string(orig))
			})
			t.Cleanup(func() {
				_ = os.Remove(filepath.Join(filepath.Dir(zt), "users", "mallory"))
				write(t, keyJSON, string(savedKey))
			})
			tc.mutate(t)
			probs, err := newVarsAt(t, v).Check(CheckOptions{Decrypt: tc.decrypt})
			assert.NilError(t, err)
			var all []string
			for _, p := range probs {
				all = append(all, p.String())
			}
			joined := strings.Join(all, "\n")
			for _, w := range tc.want {
				assert.Assert(t, is.Contains(joined, w))
			}
		})
	}
	// Restored: clean again.
	assertCheckClean(t, newVarsAt(t, v))

	// rekey refuses a non-age secret rather than overwrite it.
	write(t, zt, "plain\n")
	_, err = newVarsAt(t, v).Rekey()
	assert.ErrorContains(t, err, "not valid JSON")
	write(t, zt, string(orig))
}

func write(t *testing.T, p, s string) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	assert.NilError(t, os.WriteFile(p, []byte(s), 0o644))
}

// TestSopsCLIDecryptsWithSSHToAgeIdentity is the interoperability test: a
// secret this package wrote decrypts with Debian's age using the identity
// tools/ssh-to-age -private-key derives from the machine's host key, and
// fails with another machine's.
func TestSopsCLIDecryptsWithSSHToAgeIdentity(t *testing.T) {
	sopsBin, err := sops.BinaryPath(paths.Tools())
	if err != nil {
		t.Skip(err.Error())
	}
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{Machines: []string{"cinnabar", "stibnite"}})
	bin := filepath.Join(t.TempDir(), "ssh-to-age")
	build := exec.Command("go", "build", "-o", bin, "../../tools/ssh-to-age")
	out, err := build.CombinedOutput()
	assert.NilError(t, err, string(out))

	identity := func(m string) string {
		hostKey, err := v.Get(m, "openssh/ssh.id_ed25519")
		assert.NilError(t, err)
		cmd := exec.Command(bin, "-private-key")
		cmd.Stdin = bytes.NewReader(hostKey)
		id, err := cmd.Output()
		assert.NilError(t, err)
		p := filepath.Join(t.TempDir(), m+".agekey")
		assert.NilError(t, os.WriteFile(p, id, 0o600))
		return p
	}
	ct, err := os.ReadFile(filepath.Join(v.Dir, "per-machine/cinnabar/zerotier/zerotier-identity-secret/secret"))
	assert.NilError(t, err)
	want, err := v.Get("cinnabar", "zerotier/zerotier-identity-secret")
	assert.NilError(t, err)

	sopsCLI := func(ct []byte, keyFile string) ([]byte, error) {
		p := filepath.Join(t.TempDir(), "secret")
		assert.NilError(t, os.WriteFile(p, ct, 0o600))
		cmd := exec.Command(sopsBin, "decrypt", p)
		cmd.Env = []string{"SOPS_AGE_KEY_FILE=" + keyFile, "HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
		return cmd.Output()
	}
	pt, err := sopsCLI(ct, identity("cinnabar"))
	assert.NilError(t, err)
	// sops shows exactly the secret: the binding is a value of its own.
	assert.Equal(t, string(pt), string(want))
	_, err = sopsCLI(ct, identity("stibnite"))
	assert.Assert(t, err != nil, "stibnite's key decrypted cinnabar's secret")

	// The shared secret decrypts with cinnabar's key, not stibnite's (a laptop).
	sct, err := os.ReadFile(filepath.Join(v.Dir, "shared/admin-password/admin-password/secret"))
	assert.NilError(t, err)
	_, err = sopsCLI(sct, identity("cinnabar"))
	assert.NilError(t, err)
	_, err = sopsCLI(sct, identity("stibnite"))
	assert.Assert(t, err != nil)

	// The machine recipient is what ssh-to-age prints for the public host key.
	pub, err := v.Get("cinnabar", "openssh/ssh.id_ed25519.pub")
	assert.NilError(t, err)
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(pub)
	r, err := cmd.Output()
	assert.NilError(t, err)
	// and what clan reads: the machine's key.json, linked from the secret.
	keys, err := readKeyJSON(filepath.Join(v.Dir, "per-machine/cinnabar/zerotier/zerotier-identity-secret/machines/cinnabar/key.json"))
	assert.NilError(t, err)
	assert.DeepEqual(t, keys, []string{strings.TrimSpace(string(r))})
}

func TestGet(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{Machines: []string{"stibnite"}})
	b, err := v.Get("stibnite", "openssh/ssh.id_ed25519")
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(string(b), "OPENSSH PRIVATE KEY"))
	for _, tc := range []struct{ m, gf, want string }{
		{"stibnite", "openssh", "want <generator>/<file>"},
		{"stibnite", "nope/x", `machine "stibnite" has no generator "nope"`},
		{"stibnite", "openssh/x", `has no file "x"`},
		{"nosuch", "openssh/x", `unknown machine "nosuch"`},
	} {
		_, err := v.Get(tc.m, tc.gf)
		assert.ErrorContains(t, err, tc.want)
	}
	// Not an admin of stibnite (cameron only): clear error.
	v2 := newVarsAt(t, v)
	v2.Identities = func() ([]age.Identity, error) { return []age.Identity{ids["cameron"]}, nil }
	_, err = v2.Get("stibnite", "openssh/ssh.id_ed25519")
	assert.ErrorContains(t, err, "is ")
	assert.ErrorContains(t, err, "an admin of [stibnite]")
}

// LoadIdentities reads the admin's keys where sops does (tasks/adminkeys
// has the full table); these cases are the ones vars' messages name.
func TestLoadIdentities(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", "")
	id, _ := age.GenerateX25519Identity()
	good := filepath.Join(dir, "keys.txt")
	write(t, good, "# created: today\n"+id.String()+"\n")
	bad := filepath.Join(dir, "bad.txt")
	write(t, bad, "AGE-SECRET-KEY-1NOTAKEY\n")
	for _, tc := range []struct {
		name, vanixiets, sops, sopsKey, err string
	}{
		{name: "vanixiets env", vanixiets: good},
		{name: "sops env", sops: good},
		{name: "the key itself, as CI passes it", sopsKey: id.String()},
		{name: "vanixiets wins", vanixiets: good, sops: bad},
		{name: "malformed", vanixiets: bad, err: "want AGE-SECRET-KEY-1"},
		{name: "missing", vanixiets: filepath.Join(dir, "none"), err: "set VANIXIETS_AGE_IDENTITY"},
		{name: "none at all", err: "no admin age identity: looked at " + filepath.Join(dir, ".config/sops/age/keys.txt")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VANIXIETS_AGE_IDENTITY", tc.vanixiets)
			t.Setenv("VANIXIETS_AGE_KEY_FILE", "")
			t.Setenv("SOPS_AGE_KEY_FILE", tc.sops)
			t.Setenv("SOPS_AGE_KEY", tc.sopsKey)
			t.Setenv("SOPS_AGE_KEY_CMD", "")
			t.Setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "")
			ids, err := LoadIdentities()
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, identityRecipient(ids[0]), id.Recipient().String())
		})
	}
	adminkeystest.Unset(t)
	t.Setenv("SOPS_AGE_KEY", "x")
	assert.Equal(t, IdentitySource(), "$SOPS_AGE_KEY, "+filepath.Join(dir, ".config/sops/age/keys.txt"))
}

func FuzzParseHeader(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	ct, _ := encrypt([]byte("hello"), []Recipient{{Key: id.Recipient().String()}})
	f.Add(ct)
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n\n--- mac\n"))
	f.Add([]byte("not age"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseHeader(b)
		if err != nil {
			return
		}
		if len(st) == 0 {
			t.Fatal("accepted a header without stanzas")
		}
		for _, s := range st {
			if s.Type == "" {
				t.Fatal("stanza without type")
			}
		}
	})
}

func TestParseHeaderMatchesAge(t *testing.T) {
	var rs []Recipient
	for i := 0; i < 5; i++ {
		id, _ := age.GenerateX25519Identity()
		rs = append(rs, Recipient{Key: id.Recipient().String()})
		ct, err := encrypt(bytes.Repeat([]byte("x"), 100*i), rs)
		assert.NilError(t, err)
		st, err := ParseHeader(ct)
		assert.NilError(t, err)
		assert.Equal(t, len(st), i+1)
		for _, s := range st {
			assert.Equal(t, s.Type, "X25519")
		}
	}
}
