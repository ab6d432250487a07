package vars

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
)

// A secret belongs to its path. The ciphertext in
// per-machine/<m>/<gen>/<file>/secret is only a file in a directory: without
// a binding, anyone who can write to the repository could put there any
// age file the admin can decrypt (another project's secret, a key of their
// own choosing), and upload would install it on the host, rekey would
// re-encrypt it to the machine, and check would then call it fine. So the
// encrypted payload starts with a line naming the secret's place:
//
//	vanixiets-secret-v1 per-machine/cinnabar/openssh/ssh.id_ed25519\n<plaintext>
//
// The line is inside age's authenticated payload, so it cannot be edited
// without the file failing to decrypt, and every reader checks it against
// the path it read the file from. bindSecret and unbindSecret are the only
// two places that know the line's format; clan.go places it in the sops
// file (a second, MAC-covered value beside "data"), and everything else
// calls sealSecret and openSecret.
const bindingPrefix = "vanixiets-secret-v1 "

// ErrUnbound is wrapped by openSecret's error for a secret that carries no
// binding at all (written before bindings existed, or by hand).
var ErrUnbound = errors.New("secret carries no binding to its path")

// ErrMisbound is wrapped by openSecret's error for a secret bound to a
// different path: it was moved or copied there.
var ErrMisbound = errors.New("secret is bound to another path")

// secretID is the place a secret is bound to: its path under the vars root
// ("per-machine/<machine>/<generator>/<file>" or "shared/<generator>/<file>").
func secretID(u *Unit, file string) string { return u.ID + "/" + file }

// bindSecret returns the payload that is encrypted for the secret at id.
func bindSecret(id string, plaintext []byte) []byte {
	out := make([]byte, 0, len(bindingPrefix)+len(id)+1+len(plaintext))
	out = append(out, bindingPrefix...)
	out = append(out, id...)
	out = append(out, '\n')
	return append(out, plaintext...)
}

// unbindSecret checks that a decrypted payload is bound to id and returns
// the plaintext (a slice of payload).
func unbindSecret(id string, payload []byte) ([]byte, error) {
	if !bytes.HasPrefix(payload, []byte(bindingPrefix)) {
		return nil, fmt.Errorf("%s: %w (it may stand in for another secret). Regenerate it with vars:generate --regenerate, or, if you know it is this secret, bind it in place with vars:migrate", id, ErrUnbound)
	}
	line, rest, ok := bytes.Cut(payload[len(bindingPrefix):], []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("%s: %w (a truncated binding line)", id, ErrUnbound)
	}
	if got := string(line); got != id {
		return nil, fmt.Errorf("%s: %w %q: it was moved or copied here from that secret's place, and a secret belongs to its machine, generator and file. Put that file back, or regenerate this one with vars:generate --regenerate", id, ErrMisbound, got)
	}
	return rest, nil
}

// sealSecret encrypts the secret file of unit u to rs, bound to its path,
// after refusing recipients whose private key is published (see
// refusePublished). It is the only way vars encrypts.
func (v *Vars) sealSecret(u *Unit, file string, plaintext []byte, rs []Recipient) ([]byte, error) {
	if err := v.refusePublished(rs); err != nil {
		return nil, fmt.Errorf("%s: secret %q: %w", u, file, err)
	}
	return sealSops(secretID(u, file), plaintext, rs)
}

// openSecret decrypts the secret file of unit u with ids and checks that it
// is bound to its path. It is the only way vars decrypts a stored secret
// for use (upload, rekey, get, a dependency's $in).
func openSecret(u *Unit, file string, ct []byte, ids []age.Identity) ([]byte, error) {
	pt, binding, err := openSops(ct, ids)
	if err != nil {
		return nil, err
	}
	if err := checkBinding(secretID(u, file), binding); err != nil {
		clear(pt)
		return nil, err
	}
	return pt, nil
}

// isBindingError reports whether err is about a binding (as opposed to a
// key that cannot decrypt).
func isBindingError(err error) bool {
	return errors.Is(err, ErrUnbound) || errors.Is(err, ErrMisbound)
}

// refusePublished fails when a recipient's private key is committed to the
// repository holding the vars directory, unless the fleet declares itself
// a lab and that key's file is one of its declared identities.
func (v *Vars) refusePublished(rs []Recipient) error {
	return CheckPublished(v.Dir, rs, v.Fleet, v.flakeDir())
}

// flakeDir is FlakeDir, else the parent of the vars directory (a flake's
// vars live in <flake>/vars).
func (v *Vars) flakeDir() string {
	if v.FlakeDir != "" {
		return v.FlakeDir
	}
	abs, err := filepath.Abs(v.Dir)
	if err != nil {
		return filepath.Dir(v.Dir)
	}
	return filepath.Dir(abs)
}

// existingDir is dir or its nearest existing ancestor (a vars directory
// that generate is about to create).
func existingDir(dir string) string {
	d, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return d
		}
		d = parent
	}
}
