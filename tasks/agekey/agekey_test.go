package agekey

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

type vector struct{ name, recipient, identity string }

// readVectors loads testdata/vectors.txt, written by gen_vectors.py from
// libsodium and the BIP 173 reference code (no code shared with this package).
func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	assert.NilError(t, err)
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		assert.Equal(t, len(p), 3, "bad vector line %q", sc.Text())
		out = append(out, vector{p[0], p[1], p[2]})
	}
	assert.Assert(t, len(out) >= 3)
	return out
}

func TestVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			pub, err := os.ReadFile(filepath.Join("testdata", v.name+".pub"))
			assert.NilError(t, err)
			r, err := RecipientFromSSH(pub)
			assert.NilError(t, err)
			assert.Equal(t, r, v.recipient)

			priv, err := os.ReadFile(filepath.Join("testdata", v.name))
			assert.NilError(t, err)
			var pass []byte
			if strings.Contains(v.name, "passphrase") {
				pass = []byte("test")
			}
			id, err := IdentityFromSSH(priv, pass)
			assert.NilError(t, err)
			assert.Equal(t, id, v.identity)

			// The identity age parses must have the converted public key as
			// its recipient: the two halves agree.
			parsed, err := age.ParseX25519Identity(id)
			assert.NilError(t, err)
			assert.Equal(t, parsed.Recipient().String(), v.recipient)
		})
	}
}

func TestKnownHostsLine(t *testing.T) {
	v := readVectors(t)[0]
	pub, err := os.ReadFile(filepath.Join("testdata", v.name+".pub"))
	assert.NilError(t, err)
	r, err := RecipientFromSSH(append([]byte("cinnabar,10.0.0.1 "), pub...))
	assert.NilError(t, err)
	assert.Equal(t, r, v.recipient)
}

func TestRandomKeysAgree(t *testing.T) {
	for i := 0; i < 200; i++ {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		assert.NilError(t, err)
		r, err := RecipientFromEd25519(pub)
		assert.NilError(t, err)
		id, err := IdentityFromEd25519(priv)
		assert.NilError(t, err)
		parsed, err := age.ParseX25519Identity(id)
		assert.NilError(t, err)
		assert.Equal(t, parsed.Recipient().String(), r)
	}
}

func TestBadKeys(t *testing.T) {
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		assert.NilError(t, err)
		return b
	}
	tests := []struct {
		name        string
		pub         []byte
		priv        []byte
		pass        []byte
		unsupported bool
		errContains string
	}{
		{name: "rsa public", pub: read("rsa.pub"), unsupported: true, errContains: "ssh-rsa"},
		{name: "ecdsa public", pub: read("ecdsa.pub"), unsupported: true, errContains: "ecdsa-sha2-nistp256"},
		{name: "rsa private", priv: read("rsa"), unsupported: true},
		{name: "ecdsa private", priv: read("ecdsa"), unsupported: true},
		{name: "garbage public", pub: []byte("ssh-ed25519 notbase64!!"), errContains: "parse ssh public key"},
		{name: "empty public", pub: []byte(""), errContains: "parse ssh public key"},
		{name: "garbage private", priv: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n"), errContains: "parse ssh private key"},
		{name: "passphrase missing", priv: read("ed25519_passphrase"), errContains: "SSH_TO_AGE_PASSPHRASE"},
		{name: "passphrase wrong", priv: read("ed25519_passphrase"), pass: []byte("nope"), errContains: "parse ssh private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.pub != nil {
				_, err = RecipientFromSSH(tc.pub)
			} else {
				_, err = IdentityFromSSH(tc.priv, tc.pass)
			}
			assert.Assert(t, err != nil)
			assert.Equal(t, errors.Is(err, ErrUnsupportedKeyType), tc.unsupported, "%v", err)
			if tc.errContains != "" {
				assert.Assert(t, is.Contains(err.Error(), tc.errContains))
			}
		})
	}
}

func TestNotOnCurve(t *testing.T) {
	// y = 2 has no x on edwards25519 (2 is not such that (y²-1)/(dy²+1) is a square).
	bad := make([]byte, 32)
	bad[0] = 2
	_, err := RecipientFromEd25519(bad)
	assert.ErrorContains(t, err, "not a point on the curve")
	_, err = RecipientFromEd25519(bad[:31])
	assert.ErrorContains(t, err, "31 bytes")
}

