package cache

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Signing: why and how.
//
// Anyone who can PUT to a bazel-remote server can replace what a key maps
// to. A shared cache is therefore only as trustworthy as its least trusted
// writer, unless every entry says who wrote it. This package does what Nix
// binary caches do: the writer signs each entry with an ed25519 key, and a
// reader accepts an entry only when it is signed by a key the reader lists
// as trusted. The remote then holds nothing a reader must believe: a forged,
// unsigned, badly signed or replayed entry is a miss (one warning), and the
// step is simply run.
//
// What is signed is the entry's key together with the SHA-256 of its value
// (see message), so a valid entry copied under another key does not verify.
// The signature travels in a small envelope around the value, which is what
// the CAS blob holds (see seal); the REAPI ActionResult still points at that
// blob, so bazel-remote's own validation and eviction work unchanged.
//
// Keys are written the way Nix writes binary-cache keys: "name:base64",
// where the secret half is the 64-byte ed25519 private key and the public
// half the 32-byte public key. The name says which key signed an entry, so a
// reader can hold several trusted keys (a laptop's and CI's) at once.

const (
	// TrustedKeysEnv lists the public keys whose entries a reader accepts
	// from the remote, separated by spaces, commas or newlines.
	TrustedKeysEnv = "VANIXIETS_TRUSTED_CACHE_KEYS"
	// SigningKeyEnv names the file holding the writer's secret key; without
	// it nothing is written to the remote.
	SigningKeyEnv = "VANIXIETS_CACHE_SIGNING_KEY"

	// envelopeMagic starts every signed value on the remote.
	envelopeMagic = "vxsig1 "
	// signDomain separates these signatures from any other use of a key.
	signDomain = "vanixiets-cache-entry-v1"
	// maxEnvelopeHeader bounds the signature line: a name, a colon and 88
	// base64 characters.
	maxEnvelopeHeader = 256
)

var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// SigningKey is a writer's secret key.
type SigningKey struct {
	Name string
	key  ed25519.PrivateKey
}

// PublicKey is a key a reader trusts.
type PublicKey struct {
	Name string
	key  ed25519.PublicKey
}

// String renders the public key as "name:base64", the form
// VANIXIETS_TRUSTED_CACHE_KEYS takes.
func (p PublicKey) String() string {
	return p.Name + ":" + base64.StdEncoding.EncodeToString(p.key)
}

// Public returns the key's public half.
func (k *SigningKey) Public() PublicKey {
	return PublicKey{Name: k.Name, key: k.key.Public().(ed25519.PublicKey)}
}

// String renders the secret key as "name:base64", the content of the file
// VANIXIETS_CACHE_SIGNING_KEY names.
func (k *SigningKey) String() string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(k.key)
}

// GenerateSigningKey makes a new writer key called name.
func GenerateSigningKey(name string) (*SigningKey, error) {
	if !keyNameRe.MatchString(name) {
		return nil, fmt.Errorf("cache key name %q: use letters, digits, '.', '_' or '-' (e.g. ci-1 or laptop-crs58), at most 64", name)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &SigningKey{Name: name, key: priv}, nil
}

// splitKey parses "name:base64" whose decoded length is n.
func splitKey(s string, n int, what string) (string, []byte, error) {
	name, b64, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || !keyNameRe.MatchString(name) {
		return "", nil, fmt.Errorf("%s %q: want name:base64 (as `go tool mage cache:keygen <name>` prints it)", what, abbrev(s))
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != n {
		return "", nil, fmt.Errorf("%s %q: the part after %q must be %d bytes of base64 (as `go tool mage cache:keygen <name>` prints it)", what, abbrev(s), name+":", n)
	}
	return name, b, nil
}

// abbrev keeps messages short and never echoes a whole secret.
func abbrev(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// ParseSigningKey parses a secret key "name:base64(64 bytes)".
func ParseSigningKey(s string) (*SigningKey, error) {
	name, b, err := splitKey(s, ed25519.PrivateKeySize, "cache signing key")
	if err != nil {
		return nil, err
	}
	priv := ed25519.PrivateKey(b)
	// The second half of an ed25519 private key is its public key: a
	// mismatch means the file was damaged or pieced together.
	if !bytes.Equal(ed25519.NewKeyFromSeed(priv.Seed()), priv) {
		return nil, fmt.Errorf("cache signing key %q: its public half does not match its seed (damaged?): generate a new one with `go tool mage cache:keygen %s`", name, name)
	}
	return &SigningKey{Name: name, key: priv}, nil
}

// LoadSigningKey reads the secret key file at path. The file must be
// readable by its owner only: a signing key others can read lets them
// write entries every reader trusts.
func LoadSigningKey(path string) (*SigningKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %v (generate one with `go tool mage cache:keygen <name>`)", SigningKeyEnv, path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s=%s: the key file is readable by others (mode %v): run `chmod 600 %s`", SigningKeyEnv, path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %v", SigningKeyEnv, path, err)
	}
	k, err := ParseSigningKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", SigningKeyEnv, path, err)
	}
	return k, nil
}

// ParsePublicKey parses a public key "name:base64(32 bytes)".
func ParsePublicKey(s string) (PublicKey, error) {
	name, b, err := splitKey(s, ed25519.PublicKeySize, "trusted cache key")
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Name: name, key: ed25519.PublicKey(b)}, nil
}

// Keyring is the set of public keys a reader trusts, by name.
type Keyring map[string]PublicKey

