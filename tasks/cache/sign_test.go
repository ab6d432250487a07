package cache

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// writeKey makes a signing key file the way cache:keygen does and returns
// its path and public half.
func writeKey(t testing.TB, name string) (string, PublicKey) {
	t.Helper()
	p, pub, err := Keygen(t.TempDir(), name)
	assert.NilError(t, err)
	return p, pub
}

func mustKey(t testing.TB, name string) *SigningKey {
	t.Helper()
	k, err := GenerateSigningKey(name)
	assert.NilError(t, err)
	return k
}

func TestParseKeys(t *testing.T) {
	k := mustKey(t, "ci")
	pub := k.Public().String()
	secret := k.String()
	other := mustKey(t, "ci")
	// A secret key whose public half belongs to another key.
	spliced := "ci:" + base64.StdEncoding.EncodeToString(append(append([]byte{}, k.key.Seed()...), other.key.Public().(ed25519.PublicKey)...))
	tests := []struct {
		name    string
		in      string
		secret  bool
		wantErr string
	}{
		{name: "public", in: pub},
		{name: "public with spaces", in: "  " + pub + "\n"},
		{name: "secret", in: secret, secret: true},
		{name: "secret with newline", in: secret + "\n", secret: true},
		{name: "no colon", in: "ci" + strings.TrimPrefix(pub, "ci:"), wantErr: "want name:base64"},
		{name: "empty name", in: ":" + strings.TrimPrefix(pub, "ci:"), wantErr: "want name:base64"},
		{name: "name with slash", in: "a/b:" + strings.TrimPrefix(pub, "ci:"), wantErr: "want name:base64"},
		{name: "not base64", in: "ci:!!!", wantErr: "32 bytes of base64"},
		{name: "secret given as public", in: secret, wantErr: "32 bytes of base64"},
		{name: "public given as secret", in: pub, secret: true, wantErr: "64 bytes of base64"},
		{name: "spliced secret", in: spliced, secret: true, wantErr: "does not match its seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			var got string
			if tc.secret {
				var s *SigningKey
				if s, err = ParseSigningKey(tc.in); err == nil {
					got = s.String()
				}
			} else {
				var p PublicKey
				if p, err = ParsePublicKey(tc.in); err == nil {
					got = p.String()
				}
			}
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Assert(t, !strings.Contains(err.Error(), strings.TrimPrefix(secret, "ci:")), "an error never echoes a whole secret")
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, strings.TrimSpace(tc.in))
		})
	}
}

func TestParseKeyring(t *testing.T) {
	a, b := mustKey(t, "laptop").Public().String(), mustKey(t, "ci").Public().String()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "unset", in: "", want: nil},
		{name: "one", in: a, want: []string{"laptop"}},
		{name: "spaces", in: a + " " + b, want: []string{"ci", "laptop"}},
		{name: "commas and newlines", in: a + ",\n" + b + "\n", want: []string{"ci", "laptop"}},
		{name: "same key twice", in: a + " " + a, want: []string{"laptop"}},
		{name: "two keys one name", in: a + " " + strings.Replace(mustKey(t, "x").Public().String(), "x:", "laptop:", 1), wantErr: `two different keys are named "laptop"`},
		{name: "garbage", in: a + " nonsense", wantErr: TrustedKeysEnv + ": trusted cache key \"nonsense\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ring, err := ParseKeyring(tc.in)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, ring.Names(), tc.want)
		})
	}
}

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	p, pub, err := Keygen(dir, "laptop-crs58")
	assert.NilError(t, err)
	assert.Equal(t, p, filepath.Join(dir, "laptop-crs58.secret"))
	st, err := os.Stat(p)
	assert.NilError(t, err)
	assert.Equal(t, st.Mode().Perm(), os.FileMode(0o600))
	dst, err := os.Stat(dir)
	assert.NilError(t, err)
	assert.Equal(t, dst.Mode().Perm(), os.FileMode(0o700))
	k, err := LoadSigningKey(p)
	assert.NilError(t, err)
	assert.Equal(t, k.Public().String(), pub.String())

	_, _, err = Keygen(dir, "laptop-crs58")
	assert.ErrorContains(t, err, "already exists")
	again, err := LoadSigningKey(p)
	assert.NilError(t, err)
	assert.Equal(t, again.String(), k.String(), "an existing key is never replaced")

	_, _, err = Keygen(dir, "../escape")
	assert.ErrorContains(t, err, "cache key name")

	assert.NilError(t, os.Chmod(p, 0o644))
	_, err = LoadSigningKey(p)
	assert.ErrorContains(t, err, "chmod 600 "+p)
	_, err = LoadSigningKey(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "cache:keygen")
}

