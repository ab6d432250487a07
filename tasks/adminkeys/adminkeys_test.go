package adminkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func write(t *testing.T, path, body string) string {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	assert.NilError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func newID(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	return id
}

// sshKey writes an ed25519 private key in OpenSSH's format, with a
// passphrase when one is given.
func sshKey(t *testing.T, path, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	assert.NilError(t, err)
	var b *pem.Block
	if passphrase == "" {
		b, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		b, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	assert.NilError(t, err)
	return write(t, path, string(pem.EncodeToMemory(b)))
}

// recipients returns the X25519 recipients of ids, in order ("ssh" for an
// ssh identity).
func recipients(ids []age.Identity) []string {
	var out []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			out = append(out, x.Recipient().String())
		} else {
			out = append(out, "ssh")
		}
	}
	return out
}

func TestDefaultKeyFile(t *testing.T) {
	tests := []struct {
		goos, xdg, want string
	}{
		{"linux", "", "/home/u/.config/sops/age/keys.txt"},
		{"linux", "/x/cfg", "/x/cfg/sops/age/keys.txt"},
		{"darwin", "", "/home/u/Library/Application Support/sops/age/keys.txt"},
		{"darwin", "/x/cfg", "/x/cfg/sops/age/keys.txt"},
		{"linux", "relative", "/home/u/.config/sops/age/keys.txt"},
	}
	assert.Check(t, is.Equal(Place{GOOS: "linux", Env: env(nil)}.DefaultKeyFile(), ""), "no home: no relative path")
	for _, tc := range tests {
		e := map[string]string{}
		if tc.xdg != "" {
			e["XDG_CONFIG_HOME"] = tc.xdg
		}
		p := Place{GOOS: tc.goos, Home: "/home/u", Env: env(e)}
		assert.Check(t, is.Equal(p.DefaultKeyFile(), tc.want), "%s xdg=%q", tc.goos, tc.xdg)
	}
}

