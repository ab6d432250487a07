package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
)

const vectors = "../../tasks/agekey/testdata"

func vector(t *testing.T, n int) (name, recipient, identity string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, "vectors.txt"))
	assert.NilError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	f := strings.Fields(lines[n])
	return f[0], f[1], f[2]
}

func TestFlags(t *testing.T) {
	name, rcpt, id := vector(t, 0)
	key := filepath.Join(vectors, name)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"public from -i", []string{"-i", key + ".pub"}, "", rcpt + "\n"},
		{"public from stdin", nil, mustRead(t, key+".pub"), rcpt + "\n"},
		{"private from -i", []string{"-private-key", "-i", key}, "", id + "\n"},
		{"private from stdin", []string{"-private-key"}, mustRead(t, key), id + "\n"},
		{"keyscan output skips rsa and comments", []string{"-i", "testdata/keyscan.txt"}, "", mustRead(t, "testdata/keyscan.want")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(append([]string{"ssh-to-age"}, tc.args...), strings.NewReader(tc.stdin), &out, &errb)
			assert.NilError(t, err, errb.String())
			assert.Equal(t, out.String(), tc.want)
		})
	}
}

func TestOutputFile(t *testing.T) {
	name, _, id := vector(t, 1)
	out := filepath.Join(t.TempDir(), "keys.txt")
	var stdout, stderr bytes.Buffer
	assert.NilError(t, run([]string{"ssh-to-age", "-private-key", "-i", filepath.Join(vectors, name), "-o", out}, nil, &stdout, &stderr))
	assert.Equal(t, stdout.Len(), 0)
	b, err := os.ReadFile(out)
	assert.NilError(t, err)
	assert.Equal(t, string(b), id+"\n")
	st, err := os.Stat(out)
	assert.NilError(t, err)
	assert.Equal(t, st.Mode().Perm(), os.FileMode(0o600))
	_, err = age.ParseIdentities(bytes.NewReader(b))
	assert.NilError(t, err)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"rsa private key", []string{"-private-key", "-i", filepath.Join(vectors, "rsa")}, "only ssh-ed25519"},
		{"missing input", []string{"-i", "/nonexistent/key"}, "read /nonexistent/key"},
		{"garbage public", []string{"-i", "testdata/garbage.pub"}, "parse ssh public key"},
		{"stray argument", []string{"key.pub"}, "unexpected argument"},
		{"encrypted key without passphrase", []string{"-private-key", "-i", filepath.Join(vectors, "ed25519_passphrase")}, "SSH_TO_AGE_PASSPHRASE"},
	}
	t.Setenv("SSH_TO_AGE_PASSPHRASE", "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(append([]string{"ssh-to-age"}, tc.args...), strings.NewReader(""), &out, &errb)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, out.Len(), 0)
		})
	}
}

func TestPassphraseFromEnv(t *testing.T) {
	t.Setenv("SSH_TO_AGE_PASSPHRASE", "test")
	var out, errb bytes.Buffer
	assert.NilError(t, run([]string{"ssh-to-age", "-private-key", "-i", filepath.Join(vectors, "ed25519_passphrase")}, nil, &out, &errb))
	id, err := age.ParseX25519Identity(strings.TrimSpace(out.String()))
	assert.NilError(t, err)
	var pub bytes.Buffer
	assert.NilError(t, run([]string{"ssh-to-age", "-i", filepath.Join(vectors, "ed25519_passphrase.pub")}, nil, &pub, &errb))
	assert.Equal(t, id.Recipient().String()+"\n", pub.String())
}

// TestAgeCLIInterop encrypts with Debian's age to the recipient this tool
// prints and decrypts with the identity it prints, and checks that another
// key's identity cannot decrypt.
func TestAgeCLIInterop(t *testing.T) {
	agePath, err := exec.LookPath("age")
	if err != nil {
		t.Skip("age command not installed (apt-get install age)")
	}
	dir := t.TempDir()
	name, rcpt, _ := vector(t, 2)
	var idOut, otherOut, errb bytes.Buffer
	assert.NilError(t, run([]string{"ssh-to-age", "-private-key", "-i", filepath.Join(vectors, name)}, nil, &idOut, &errb))
	other, _, _ := vector(t, 0)
	assert.NilError(t, run([]string{"ssh-to-age", "-private-key", "-i", filepath.Join(vectors, other)}, nil, &otherOut, &errb))
	idFile := filepath.Join(dir, "id")
	otherFile := filepath.Join(dir, "other")
	assert.NilError(t, os.WriteFile(idFile, idOut.Bytes(), 0o600))
	assert.NilError(t, os.WriteFile(otherFile, otherOut.Bytes(), 0o600))

	enc := exec.Command(agePath, "-r", rcpt, "-a")
	enc.Stdin = strings.NewReader("hello interop\n")
	ct, err := enc.Output()
	assert.NilError(t, err)

	dec := exec.Command(agePath, "-d", "-i", idFile)
	dec.Stdin = bytes.NewReader(ct)
	pt, err := dec.Output()
	assert.NilError(t, err)
	assert.Equal(t, string(pt), "hello interop\n")

	bad := exec.Command(agePath, "-d", "-i", otherFile)
	bad.Stdin = bytes.NewReader(ct)
	_, err = bad.Output()
	assert.Assert(t, err != nil, "another key decrypted the file")
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	assert.NilError(t, err)
	return string(b)
}
