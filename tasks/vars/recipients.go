package vars

import (
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

// The recipients engine: vars:rekey and secrets:updatekeys both come here
// to move a sops file to a new recipient set, so both refuse published
// keys and both leave a file whose recipients already match untouched.

// UpdateKeys re-wraps the sops file at path (content ct, store chosen from
// the name as sops does) for exactly rs, after refusing recipients whose
// private key is committed to the repository at repoDir unless f declares
// them as lab identities (flakeDir). It returns the new content and
// whether it changed; an unchanged file is returned as it was.
func UpdateKeys(path string, ct []byte, ids []age.Identity, rs []Recipient, repoDir string, f *fleet.Fleet, flakeDir string) ([]byte, bool, error) {
	if err := CheckPublished(repoDir, rs, f, flakeDir); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	out, changed, err := sops.UpdateKeys(sops.FormatFor(path), ct, ids, recipientKeys(rs))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return out, changed, nil
}

func (v *Vars) updateKeys(path string, ct []byte, ids []age.Identity, rs []Recipient) ([]byte, bool, error) {
	return UpdateKeys(path, ct, ids, rs, v.Dir, v.Fleet, v.flakeDir())
}

// CheckPublished refuses recipients whose private key is committed to the
// repository at repoDir, unless fleet f declares them as its lab
// identities (relative to flakeDir). Every encryption path calls it:
// vars' sealSecret, this package's UpdateKeys, and new sops-nix user files.
func CheckPublished(repoDir string, rs []Recipient, f *fleet.Fleet, flakeDir string) error {
	pub, err := agekey.PublishedIn(existingDir(repoDir))
	if err != nil {
		return err
	}
	var ars []agekey.Recipient
	for _, r := range rs {
		ars = append(ars, agekey.Recipient{Key: r.Key, Who: r.Who})
	}
	var lab []string
	if f != nil {
		lab = f.LabIdentityFiles(flakeDir)
	}
	return pub.Check(ars, lab)
}

// forFile narrows a unit's recipients (want, from expectedRecipients) to
// those of its file f, as clan does: a file with deploy = false (a key
// used only at install time, such as a partitioning key) never reaches
// the machine, so it is encrypted to the admins only, without the
// machines' keys or machines/ links. A recipient that is a machine and a
// user at once (one key, both Who) stays, named by its user part.
func forFile(f *fleet.File, want []Recipient) []Recipient {
	if f == nil || f.Deploy {
		return want
	}
	var out []Recipient
	for _, r := range want {
		var keep []string
		for _, w := range strings.Split(r.Who, ",") {
			if !strings.HasPrefix(w, "machine:") {
				keep = append(keep, w)
			}
		}
		if len(keep) > 0 {
			out = append(out, Recipient{Key: r.Key, Who: strings.Join(keep, ",")})
		}
	}
	return out
}