// Find reads every place sops reads, in sops's order, and the suite's
// override alone when it is set.
func TestFind(t *testing.T) {
	home := t.TempDir()
	a, b, c, d := newID(t), newID(t), newID(t), newID(t)
	fileB := write(t, filepath.Join(t.TempDir(), "b.txt"), "# created: today\n"+b.String()+"\n")
	fileD := write(t, filepath.Join(t.TempDir(), "d.txt"), d.String()+"\n")
	defLinux := filepath.Join(home, ".config/sops/age/keys.txt")
	defMac := filepath.Join(home, "Library/Application Support/sops/age/keys.txt")
	tests := []struct {
		name    string
		goos    string
		env     map[string]string
		files   map[string]string // relative to home: contents
		run     func(string) ([]byte, error)
		want    []string // recipients, in order
		from    []string
		chosen  bool
		wantErr string
	}{
		{name: "the default file on linux", goos: "linux", files: map[string]string{".config/sops/age/keys.txt": a.String()},
			want: []string{a.Recipient().String()}, from: []string{defLinux}, chosen: true},
		{name: "the default file on a mac", goos: "darwin", files: map[string]string{"Library/Application Support/sops/age/keys.txt": a.String()},
			want: []string{a.Recipient().String()}, from: []string{defMac}, chosen: true},
		{name: "a mac does not read linux's place", goos: "darwin", files: map[string]string{".config/sops/age/keys.txt": a.String()},
			wantErr: "looked at " + defMac},
		{name: "SOPS_AGE_KEY, several keys on a line, as CI passes them", goos: "linux", env: map[string]string{KeyEnv: "# the fleet's CI key\n  " + a.String() + " " + b.String() + "\n"},
			want: []string{a.Recipient().String(), b.Recipient().String()}, from: []string{KeyEnv}, chosen: true},
		{name: "every sops place at once, in sops's order", goos: "linux",
			env:   map[string]string{KeyEnv: a.String(), KeyFileEnv: fileB, KeyCmdEnv: "print c"},
			files: map[string]string{".config/sops/age/keys.txt": d.String()},
			run:   func(string) ([]byte, error) { return []byte(c.String() + "\n"), nil },
			want:  []string{a.Recipient().String(), b.Recipient().String(), c.Recipient().String(), d.Recipient().String()},
			from:  []string{KeyEnv, fileB, KeyCmdEnv, defLinux}, chosen: true},
		{name: "the override alone", goos: "linux",
			env:   map[string]string{IdentityEnv: fileB + ":" + fileD, KeyEnv: a.String()},
			files: map[string]string{".config/sops/age/keys.txt": c.String()},
			want:  []string{b.Recipient().String(), d.Recipient().String()}, from: []string{fileB, fileD}, chosen: true},
		{name: "the override's alias", goos: "linux", env: map[string]string{KeyFileAlias: fileD},
			want: []string{d.Recipient().String()}, from: []string{fileD}, chosen: true},
		{name: "an empty variable is unset", goos: "linux", env: map[string]string{IdentityEnv: "", KeyEnv: " ", KeyFileEnv: ""},
			files: map[string]string{".config/sops/age/keys.txt": a.String()}, want: []string{a.Recipient().String()}, from: []string{defLinux}, chosen: true},
		{name: "an ssh key in ~/.ssh is read, but is no chosen age key", goos: "linux", files: map[string]string{".ssh/id_ed25519": "ssh"},
			want: []string{"ssh"}, from: []string{filepath.Join(home, ".ssh/id_ed25519")}},
		{name: "a passphrase-protected ssh key in ~/.ssh is skipped", goos: "linux", files: map[string]string{".ssh/id_ed25519": "ssh:secret"},
			wantErr: "id_ed25519 (skipped: passphrase-protected)"},

		{name: "a plugin identity beside a plain key", goos: "linux", files: map[string]string{".config/sops/age/keys.txt": "# yubikey\nAGE-PLUGIN-YUBIKEY-1QQQQQQ\n" + a.String() + "\n"},
			want: []string{a.Recipient().String()}, from: []string{defLinux}, chosen: true},
		{name: "only a plugin identity, in the default file", goos: "linux", files: map[string]string{".config/sops/age/keys.txt": "AGE-PLUGIN-YUBIKEY-1QQQQQQ\n"},
			wantErr: "keys.txt (skipped: only age plugin identities)"},
		{name: "only a plugin identity, in a named file", goos: "linux", env: map[string]string{KeyFileEnv: "~/k.txt"}, files: map[string]string{"k.txt": "AGE-PLUGIN-YUBIKEY-1QQQQQQ\n"},
			wantErr: "holds only age plugin identities"},
		{name: "nothing anywhere", goos: "linux", wantErr: "no admin age identity: looked at " + defLinux + "; put your age key in one of them, or set SOPS_AGE_KEY_FILE"},
		{name: "a named file that is missing", goos: "linux", env: map[string]string{KeyFileEnv: filepath.Join(home, "nope")},
			files: map[string]string{".config/sops/age/keys.txt": a.String()}, wantErr: "admin age identity file " + filepath.Join(home, "nope") + ": open"},
		{name: "an override file that is missing", goos: "linux", env: map[string]string{IdentityEnv: filepath.Join(home, "nope")},
			wantErr: "set VANIXIETS_AGE_IDENTITY to your age key files"},
		{name: "a malformed SOPS_AGE_KEY", goos: "linux", env: map[string]string{KeyEnv: "AGE-SECRET-KEY-1NOTAKEY"},
			wantErr: "admin age identity in $SOPS_AGE_KEY"},
		{name: "a malformed default file", goos: "linux", files: map[string]string{".config/sops/age/keys.txt": "hello\n"},
			wantErr: "keys.txt: "},
		{name: "a passphrase-protected age key file", goos: "linux", files: map[string]string{".config/sops/age/keys.txt": "age-encryption.org/v1\n-> scrypt x 18\n"},
			wantErr: "is itself age-encrypted"},
		{name: "a failing key command", goos: "linux", env: map[string]string{KeyCmdEnv: "op read x"},
			run: func(string) ([]byte, error) { return nil, errors.New("exit status 1") }, wantErr: "$SOPS_AGE_KEY_CMD (op read x): exit status 1"},
		{name: "a named passphrase-protected ssh key", goos: "linux", env: map[string]string{SSHKeyFileEnv: "~/.ssh/k"}, files: map[string]string{".ssh/k": "ssh:secret"},
			wantErr: "is passphrase-protected: the suite does not prompt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := filepath.Join(home, strings.ReplaceAll(tc.name, " ", "_"))
			for rel, body := range tc.files {
				switch {
				case body == "ssh":
					sshKey(t, filepath.Join(h, rel), "")
				case strings.HasPrefix(body, "ssh:"):
					sshKey(t, filepath.Join(h, rel), strings.TrimPrefix(body, "ssh:"))
				default:
					write(t, filepath.Join(h, rel), body)
				}
			}
			e := map[string]string{}
			for k, v := range tc.env {
				e[k] = strings.ReplaceAll(strings.ReplaceAll(v, "~", h), home+"/nope", h+"/nope")
			}
			p := Place{GOOS: tc.goos, Home: h, Env: env(e), Run: tc.run}
			k, err := Find(p)
			if tc.wantErr != "" {
				want := strings.ReplaceAll(tc.wantErr, home, h)
				assert.Check(t, is.ErrorContains(err, want))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(recipients(k.Identities), tc.want))
			var from []string
			for _, f := range tc.from {
				from = append(from, strings.ReplaceAll(f, home, h))
			}
			assert.Check(t, is.DeepEqual(k.From, from))
			assert.Check(t, is.Equal(k.Chosen(), tc.chosen))
		})
	}
}

