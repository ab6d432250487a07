package vars

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
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

// IdentityFile names the admin's age identity file: $VANIXIETS_AGE_IDENTITY,
// else $SOPS_AGE_KEY_FILE (the seed's sops-nix set-up), else
// ~/.config/sops/age/keys.txt. The list form (several files separated by
// ':') is accepted in VANIXIETS_AGE_IDENTITY.
func IdentityFile() string {
	if p := os.Getenv("VANIXIETS_AGE_IDENTITY"); p != "" {
		return p
	}
	if p := os.Getenv("SOPS_AGE_KEY_FILE"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config", "sops", "age", "keys.txt")
}

// LoadIdentities reads the admin identities named by IdentityFile.
func LoadIdentities() ([]age.Identity, error) {
	return LoadIdentityFiles(filepath.SplitList(IdentityFile())...)
}

// LoadIdentityFiles reads age identity files (age-keygen's format, comments
// allowed); empty names are skipped. It is the one reader of admin keys for
// vars, deploy and terraform state, so all three fail the same clear way.
func LoadIdentityFiles(files ...string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, p := range files {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("admin age identity file %s: %v (set VANIXIETS_AGE_IDENTITY to your age key file; the lab's are lab/keys/<user>.agekey)", p, err)
		}
		got, err := age.ParseIdentities(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("admin age identity file %s: %v (want AGE-SECRET-KEY-1... lines as age-keygen writes them)", p, err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// identityRecipient returns the recipient string of an X25519 identity, or
// "" for other identity types.
func identityRecipient(id age.Identity) string {
	if x, ok := id.(*age.X25519Identity); ok {
		return x.Recipient().String()
	}
	return ""
}