// ParseKeyring parses a list of public keys separated by spaces, commas or
// newlines (the value of VANIXIETS_TRUSTED_CACHE_KEYS). Two different keys
// under one name are an error: which one signed would be ambiguous.
func ParseKeyring(s string) (Keyring, error) {
	ring := Keyring{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		p, err := ParsePublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TrustedKeysEnv, err)
		}
		if old, ok := ring[p.Name]; ok && !bytes.Equal(old.key, p.key) {
			return nil, fmt.Errorf("%s: two different keys are named %q: give each writer its own name", TrustedKeysEnv, p.Name)
		}
		ring[p.Name] = p
	}
	return ring, nil
}

// Names lists the trusted keys' names, sorted.
func (r Keyring) Names() []string {
	return slices.Sorted(maps.Keys(r))
}

// message is what a signature covers: a domain tag, the entry's key and
// the SHA-256 of its value. The key makes a replay under another key fail;
// the digest binds the exact bytes.
func message(key string, value []byte) []byte {
	sum := sha256.Sum256(value)
	return []byte(signDomain + "\x00" + key + "\x00" + hex.EncodeToString(sum[:]))
}

// seal wraps value for key in a signed envelope:
//
//	vxsig1 <name>:<base64 signature>\n<value>
func seal(k *SigningKey, key string, value []byte) []byte {
	sig := ed25519.Sign(k.key, message(key, value))
	head := envelopeMagic + k.Name + ":" + base64.StdEncoding.EncodeToString(sig) + "\n"
	out := make([]byte, 0, len(head)+len(value))
	return append(append(out, head...), value...)
}

// Reasons an envelope is refused; each names the fix in its message.
var (
	errUnsigned  = errors.New("it is not signed (written by an older suite or without " + SigningKeyEnv + ", or forged)")
	errBadHeader = errors.New("its signature line is malformed (forged or damaged)")
)

// unseal checks blob's envelope for key against ring and returns the value
// and the signer's name.
func unseal(ring Keyring, key string, blob []byte) ([]byte, string, error) {
	if !bytes.HasPrefix(blob, []byte(envelopeMagic)) {
		return nil, "", errUnsigned
	}
	nl := bytes.IndexByte(blob[:min(len(blob), maxEnvelopeHeader)], '\n')
	if nl < 0 {
		return nil, "", errBadHeader
	}
	name, b64, ok := strings.Cut(string(blob[len(envelopeMagic):nl]), ":")
	if !ok || !keyNameRe.MatchString(name) {
		return nil, "", errBadHeader
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, "", errBadHeader
	}
	value := blob[nl+1:]
	pub, ok := ring[name]
	if !ok {
		return nil, name, fmt.Errorf("it is signed by %q, which is not in %s (trusted: %s)", name, TrustedKeysEnv, strings.Join(ring.Names(), ", "))
	}
	if !ed25519.Verify(pub.key, message(key, value), sig) {
		return nil, name, fmt.Errorf("its signature by %q does not verify for this key (forged, altered, or replayed from another key)", name)
	}
	return value, name, nil
}

// Signed is a Remote whose entries are signed on Put and verified on Get.
//
//   - No trusted keys: every Get is a miss without asking the server, with
//     one warning saying how to configure VANIXIETS_TRUSTED_CACHE_KEYS.
//   - No signing key: every Put is skipped, with one warning.
//   - An entry that is unsigned, signed by an untrusted key or whose
//     signature fails is a miss with one warning naming the key and why;
//     the step is rebuilt and its Put overwrites the entry.
type Signed struct {
	Remote  Remote
	Signer  *SigningKey // nil: nothing is written
	Trusted Keyring     // empty: nothing is read
	Warn    func(string)

	noReadOnce, noWriteOnce sync.Once
}

// String implements Remote: the server's name, so a verified hit's origin
// is the remote's address.
func (s *Signed) String() string { return s.Remote.String() }

// Get implements Store.
func (s *Signed) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ValidKey(key); err != nil {
		return nil, false, err
	}
	if len(s.Trusted) == 0 {
		s.noReadOnce.Do(func() {
			s.warn(fmt.Sprintf("remote cache %s: %s is not set, so no entry can be verified and the remote is read as all misses; set it to the writers' public keys (name:base64, printed by `go tool mage cache:keygen <name>`; see docs/cache.md)", s, TrustedKeysEnv))
		})
		return nil, false, nil
	}
	blob, ok, err := s.Remote.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	v, _, err := unseal(s.Trusted, key, blob)
	if err != nil {
		s.warn(fmt.Sprintf("remote cache %s: ignoring entry %s: %v; it will be rebuilt", s, key, err))
		return nil, false, nil
	}
	return v, true, nil
}

// Put implements Store.
func (s *Signed) Put(ctx context.Context, key string, value []byte) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if s.Signer == nil {
		s.noWriteOnce.Do(func() {
			s.warn(fmt.Sprintf("remote cache %s: %s is not set, so nothing is written to the remote (results stay in the local cache); see docs/cache.md", s, SigningKeyEnv))
		})
		return nil
	}
	return s.Remote.Put(ctx, key, seal(s.Signer, key, value))
}

func (s *Signed) warn(msg string) {
	if s.Warn != nil {
		s.Warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, "warning:", msg)
}

// SignedFromEnv wraps r with the keys named by the environment
// (VANIXIETS_TRUSTED_CACHE_KEYS, VANIXIETS_CACHE_SIGNING_KEY). A malformed
// setting is an error naming the variable and the fix.
func SignedFromEnv(r Remote) (*Signed, error) {
	ring, err := ParseKeyring(os.Getenv(TrustedKeysEnv))
	if err != nil {
		return nil, err
	}
	s := &Signed{Remote: r, Trusted: ring}
	if p := os.Getenv(SigningKeyEnv); p != "" {
		if s.Signer, err = LoadSigningKey(p); err != nil {
			return nil, err
		}
	}
	return s, nil
}
