package agekey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
)

func gitCommit(t *testing.T, dir string, tracked map[string]string) {
	t.Helper()
	treetest.Write(t, dir, tracked)
	treetest.GitCommit(t, dir)
}

// TestPublishedIn: keys whose private halves are in tracked files (an
// identity file, a key pasted into source, an OpenSSH ed25519 key) are
// found by their public keys; an untracked key file and a fresh key are
// not published.
func TestPublishedIn(t *testing.T) {
	idFile, _ := age.GenerateX25519Identity()
	inSource, _ := age.GenerateX25519Identity()
	untracked, _ := age.GenerateX25519Identity()
	fresh, _ := age.GenerateX25519Identity()
	sshKey, err := os.ReadFile("testdata/ed25519_1")
	assert.NilError(t, err)
	sshPub, err := os.ReadFile("testdata/ed25519_1.pub")
	assert.NilError(t, err)
	sshRecipient, err := RecipientFromSSH(sshPub)
	assert.NilError(t, err)

	repo := t.TempDir()
	gitCommit(t, repo, map[string]string{
		"keys/a.agekey":  "# created: now\n# public key: " + idFile.Recipient().String() + "\n" + idFile.String() + "\n",
		"src/fixture.go": "package x\nconst k = \"" + inSource.String() + "\"\n",
		"ssh/id":         string(sshKey),
		"README":         "AGE-SECRET-KEY-1 is how identities start\n",
	})
	assert.NilError(t, os.WriteFile(filepath.Join(repo, "keys", "untracked.agekey"), []byte(untracked.String()+"\n"), 0o600))

	p, err := PublishedIn(filepath.Join(repo, "keys"))
	assert.NilError(t, err)
	tests := []struct {
		key  string
		file string // "" = not published
	}{
		{idFile.Recipient().String(), "keys/a.agekey"},
		{inSource.Recipient().String(), "src/fixture.go"},
		{sshRecipient, "ssh/id"},
		{strings.TrimSpace(string(sshPub)), "ssh/id"},
		{untracked.Recipient().String(), ""},
		{fresh.Recipient().String(), ""},
	}
	for _, tc := range tests {
		f, ok := p.File(tc.key)
		if tc.file == "" {
			assert.Assert(t, !ok, "%s reported published in %s", tc.key, f)
			continue
		}
		assert.Assert(t, ok, "%s (in %s) not found", tc.key, tc.file)
		assert.Equal(t, f, filepath.Join(p.Root, filepath.FromSlash(tc.file)))
	}

	err = p.Check([]Recipient{{Key: fresh.Recipient().String(), Who: "machine:m"}, {Key: idFile.Recipient().String(), Who: "user:a"}}, nil)
	assert.Assert(t, errors.Is(err, ErrPublished))
	assert.Check(t, is.ErrorContains(err, "(user:a) has its private key in keys/a.agekey"))
	assert.Check(t, is.ErrorContains(err, "fleet.lab.identities"))
	assert.NilError(t, p.Check([]Recipient{{Key: idFile.Recipient().String(), Who: "user:a"}}, []string{filepath.Join(p.Root, "keys", "a.agekey")}))
	assert.NilError(t, p.Check([]Recipient{{Key: fresh.Recipient().String(), Who: "user:b"}}, nil))

	// Outside any git repository nothing is published.
	none, err := PublishedIn(t.TempDir())
	assert.NilError(t, err)
	assert.Equal(t, none.Len(), 0)
}

// TestThisRepositoryPublishesTheLabKeys: the lab's identities are found in
// this very repository, so the real fleet cannot use them.
func TestThisRepositoryPublishesTheLabKeys(t *testing.T) {
	p, err := PublishedIn(".")
	assert.NilError(t, err)
	if p.Root == "" {
		// Outside any git repository PublishedIn finds nothing (no error):
		// Bazel's sandbox holds the package's files but no checkout whose
		// tracked files could be listed. `go test` (CI's go-unit) runs it.
		t.Skip("not in a git checkout (Bazel's sandbox): run with go test")
	}
	for _, name := range []string{"cameron", "crs58"} {
		b, err := os.ReadFile(filepath.Join(p.Root, "lab", "keys", name+".agekey"))
		assert.NilError(t, err)
		ids, err := age.ParseIdentities(strings.NewReader(string(b)))
		assert.NilError(t, err)
		f, ok := p.File(ids[0].(*age.X25519Identity).Recipient().String())
		assert.Assert(t, ok, "lab key %s not found", name)
		assert.Equal(t, filepath.Base(f), name+".agekey")
	}
}

func TestPlaceholder(t *testing.T) {
	_, err := ParseRecipient(`user "crs58" ageKeys[0]`, "PLACEHOLDER-crs58: set it")
	assert.ErrorContains(t, err, `user "crs58" ageKeys[0] is a placeholder`)
	assert.ErrorContains(t, err, "age-keygen -y ~/.config/sops/age/keys.txt")
	assert.Assert(t, !IsPlaceholder("age1abc"))
}

// FuzzPublishedScan: scanning arbitrary file content never panics, and
// every key it reports comes from an identity that really is in the text.
func FuzzPublishedScan(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	f.Add([]byte(id.String()))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"))
	f.Add([]byte("AGE-SECRET-KEY-1" + strings.Repeat("Q", 58)))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &Published{byKey: map[string]string{}}
		p.scan("/f", b)
		for k := range p.byKey {
			if strings.HasPrefix(k, "age1") && !strings.Contains(string(b), "OPENSSH PRIVATE KEY") {
				found := false
				for _, m := range ageSecretRe.FindAll(b, -1) {
					if x, err := age.ParseX25519Identity(string(m)); err == nil && x.Recipient().String() == k {
						found = true
					}
				}
				assert.Assert(t, found, "reported %s not derived from the text", k)
			}
		}
	})
}
