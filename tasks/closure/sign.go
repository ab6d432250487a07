package closure

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// Signer signs store paths with the fleet key, in process: a signature is
// an Ed25519 signature of the path's fingerprint (Fingerprint), so it
// needs only what `nix path-info` already told us. Signing this way starts
// no `nix store sign` and leaves the local store untouched; the signatures
// travel with each path and the host checks them on import. Ed25519 is
// deterministic: the result is byte for byte what `nix store sign` writes.
type Signer struct {
	key  signature.SecretKey
	name string
}

// LoadSigner reads a secret key file in Nix's format ("name:base64"), as
// `nix-store --generate-binary-cache-key` writes it.
func LoadSigner(file string) (*Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("signing key: %v", err)
	}
	text := strings.TrimSpace(string(b))
	k, err := signature.LoadSecretKey(text)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %v (expected name:base64 as nix-store --generate-binary-cache-key writes it)", file, err)
	}
	name, _, _ := strings.Cut(text, ":")
	return &Signer{key: k, name: name}, nil
}

// Public is the public half ("name:base64"), what a host lists in its
// trusted-public-keys.
func (s *Signer) Public() string { return s.key.ToPublicKey().String() }

// Name is the key's name, the part of a signature before the colon.
func (s *Signer) Name() string { return s.name }

// Fingerprint is what a store path's signature signs:
// "1;<path>;<sha256:nixbase32 narHash>;<narSize>;<references, comma-separated>".
func Fingerprint(pi nix.PathInfo) (string, error) {
	h, err := nixhash.ParseAny(pi.NarHash, nil)
	if err != nil {
		return "", fmt.Errorf("%s: narHash %q: %v", pi.Path, pi.NarHash, err)
	}
	refs := slices.Clone(pi.References)
	slices.Sort(refs)
	return "1;" + pi.Path + ";" + h.Format(nixhash.NixBase32, true) + ";" + strconv.FormatInt(pi.NarSize, 10) + ";" + strings.Join(refs, ","), nil
}

// Sign returns pi's signature ("name:base64").
func (s *Signer) Sign(pi nix.PathInfo) (string, error) {
	fp, err := Fingerprint(pi)
	if err != nil {
		return "", err
	}
	sig, err := s.key.Sign(nil, fp)
	if err != nil {
		return "", err
	}
	return sig.String(), nil
}

// signatures returns pi's signatures with the signer's added (replacing
// any older one by the same key name).
func (s *Signer) signatures(pi nix.PathInfo) ([]string, error) {
	if s == nil {
		return pi.Signatures, nil
	}
	sig, err := s.Sign(pi)
	if err != nil {
		return nil, err
	}
	out := []string{sig}
	for _, o := range pi.Signatures {
		if name, _, _ := strings.Cut(o, ":"); name != s.name {
			out = append(out, o)
		}
	}
	return out, nil
}
