package closure

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// The vector: a throwaway key made by `nix-store
// --generate-binary-cache-key vanixiets-test-1`, a lab toplevel's
// path-info, and the signature `nix store sign` (Nix 2.8) wrote for it.
// Ed25519 is deterministic, so Signer must reproduce it byte for byte.
const (
	vectorSecret = "vanixiets-test-1:9e4cSITVRH+AylGqJbzo1hD3C5dymewgveR20+d0PyUYRKeKe2QdlZx5bQCKfEArTvFloAds3rrZFB3H3qSUvg=="
	vectorPublic = "vanixiets-test-1:GESnintkHZWceW0AinxAK07xZaAHbN662RQdx96klL4="
	vectorSig    = "vanixiets-test-1:FSqgouJohQuZR4hp0UJuvlkWkeuSzw01nAt10fE42pA7hYCkc+uoWpDXFhXPJOJklagROOLAyiiu/5LHwoeVAw=="
)

var vectorInfo = nix.PathInfo{
	Path:    "/nix/store/42dx6qi4s1vykk7cmknqalr76b72c6cl-nixos-system-cinnabar-lab",
	NarHash: "sha256-JyPl2Ycp19JgmyhzqfapqW/f/iF24t7S7sIZjQdqb8w=",
	NarSize: 2192,
	// Not in Nix's (sorted) order on purpose: the fingerprint sorts them.
	// The narHash in base32 comes from `nix hash to-base32`.
	References: []string{
		"/nix/store/x0b5kssglz2dfdgkjvmr3mshscg1rrqn-vanixiets-lab-sw-nixos",
		"/nix/store/42dx6qi4s1vykk7cmknqalr76b72c6cl-nixos-system-cinnabar-lab",
		"/nix/store/c4v3n4bs876skhc7xig5fvk48wy2bbrw-vanixiets-lab-base",
		"/nix/store/hbxn3hdg3v7mwm72dz0vwh2gmlswlcmz-vanixiets-lab-etc-cinnabar",
	},
}

func vectorSigner(t *testing.T) *Signer {
	f := filepath.Join(t.TempDir(), "key.sec")
	assert.NilError(t, os.WriteFile(f, []byte(vectorSecret+"\n"), 0o600))
	s, err := LoadSigner(f)
	assert.NilError(t, err)
	return s
}

func TestSignerMatchesNixStoreSign(t *testing.T) {
	s := vectorSigner(t)
	assert.Equal(t, s.Name(), "vanixiets-test-1")
	assert.Equal(t, s.Public(), vectorPublic)
	got, err := s.Sign(vectorInfo)
	assert.NilError(t, err)
	assert.Equal(t, got, vectorSig)

	fp, err := Fingerprint(vectorInfo)
	assert.NilError(t, err)
	assert.Equal(t, fp, "1;/nix/store/42dx6qi4s1vykk7cmknqalr76b72c6cl-nixos-system-cinnabar-lab;"+
		"sha256:1k3gd83qs6f2xv9dxqkn47zdyvx9m7vajwr8kdhd5mr9hzcya8r7;2192;"+
		"/nix/store/42dx6qi4s1vykk7cmknqalr76b72c6cl-nixos-system-cinnabar-lab,"+
		"/nix/store/c4v3n4bs876skhc7xig5fvk48wy2bbrw-vanixiets-lab-base,"+
		"/nix/store/hbxn3hdg3v7mwm72dz0vwh2gmlswlcmz-vanixiets-lab-etc-cinnabar,"+
		"/nix/store/x0b5kssglz2dfdgkjvmr3mshscg1rrqn-vanixiets-lab-sw-nixos")
}

func TestSignaturesReplaceOwnKeyKeepOthers(t *testing.T) {
	s := vectorSigner(t)
	pi := vectorInfo
	pi.Signatures = []string{"vanixiets-test-1:stale", "cache.example-1:other", "vanixiets-test-1:stale2"}
	got, err := s.signatures(pi)
	assert.NilError(t, err)
	assert.DeepEqual(t, got, []string{vectorSig, "cache.example-1:other"})

	var none *Signer
	got, err = none.signatures(pi)
	assert.NilError(t, err)
	assert.DeepEqual(t, got, pi.Signatures)
}

func TestLoadSignerErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"missing", "", "no such file"},
		{"not-a-key", "hello", "expected name:base64"},
		{"short", "k:AAAA", "expected name:base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, tc.name)
			if tc.content != "" {
				assert.NilError(t, os.WriteFile(f, []byte(tc.content), 0o600))
			}
			_, err := LoadSigner(f)
			assert.Check(t, is.ErrorContains(err, tc.want))
		})
	}
}

func TestFingerprintBadHash(t *testing.T) {
	pi := vectorInfo
	pi.NarHash = "md5:nonsense"
	_, err := Fingerprint(pi)
	assert.ErrorContains(t, err, "narHash")
}
