package vars

import (
	"fmt"
	"os"
)

// DeploySecrets lists machine m's deployable secrets ("<generator>/<file>",
// files with deploy = true and secret = true of its own and its shared
// generators) by the phase in which Upload installs them; a machine with
// clan's generated age key also has ".sops-nix/key.txt" before activation. A deployer uses
// it to decide whether a machine needs upload steps at all.
func (v *Vars) DeploySecrets(m string) (before, after []string, err error) {
	p, err := v.Plan()
	if err != nil {
		return nil, nil, err
	}
	if _, err := p.Fleet.ByName(m); err != nil {
		return nil, nil, err
	}
	if v.clanKeyed(p, m) {
		// clan's generated age key goes to sops-nix's key file before
		// activation (Upload, addMachineKey).
		if v.hasMachineAgeKey(m) {
			before = append(before, machineKeyItem)
		}
	}
	for _, u := range p.MachineUnits(m) {
		for _, f := range u.Files {
			if !f.Deploy || !f.Secret {
				continue
			}
			if PhaseOf(f.NeededFor) == BeforeActivation {
				before = append(before, u.Name+"/"+f.Name)
			} else {
				after = append(after, u.Name+"/"+f.Name)
			}
		}
	}
	return before, after, nil
}

// HostPrivateKey returns machine m's private SSH host key in OpenSSH format:
// the secret file of its HostKeyGenerator unit, decrypted with the admin's
// identities. ok is false (and err nil) when the machine has no host-key
// generator or it has not been generated yet; err is set when the secret
// exists but cannot be read or decrypted (no identity, wrong identity).
//
// The lab gives a machine's lab host this key, so the known_hosts derived
// from the vars (KnownHosts) matches the host a deployer reaches.
func (v *Vars) HostPrivateKey(m string) (key []byte, ok bool, err error) {
	p, err := v.Plan()
	if err != nil {
		return nil, false, err
	}
	hk := p.hostKey[m]
	if hk == nil {
		return nil, false, nil
	}
	if stamp, _ := v.store().readStamp(hk); stamp == nil {
		return nil, false, nil
	}
	name, err := hostKeySecretFile(hk)
	if err != nil {
		return nil, false, err
	}
	ct, err := os.ReadFile(v.store().path(hk, name, secretName))
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s secret %q: %v", hk, name, err)
	}
	ids, err := v.identities()
	if err != nil {
		return nil, false, err
	}
	pt, err := openSecret(hk, name, ct, ids)
	if isBindingError(err) {
		return nil, false, fmt.Errorf("%s: %w", hk, err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s secret %q: %v (is %s the key of an admin of %s?)", hk, name, err, IdentitySource(), m)
	}
	return pt, true, nil
}