// Files names what Find reads without reading it: the override's list, or
// SOPS_AGE_KEY_FILE and the platform's default.
func TestFiles(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{nil, []string{"/h/.config/sops/age/keys.txt"}},
		{map[string]string{KeyFileEnv: "/k"}, []string{"/k", "/h/.config/sops/age/keys.txt"}},
		{map[string]string{IdentityEnv: "/a::/b", KeyFileEnv: "/k"}, []string{"/a", "/b"}},
	}
	for _, tc := range tests {
		assert.Check(t, is.DeepEqual(Place{GOOS: "linux", Home: "/h", Env: env(tc.env)}.Files(), tc.want))
	}
}

// The default command runner is sh -c, its output the keys.
func TestKeyCommandRunsInAShell(t *testing.T) {
	a := newID(t)
	p := Place{GOOS: "linux", Home: t.TempDir(), Env: env(map[string]string{KeyCmdEnv: "printf '%s\\n' " + a.String()})}
	k, err := Find(p)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(recipients(k.Identities), []string{a.Recipient().String()}))
	assert.Check(t, is.DeepEqual(k.From, []string{KeyCmdEnv}))
}

func FuzzFindKeyEnv(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	f.Add(id.String())
	f.Add("# comment\n" + id.String() + " " + id.String())
	f.Add("AGE-SECRET-KEY-1")
	f.Fuzz(func(t *testing.T, v string) {
		p := Place{GOOS: "linux", Home: "/nonexistent-home", Env: env(map[string]string{KeyEnv: v})}
		k, err := Find(p)
		if err == nil && len(k.Identities) == 0 {
			t.Fatalf("no error and no identity for %q", v)
		}
	})
}

func TestDescribeAndNamed(t *testing.T) {
	tests := []struct {
		env   map[string]string
		want  string
		named bool
	}{
		{nil, "/h/.config/sops/age/keys.txt", false},
		{map[string]string{KeyEnv: "x", KeyFileEnv: "/k", "XDG_CONFIG_HOME": "/c"}, "$SOPS_AGE_KEY, /k, /c/sops/age/keys.txt", true},
		{map[string]string{KeyFileAlias: "/a:/b", KeyEnv: "x"}, "/a:/b", true},
		{map[string]string{KeyCmdEnv: "op read x"}, "$SOPS_AGE_KEY_CMD, /h/.config/sops/age/keys.txt", true},
		{map[string]string{IdentityEnv: ""}, "/h/.config/sops/age/keys.txt", false},
	}
	for _, tc := range tests {
		p := Place{GOOS: "linux", Home: "/h", Env: env(tc.env)}
		assert.Check(t, is.Equal(p.Describe(), tc.want))
		assert.Check(t, is.Equal(p.Named(), tc.named), "%v", tc.env)
	}
}

func TestReadFiles(t *testing.T) {
	a := newID(t)
	good := write(t, filepath.Join(t.TempDir(), "a.agekey"), "# TEST-ONLY\n"+a.String()+"\n")
	ids, err := ReadFiles("", good)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(recipients(ids), []string{a.Recipient().String()}))
	_, err = ReadFiles(good, filepath.Join(t.TempDir(), "none"))
	assert.Check(t, is.ErrorContains(err, "set VANIXIETS_AGE_IDENTITY"))
	ids, err = ReadFiles()
	assert.NilError(t, err)
	assert.Check(t, is.Len(ids, 0))
}

// Without a home, nothing relative to the working directory is read.
func TestFindWithoutHome(t *testing.T) {
	_, err := Find(Place{GOOS: "linux", Env: env(nil)})
	assert.Check(t, is.ErrorIs(err, ErrNone))
	assert.Check(t, is.ErrorContains(err, "no home directory"))
	a := newID(t)
	k, err := Find(Place{GOOS: "linux", Env: env(map[string]string{KeyEnv: a.String()})})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(k.From, []string{KeyEnv}))
}
