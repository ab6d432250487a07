package sops

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
)

// TestAdminKeysFindWhatSopsFinds: for each place sops 3.x reads an age key
// from, a key put there (and nowhere else) decrypts a file the real sops
// encrypted to it, both with `sops decrypt` and with the suite's reader of
// the keys adminkeys.Find finds under the same environment. And where sops
// finds nothing, Find finds nothing either: what the admin's sops reads,
// the suite reads, no more.
func TestAdminKeysFindWhatSopsFinds(t *testing.T) {
	bin := sopsBinary(t)
	tests := []struct {
		name string
		// place puts the key (an age identity line, or an ssh private key
		// in OpenSSH's format when ssh) under home and returns the
		// environment that points there.
		place  func(t *testing.T, home, key string) []string
		ssh    bool
		noKeys bool // the key is where neither may look
	}{
		{name: "SOPS_AGE_KEY, as a CI secret", place: func(t *testing.T, home, key string) []string {
			return []string{"SOPS_AGE_KEY=# ci\n" + newID(t).String() + " " + key}
		}},
		{name: "SOPS_AGE_KEY_FILE", place: func(t *testing.T, home, key string) []string {
			return []string{"SOPS_AGE_KEY_FILE=" + put(t, filepath.Join(home, "k.txt"), key)}
		}},
		{name: "SOPS_AGE_KEY_CMD", place: func(t *testing.T, home, key string) []string {
			f := put(t, filepath.Join(home, "k.txt"), key)
			return []string{"SOPS_AGE_KEY_CMD=cat " + f}
		}},
		{name: "the default keys.txt", place: func(t *testing.T, home, key string) []string {
			dir := ".config"
			if runtime.GOOS == "darwin" {
				dir = "Library/Application Support"
			}
			put(t, filepath.Join(home, dir, "sops/age/keys.txt"), key)
			return nil
		}},
		{name: "XDG_CONFIG_HOME's keys.txt", place: func(t *testing.T, home, key string) []string {
			put(t, filepath.Join(home, "xdg/sops/age/keys.txt"), key)
			return []string{"XDG_CONFIG_HOME=" + filepath.Join(home, "xdg")}
		}},
		{name: "SOPS_AGE_SSH_PRIVATE_KEY_FILE", ssh: true, place: func(t *testing.T, home, key string) []string {
			return []string{"SOPS_AGE_SSH_PRIVATE_KEY_FILE=" + put(t, filepath.Join(home, "admin_ed25519"), key)}
		}},
		{name: "~/.ssh/id_ed25519", ssh: true, place: func(t *testing.T, home, key string) []string {
			put(t, filepath.Join(home, ".ssh/id_ed25519"), key)
			return nil
		}},
		{name: "a keys.txt where this platform's sops does not look", noKeys: true, place: func(t *testing.T, home, key string) []string {
			dir := "Library/Application Support"
			if runtime.GOOS == "darwin" {
				dir = ".config"
			}
			put(t, filepath.Join(home, dir, "sops/age/keys.txt"), key)
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			key, recipient := ageKey(t)
			if tc.ssh {
				key, recipient = sshKey(t)
			}
			env := append([]string{"HOME=" + home, "PATH=/usr/bin:/bin"}, tc.place(t, home, key)...)

			plain := filepath.Join(t.TempDir(), "s.yaml")
			assert.NilError(t, os.WriteFile(plain, []byte(plainFor[YAML]), 0o600))
			ct, err := sopsRun(bin, env, "encrypt", "--age", recipient, plain)
			assert.NilError(t, err)
			enc := filepath.Join(t.TempDir(), "s.yaml")
			assert.NilError(t, os.WriteFile(enc, ct, 0o600))

			_, sopsErr := sopsRun(bin, env, "decrypt", enc)
			k, findErr := adminkeys.Find(adminkeys.Place{GOOS: runtime.GOOS, Home: home, Env: lookup(env)})
			if tc.noKeys {
				assert.Check(t, sopsErr != nil, "sops found a key where it should not look")
				assert.Check(t, is.ErrorIs(findErr, adminkeys.ErrNone))
				return
			}
			assert.NilError(t, sopsErr, "sops itself does not read this place")
			assert.NilError(t, findErr)
			pt, err := Decrypt(YAML, ct, k.Identities)
			assert.NilError(t, err)
			assertSameDoc(t, YAML, pt, []byte(plainFor[YAML]))
		})
	}
}

func put(t *testing.T, path, body string) string {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	assert.NilError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func ageKey(t *testing.T) (key, recipient string) {
	id := newID(t)
	return id.String() + "\n", id.Recipient().String()
}

func sshKey(t *testing.T) (key, recipient string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	assert.NilError(t, err)
	b, err := ssh.MarshalPrivateKey(priv, "")
	assert.NilError(t, err)
	sp, err := ssh.NewPublicKey(pub)
	assert.NilError(t, err)
	return string(pem.EncodeToMemory(b)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func lookup(env []string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for _, kv := range env {
			if n, v, ok := strings.Cut(kv, "="); ok && n == k {
				return v, true
			}
		}
		return "", false
	}
}

// sopsRun runs the real sops in exactly env (no variable of this process
// leaks in) and returns its standard output.
func sopsRun(bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return out, errors.New(string(ee.Stderr))
	}
	return out, err
}