// The envelope: what a reader accepts and why it refuses the rest.
func TestSealUnseal(t *testing.T) {
	ci, laptop, stranger := mustKey(t, "ci"), mustKey(t, "laptop"), mustKey(t, "stranger")
	ring := Keyring{"ci": ci.Public(), "laptop": laptop.Public()}
	k, other := key("job"), key("another job")
	value := []byte(`{"job":"lint","ok":true}`)
	// An impostor signing with its own key under a trusted key's name.
	impostor := mustKey(t, "ci")
	tests := []struct {
		name    string
		blob    []byte
		wantErr string
	}{
		{name: "signed by ci", blob: seal(ci, k, value)},
		{name: "signed by laptop", blob: seal(laptop, k, value)},
		{name: "empty value", blob: seal(ci, k, nil)},
		{name: "unsigned", blob: value, wantErr: "not signed"},
		{name: "untrusted signer", blob: seal(stranger, k, value), wantErr: `signed by "stranger", which is not in ` + TrustedKeysEnv},
		{name: "impostor under a trusted name", blob: seal(impostor, k, value), wantErr: "does not verify"},
		{name: "replayed under another key", blob: seal(ci, other, value), wantErr: "does not verify"},
		{name: "value altered", blob: append(seal(ci, k, value), ' '), wantErr: "does not verify"},
		{name: "no newline", blob: []byte(envelopeMagic + "ci:AAAA"), wantErr: "malformed"},
		{name: "short signature", blob: []byte(envelopeMagic + "ci:AAAA\n" + string(value)), wantErr: "malformed"},
		{name: "bad name", blob: []byte(envelopeMagic + "c/i:" + strings.Repeat("A", 88) + "\n"), wantErr: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _, err := unseal(ring, k, tc.blob)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Assert(t, v == nil)
				return
			}
			assert.NilError(t, err)
			if len(value) > 0 && tc.name != "empty value" {
				assert.DeepEqual(t, v, value)
			} else {
				assert.Equal(t, len(v), 0)
			}
		})
	}
}

// signedOn is a Signed remote on a fake server, with its warnings.
func signedOn(t *testing.T, url string, signer *SigningKey, trusted Keyring) (*Signed, *[]string) {
	r, _ := newRemote(t, url)
	var mu sync.Mutex
	var warned []string
	s := &Signed{Remote: r, Signer: signer, Trusted: trusted, Warn: func(m string) { mu.Lock(); warned = append(warned, m); mu.Unlock() }}
	return s, &warned
}

