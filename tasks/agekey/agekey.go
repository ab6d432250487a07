// Package agekey converts SSH ed25519 keys to age X25519 keys exactly as
// Mic92's ssh-to-age does, so that a machine's age recipient is known from its
// SSH host key alone, before the machine is installed, and the machine can
// decrypt its secrets with nothing but the host key it already has.
//
// The conversion is the standard birational map between the twisted Edwards
// curve of ed25519 and the Montgomery curve of X25519:
//
//   - public: the Edwards point's y coordinate becomes the Montgomery
//     u = (1+y)/(1-y) mod 2^255-19, bech32-encoded with HRP "age";
//   - private: the X25519 scalar is the first 32 bytes of SHA-512 of the
//     ed25519 seed (the same expanded secret ed25519 signs with; X25519
//     clamps it), bech32-encoded with HRP "AGE-SECRET-KEY-" in upper case.
//
// Both halves are independent computations, so a key pair converted by each
// must agree: Identity(priv).Recipient() == Recipient(pub). The tests check
// that and fixed vectors under testdata.
package agekey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/edwards25519"
	"golang.org/x/crypto/ssh"
)

// ErrUnsupportedKeyType is wrapped by every error about an SSH key that is not
// ed25519: only ed25519 keys have an X25519 counterpart.
var ErrUnsupportedKeyType = errors.New("only ssh-ed25519 keys convert to age keys")

const (
	recipientHRP = "age"
	identityHRP  = "AGE-SECRET-KEY-"
)

// RecipientFromEd25519 returns the age recipient ("age1...") of an ed25519
// public key.
func RecipientFromEd25519(pub ed25519.PublicKey) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("ed25519 public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return "", fmt.Errorf("ed25519 public key is not a point on the curve: %w", err)
	}
	return Bech32Encode(recipientHRP, p.BytesMontgomery())
}

// IdentityFromEd25519 returns the age identity ("AGE-SECRET-KEY-1...") of an
// ed25519 private key.
func IdentityFromEd25519(priv ed25519.PrivateKey) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("ed25519 private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	h := sha512.Sum512(priv.Seed())
	return Bech32Encode(identityHRP, h[:32])
}

// RecipientFromSSH converts one public key line, in authorized_keys form
// ("ssh-ed25519 AAAA... comment") or known_hosts form ("host ssh-ed25519
// AAAA..."), to an age recipient. A key of another type gives an error
// wrapping ErrUnsupportedKeyType.
func RecipientFromSSH(line []byte) (string, error) {
	line = bytes.TrimSpace(line)
	var (
		pk  ssh.PublicKey
		err error
	)
	if bytes.HasPrefix(line, []byte("ssh-")) || bytes.HasPrefix(line, []byte("ecdsa-")) || bytes.HasPrefix(line, []byte("sk-")) {
		pk, _, _, _, err = ssh.ParseAuthorizedKey(line)
	} else {
		_, _, pk, _, _, err = ssh.ParseKnownHosts(line)
	}
	if err != nil {
		return "", fmt.Errorf("parse ssh public key %q: %v", abbrev(line), err)
	}
	if pk.Type() != ssh.KeyAlgoED25519 {
		return "", fmt.Errorf("ssh key type %s: %w", pk.Type(), ErrUnsupportedKeyType)
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return "", fmt.Errorf("ssh key type %s: %w", pk.Type(), ErrUnsupportedKeyType)
	}
	epk, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("ssh key type %s: %w", pk.Type(), ErrUnsupportedKeyType)
	}
	return RecipientFromEd25519(epk)
}

// IdentityFromSSH converts an OpenSSH (or PKCS#8) private key to an age
// identity. passphrase may be nil for an unencrypted key.
func IdentityFromSSH(pemBytes, passphrase []byte) (string, error) {
	var (
		key any
		err error
	)
	if len(passphrase) > 0 {
		key, err = ssh.ParseRawPrivateKeyWithPassphrase(pemBytes, passphrase)
	} else {
		key, err = ssh.ParseRawPrivateKey(pemBytes)
	}
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return "", errors.New("ssh private key is encrypted: set SSH_TO_AGE_PASSPHRASE")
		}
		return "", fmt.Errorf("parse ssh private key: %v", err)
	}
	k, ok := Ed25519(key)
	if !ok {
		return "", fmt.Errorf("ssh private key of type %T: %w", key, ErrUnsupportedKeyType)
	}
	return IdentityFromEd25519(k)
}

// Ed25519 is the ed25519 key among the private keys
// ssh.ParseRawPrivateKey returns (a pointer today, a value in older
// releases of x/crypto: both are taken), and false for any other type.
func Ed25519(key any) (ed25519.PrivateKey, bool) {
	switch k := key.(type) {
	case *ed25519.PrivateKey:
		if k == nil {
			return nil, false
		}
		return *k, true
	case ed25519.PrivateKey:
		return k, true
	}
	return nil, false
}

// EncryptArmored encrypts pt to rs in age's ASCII armor, followed by an
// empty line: what the suite writes wherever the ciphertext is committed
// (the terraform state, sops' data keys), so that it is text in a diff.
func EncryptArmored(pt []byte, rs ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(pt); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ParseRecipient parses an age X25519 recipient and says what is wrong with a
// malformed one in terms of where it came from (what, e.g. `user "crs58"
// ageKeys[0]`).
func ParseRecipient(what, s string) (*age.X25519Recipient, error) {
	if IsPlaceholder(s) {
		return nil, PlaceholderError(what, s)
	}
	r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not an age X25519 recipient (want age1... as printed by age-keygen -y or ssh-to-age): %v", what, abbrev([]byte(s)), err)
	}
	return r, nil
}

func abbrev(b []byte) string {
	if len(b) > 48 {
		return string(b[:48]) + "..."
	}
	return string(b)
}