func TestParseRecipient(t *testing.T) {
	v := readVectors(t)[0]
	_, err := ParseRecipient(`user "crs58" ageKeys[0]`, v.recipient)
	assert.NilError(t, err)
	for _, bad := range []string{"", "age1", "ssh-ed25519 AAAA", v.recipient[:len(v.recipient)-1] + "x", strings.ToUpper(v.recipient[:5]) + v.recipient[5:]} {
		_, err := ParseRecipient(`user "crs58" ageKeys[0]`, bad)
		assert.ErrorContains(t, err, `user "crs58" ageKeys[0]`)
	}
}

func TestBech32RoundTrip(t *testing.T) {
	for _, hrp := range []string{"age", "AGE-SECRET-KEY-"} {
		for n := 0; n < 64; n++ {
			data := make([]byte, n)
			_, _ = rand.Read(data)
			s, err := Bech32Encode(hrp, data)
			assert.NilError(t, err)
			h, d, err := Bech32Decode(s)
			assert.NilError(t, err)
			assert.Equal(t, h, strings.ToLower(hrp))
			assert.Assert(t, bytes.Equal(d, data))
		}
	}
}

func FuzzBech32Decode(f *testing.F) {
	for _, v := range []string{"age1ag3q3ng0vlq8kk0ftnut8kwxey268sqmqzealjj3tw0gpw8ejf4qu7e4cr", "A1LQFN3A", "a1", "1", "AGE-SECRET-KEY-1"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := Bech32Decode(s)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same string (modulo case).
		enc, err := Bech32Encode(hrp, data)
		if err != nil {
			t.Fatalf("decoded %q but cannot re-encode: %v", s, err)
		}
		if enc != strings.ToLower(s) {
			t.Fatalf("round trip %q -> %q", s, enc)
		}
	})
}

func FuzzRecipientFromSSH(f *testing.F) {
	b, _ := os.ReadFile("testdata/ed25519_1.pub")
	f.Add(b)
	f.Add([]byte("host ssh-ed25519 AAAA"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := RecipientFromSSH(line)
		if err != nil {
			return
		}
		if _, err := age.ParseX25519Recipient(r); err != nil {
			t.Fatalf("converted %q to unparsable %q: %v", line, r, err)
		}
	})
}

func TestPassphraseKey(t *testing.T) {
	priv, err := os.ReadFile("testdata/ed25519_passphrase")
	assert.NilError(t, err)
	pub, err := os.ReadFile("testdata/ed25519_passphrase.pub")
	assert.NilError(t, err)
	id, err := IdentityFromSSH(priv, []byte("test"))
	assert.NilError(t, err)
	r, err := RecipientFromSSH(pub)
	assert.NilError(t, err)
	parsed, err := age.ParseX25519Identity(id)
	assert.NilError(t, err)
	assert.Equal(t, parsed.Recipient().String(), r)
}

// TestEd25519: the ed25519 key of what ssh.ParseRawPrivateKey returns,
// pointer or value; nothing for another type or a nil pointer.
func TestEd25519(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	assert.NilError(t, err)
	var nilKey *ed25519.PrivateKey
	for _, tc := range []struct {
		name string
		key  any
		ok   bool
	}{
		{"pointer", &priv, true},
		{"value", priv, true},
		{"nil pointer", nilKey, false},
		{"nil", nil, false},
		{"another type", "ssh-rsa", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Ed25519(tc.key)
			assert.Equal(t, ok, tc.ok)
			if tc.ok {
				assert.Check(t, got.Equal(priv))
			} else {
				assert.Check(t, got == nil)
			}
		})
	}
}

// TestEncryptArmored: armored age that age itself decrypts, for each
// recipient; no recipient is an error.
func TestEncryptArmored(t *testing.T) {
	a, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	b, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	ct, err := EncryptArmored([]byte("state\n"), a.Recipient(), b.Recipient())
	assert.NilError(t, err)
	assert.Check(t, bytes.HasPrefix(ct, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")))
	// The suite's files have always ended so: the armor's own line end,
	// then an empty line.
	assert.Check(t, bytes.HasSuffix(ct, []byte("-----END AGE ENCRYPTED FILE-----\n\n")))
	for _, id := range []age.Identity{a, b} {
		r, err := age.Decrypt(armor.NewReader(bytes.NewReader(ct)), id)
		assert.NilError(t, err)
		pt, err := io.ReadAll(r)
		assert.NilError(t, err)
		assert.Equal(t, string(pt), "state\n")
	}
	_, err = EncryptArmored([]byte("x"))
	assert.Check(t, err != nil, "no recipients")
}