func TestSignedRemote(t *testing.T) {
	ctx := context.Background()
	ci := mustKey(t, "ci")
	ring := Keyring{"ci": ci.Public()}

	t.Run("round trip and origin", func(t *testing.T) {
		_, srv := newFakeRemote(t)
		w, _ := signedOn(t, srv.URL, ci, nil)
		assert.NilError(t, w.Put(ctx, key("a"), []byte("result")))
		r, warned := signedOn(t, srv.URL, nil, ring)
		l := &Layered{Local: NewLocal(t.TempDir()), Remote: r}
		v, origin, ok, err := GetOrigin(ctx, l, key("a"))
		assert.NilError(t, err)
		assert.Assert(t, ok)
		assert.Equal(t, string(v), "result")
		assert.Equal(t, origin, srv.URL, "a verified remote hit names the remote")
		assert.Assert(t, is.Len(*warned, 0))
		// Written back as shared: a second read is local, but not "made here".
		_, origin, ok, _ = GetOrigin(ctx, l, key("a"))
		assert.Assert(t, ok)
		assert.Equal(t, origin, OriginLocal)
		_, ok, _ = l.Get(OnlyMadeHere(ctx), key("a"))
		assert.Assert(t, !ok, "a remote hit never counts as made here")
	})

	t.Run("no trusted keys: all misses, server not asked, one warning", func(t *testing.T) {
		f, srv := newFakeRemote(t)
		w, _ := signedOn(t, srv.URL, ci, nil)
		assert.NilError(t, w.Put(ctx, key("a"), []byte("result")))
		before := f.requests
		r, warned := signedOn(t, srv.URL, nil, nil)
		for i := 0; i < 3; i++ {
			_, ok, err := r.Get(ctx, key("a"))
			assert.NilError(t, err)
			assert.Assert(t, !ok)
		}
		assert.Equal(t, f.requests, before)
		assert.Assert(t, is.Len(*warned, 1))
		assert.Assert(t, is.Contains((*warned)[0], TrustedKeysEnv+" is not set"))
		assert.Assert(t, is.Contains((*warned)[0], "cache:keygen"))
	})

	t.Run("no signing key: nothing written, one warning", func(t *testing.T) {
		f, srv := newFakeRemote(t)
		w, warned := signedOn(t, srv.URL, nil, ring)
		for i := 0; i < 3; i++ {
			assert.NilError(t, w.Put(ctx, key(string(rune('a'+i))), []byte("v")))
		}
		assert.Equal(t, f.requests, 0)
		assert.Assert(t, is.Len(*warned, 1))
		assert.Assert(t, is.Contains((*warned)[0], SigningKeyEnv+" is not set"))
	})

	t.Run("bad entries: a miss each, one warning each, remote stays on", func(t *testing.T) {
		_, srv := newFakeRemote(t)
		raw, _ := newRemote(t, srv.URL)
		stranger := mustKey(t, "stranger")
		assert.NilError(t, raw.Put(ctx, key("unsigned"), []byte("forged")))
		assert.NilError(t, raw.Put(ctx, key("untrusted"), seal(stranger, key("untrusted"), []byte("forged"))))
		assert.NilError(t, raw.Put(ctx, key("replayed"), seal(ci, key("good"), []byte("good"))))
		assert.NilError(t, raw.Put(ctx, key("good"), seal(ci, key("good"), []byte("good"))))
		r, warned := signedOn(t, srv.URL, nil, ring)
		var lwarned []string
		l := &Layered{Local: NewLocal(t.TempDir()), Remote: r, Warn: func(s string) { lwarned = append(lwarned, s) }}
		for i, name := range []string{"unsigned", "untrusted", "replayed"} {
			v, ok, err := l.Get(ctx, key(name))
			assert.NilError(t, err)
			assert.Assert(t, !ok, "%s: forged value returned: %q", name, v)
			assert.Assert(t, is.Len(*warned, i+1))
			assert.Assert(t, is.Contains((*warned)[i], key(name)), "the warning names the key")
		}
		v, ok, err := l.Get(ctx, key("good"))
		assert.NilError(t, err)
		assert.Assert(t, ok, "the remote stays on after bad entries")
		assert.Equal(t, string(v), "good")
		assert.Assert(t, is.Len(lwarned, 0))
	})
}

// Open reads the keys from the environment; a setting it cannot use is one
// warning and the local store, never a run that trusts the wrong thing.
func TestOpenKeySettings(t *testing.T) {
	_, srv := newFakeRemote(t)
	good, pub := writeKey(t, "ci")
	loose := filepath.Join(t.TempDir(), "loose.secret")
	b, err := os.ReadFile(good)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(loose, b, 0o644))
	tests := []struct {
		name          string
		trusted, sign string
		layered       bool
	}{
		{name: "both", trusted: pub.String(), sign: good, layered: true},
		{name: "reader only", trusted: pub.String(), layered: true},
		{name: "writer only", sign: good, layered: true},
		{name: "malformed trusted keys", trusted: "ci:nope", sign: good},
		{name: "key file readable by others", trusted: pub.String(), sign: loose},
		{name: "missing key file", trusted: pub.String(), sign: filepath.Join(t.TempDir(), "missing")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VANIXIETS_REMOTE_CACHE", srv.URL)
			t.Setenv("VANIXIETS_CACHE_DIR", t.TempDir())
			t.Setenv(TrustedKeysEnv, tc.trusted)
			t.Setenv(SigningKeyEnv, tc.sign)
			s := Open()
			_, layered := s.(*Layered)
			assert.Equal(t, layered, tc.layered, "got %T", s)
		})
	}
}

func FuzzUnseal(f *testing.F) {
	k, err := GenerateSigningKey("ci")
	if err != nil {
		f.Fatal(err)
	}
	ring := Keyring{"ci": k.Public()}
	f.Add(seal(k, key("a"), []byte("value")))
	f.Add([]byte(envelopeMagic + "ci:\n"))
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		v, signer, err := unseal(ring, key("a"), blob)
		if err != nil {
			assert.Assert(t, v == nil)
			return
		}
		// Anything accepted was signed by the trusted key for this key:
		// re-sealing it gives the same bytes (ed25519 is deterministic).
		assert.Equal(t, signer, "ci")
		assert.Assert(t, bytes.Equal(seal(k, key("a"), v), blob))
	})
}
