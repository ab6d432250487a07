package vars

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
)

// The age reading below is what vars:migrate needs to read the suite's
// earlier format (age armor + recipients); new secrets are sops files
// (clan.go).

// Recipient is one age X25519 recipient of a secret and who it stands for.
type Recipient struct {
	// Key is the age1... string.
	Key string
	// Who is "machine:<name>" or "user:<name>".
	Who string
}

const armorHeader = "-----BEGIN AGE ENCRYPTED FILE-----"

func ageReader(ct []byte) io.Reader {
	if bytes.HasPrefix(bytes.TrimSpace(ct), []byte(armorHeader)) {
		return armor.NewReader(bytes.NewReader(bytes.TrimSpace(ct)))
	}
	return bytes.NewReader(ct)
}

// decrypt decrypts an age file (armored or binary) with any of ids.
func decrypt(ct []byte, ids []age.Identity) ([]byte, error) {
	if len(ids) == 0 {
		return nil, errors.New("no identity to decrypt with")
	}
	r, err := age.Decrypt(ageReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Stanza is one recipient stanza of an age header: its type ("X25519") and
// arguments.
type Stanza struct {
	Type string
	Args []string
}

// ParseHeader returns the recipient stanzas of an age file without
// decrypting it. It accepts the binary and the armored form and fails on
// anything that is not an age v1 file.
func ParseHeader(ct []byte) ([]Stanza, error) {
	br := bufio.NewReader(io.LimitReader(ageReader(ct), 1<<20))
	line, err := br.ReadString('\n')
	if err != nil || line != "age-encryption.org/v1\n" {
		return nil, errors.New("not an age file (no age-encryption.org/v1 header)")
	}
	var out []Stanza
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, errors.New("truncated age header")
		}
		switch {
		case strings.HasPrefix(line, "--- "):
			if len(out) == 0 {
				return nil, errors.New("age header has no recipient stanza")
			}
			return out, nil
		case strings.HasPrefix(line, "-> "):
			f := strings.Fields(strings.TrimSuffix(line[3:], "\n"))
			if len(f) == 0 {
				return nil, errors.New("age header has an empty stanza")
			}
			out = append(out, Stanza{Type: f[0], Args: f[1:]})
			// The body is base64 lines of 64 columns ending with a shorter one.
			for {
				body, err := br.ReadString('\n')
				if err != nil {
					return nil, errors.New("truncated age stanza body")
				}
				if len(strings.TrimSuffix(body, "\n")) < 64 {
					break
				}
			}
		default:
			return nil, fmt.Errorf("malformed age header line %q", abbrev(line))
		}
	}
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// IdentitySource names where the admin's age identities are read from
// (tasks/adminkeys: every place sops reads, or $VANIXIETS_AGE_IDENTITY's
// files), for the messages that ask whether that is an admin's key.
func IdentitySource() string { return adminkeys.Host().Describe() }

// LoadIdentities reads the admin's identities where sops finds them
// (tasks/adminkeys.Find on this machine).
func LoadIdentities() ([]age.Identity, error) {
	k, err := adminkeys.Find(adminkeys.Host())
	return k.Identities, err
}

// ChosenKeys returns the admin's identities when the admin chose an age key
// on this machine (a variable names one, or sops's keys.txt holds one), and
// where they came from; nil when not. A check decrypts in the first case
// and checks only the structure in the second, so an ssh key that merely
// sits in ~/.ssh does not turn "no key here" into "your key decrypts
// nothing". A place a variable names that is broken is an error.
func ChosenKeys() (ids []age.Identity, from string, err error) {
	host := adminkeys.Host()
	k, err := adminkeys.Find(host)
	switch {
	case errors.Is(err, adminkeys.ErrNone) && !host.Named():
		return nil, "", nil
	case err != nil:
		return nil, "", err
	case !k.Chosen():
		return nil, "", nil
	}
	return k.Identities, k.String(), nil
}

// identityRecipient returns the recipient string of an X25519 identity, or
// "" for other identity types.
func identityRecipient(id age.Identity) string {
	if x, ok := id.(*age.X25519Identity); ok {
		return x.Recipient().String()
	}
	return ""
}
