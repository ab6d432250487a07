package vars

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// A machine's age key comes from one of two places, written into the same
// sops/machines/<m>/key.json:
//
//   - the seeds' way: the machine's "openssh" generator; its ed25519 host key
//     converts to an age key (ssh-to-age), so the machine decrypts with the
//     host key it already has;
//   - clan's way, for a machine without that generator: an age identity
//     generated for it, stored as the named secret
//     sops/secrets/<m>-age.key/secret, encrypted to the machine's admins
//     (users/<u> links), its public half in key.json.

// clanKeyed reports whether machine m's secrets are encrypted to clan's
// generated age key (sops/secrets/<m>-age.key; its public half in
// sops/machines/<m>/key.json), which sops-nix reads from MachineKeyPath,
// rather than to its ssh host key in age form. Clan always generates that
// key and encrypts to it, whether or not the machine also has an openssh
// generator: in the user's tree cinnabar has both, and its vars are
// encrypted to the generated key, not to its host key's age form. The
// suite's own convention, the host key's age form (sops-nix's
// sshKeyPaths), holds for a machine with a host-key generator and no
// generated key; a machine with neither gets a generated key, clan's way.
// It is the one place this is decided: recipients, upload, check and the
// install all ask it.
func (v *Vars) clanKeyed(p *Plan, m string) bool {
	return p.hostKey[m] == nil || v.hasMachineAgeKey(m)
}

// hasMachineAgeKey reports whether m has clan's generated age key on disk.
func (v *Vars) hasMachineAgeKey(m string) bool {
	_, err := os.Stat(filepath.Join(v.machineAgeKeyDir(m), secretName))
	return err == nil
}

// machineAgeKeyDir is clan's named secret holding m's age identity.
func (v *Vars) machineAgeKeyDir(m string) string {
	return filepath.Join(v.sopsDir(), "secrets", m+"-age.key")
}

// clanMachineRecipient returns m's recipient from sops/machines/<m>/key.json.
// When create is set (vars:generate) and the machine has no key yet, it
// generates one clan's way first.
func (v *Vars) clanMachineRecipient(m string, create bool) (Recipient, error) {
	kp := filepath.Join(v.sopsDir(), "machines", m, keyJSON)
	keys, err := readKeyJSON(kp)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := v.CreateMachineAgeKey(m); err != nil {
			return Recipient{}, err
		}
		keys, err = readKeyJSON(kp)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Recipient{}, fmt.Errorf("machine %q has no %q generator and no %s: run vars:generate (it creates clan's sops/secrets/%s-age.key), or declare the generator so its host key is the machine's key", m, HostKeyGenerator, kp, m)
	}
	if err != nil {
		return Recipient{}, err
	}
	if len(keys) != 1 {
		return Recipient{}, fmt.Errorf("%s holds %d keys: a machine has one age key", kp, len(keys))
	}
	return Recipient{Key: keys[0], Who: "machine:" + m}, nil
}

// CreateMachineAgeKey generates m's age identity and stores it as clan
// does, encrypted to m's admins and bound to its place
// (sops/secrets/<m>-age.key, its public half in sops/machines/<m>/key.json).
// vars:generate calls it for a machine with no openssh generator; for one
// with a generator it makes the machine keyed the clan way (clanKeyed), as
// every machine of a clan tree is, and vars:rekey then re-encrypts the
// machine's secrets to the new key. A machine that has a key keeps it.
func (v *Vars) CreateMachineAgeKey(m string) error {
	if v.hasMachineAgeKey(m) {
		return fmt.Errorf("machine %q already has its age key (%s): a new one would orphan what is encrypted to it", m, machineKeyID(m))
	}
	var admins []Recipient
	for _, u := range v.Fleet.Admins(m) {
		for _, k := range u.AgeKeys {
			admins = append(admins, Recipient{Key: k, Who: "user:" + u.Name})
		}
	}
	if len(admins) == 0 {
		return fmt.Errorf("machine %q: no admin to encrypt its age key to (give a user settings.admin = true on it)", m)
	}
	if err := v.refusePublished(admins); err != nil {
		return fmt.Errorf("machine %q age key: %w", m, err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	dir := v.machineAgeKeyDir(m)
	ct, err := sealSops(machineKeyID(m), []byte(id.String()+"\n"), admins)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := v.writeKeyJSONs(admins); err != nil {
		return err
	}
	for _, r := range admins {
		_, name, _ := cutWho(r.Who)
		lp := filepath.Join(dir, "users", name)
		if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(lp); err != nil {
			if err := os.Symlink(filepath.Join("..", "..", "..", "users", name), lp); err != nil {
				return err
			}
		}
	}
	// The secret before its public half: an interruption leaves a key
	// nobody encrypts to yet, never a key.json whose identity is lost.
	if err := fsutil.WriteFile(filepath.Join(dir, secretName), ct, 0o644); err != nil {
		return err
	}
	if err := v.writeKeyJSONs([]Recipient{{Key: id.Recipient().String(), Who: "machine:" + m}}); err != nil {
		return err
	}
	v.logf("created sops/secrets/%s-age.key (machine %s's age key, for its admins)", m, m)
	return nil
}

// machineKeyID is the binding of a machine's age key secret.
func machineKeyID(m string) string { return "sops/secrets/" + m + "-age.key" }

// MachineAgeKey returns machine m's age identity (AGE-SECRET-KEY-1...,
// what sops-nix reads from /var/lib/sops-nix/key.txt) decrypted with the
// admin's identity, when the machine has a clan-generated key; ok is
// false for machines whose key is their ssh host key.
func (v *Vars) MachineAgeKey(m string) (key []byte, ok bool, err error) {
	ct, err := os.ReadFile(filepath.Join(v.machineAgeKeyDir(m), secretName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ids, err := v.identities()
	if err != nil {
		return nil, false, err
	}
	pt, binding, err := openSops(ct, ids)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", machineKeyID(m), err)
	}
	if err := checkBinding(machineKeyID(m), binding); err != nil {
		clear(pt)
		return nil, false, err
	}
	if _, err := age.ParseX25519Identity(strings.TrimSpace(string(pt))); err != nil {
		clear(pt)
		return nil, false, fmt.Errorf("%s does not hold an age identity: %v (restore it from git)", machineKeyID(m), err)
	}
	return pt, true, nil
}

func cutWho(w string) (kind, name string, ok bool) {
	for i := 0; i < len(w); i++ {
		if w[i] == ':' {
			return w[:i], w[i+1:], true
		}
	}
	return "", "", false
}
