package terraform

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// Vault keeps files encrypted at rest with age: the terraform state (in the
// repository) and saved plans (which embed a copy of the state). It never
// writes plaintext; callers put decrypted bytes only in a private run
// directory.
type Vault struct {
	// Identities decrypt. A wrong or missing identity is reported before
	// anything is touched.
	Identities []age.Identity
	// Recipients encrypt: the admins' age keys (plus, by the caller's
	// choice, the operator's own, so they can read back what they wrote).
	Recipients []age.Recipient
}

// ErrNoIdentity is wrapped when no identity opens an encrypted file.
var ErrNoIdentity = errors.New("no age identity opens it")

// Read decrypts path. A missing file gives (nil, nil).
func (v *Vault) Read(path string) ([]byte, error) {
	ct, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v.Decrypt(path, ct)
}

// Decrypt decrypts ct (armored or binary); name is used in errors.
func (v *Vault) Decrypt(name string, ct []byte) ([]byte, error) {
	if len(v.Identities) == 0 {
		return nil, fmt.Errorf("decrypt %s: no age identity configured: put an admin's age key where sops reads it (%s), or name it with %s", name, adminkeys.Host().Describe(), adminkeys.IdentityEnv)
	}
	var in io.Reader = bytes.NewReader(ct)
	if bytes.HasPrefix(bytes.TrimSpace(ct), []byte(armor.Header)) {
		in = armor.NewReader(bytes.NewReader(ct))
	}
	r, err := age.Decrypt(in, v.Identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("decrypt %s: %w: it is encrypted to the fleet admins' keys; set %s to one of their identity files, or %s to one of their keys (the file is left untouched)", name, ErrNoIdentity, adminkeys.IdentityEnv, adminkeys.KeyEnv)
		}
		return nil, fmt.Errorf("decrypt %s: %v (the file is left untouched)", name, err)
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %v (the file is left untouched)", name, err)
	}
	return pt, nil
}

// Write encrypts pt (ASCII-armored, so the repository diff is text) and
// replaces path atomically.
func (v *Vault) Write(path string, pt []byte) error {
	if len(v.Recipients) == 0 {
		return fmt.Errorf("encrypt %s: no age recipients: the fleet's admins have no ageKeys", path)
	}
	ct, err := agekey.EncryptArmored(pt, v.Recipients...)
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", path, err)
	}
	return fsutil.WriteFile(path, ct, 0o644)
}

// ParseRecipients parses age recipients ("age1...").
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %v", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// stateHeader is the part of a terraform state the suite reads.
type stateHeader struct {
	Version int    `json:"version"`
	Serial  int64  `json:"serial"`
	Lineage string `json:"lineage"`
	Outputs map[string]struct {
		Value     json.RawMessage `json:"value"`
		Sensitive bool            `json:"sensitive"`
	} `json:"outputs"`
	Resources []struct {
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Instances []struct {
			Attributes json.RawMessage `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

// managed returns the addresses ("hcloud_server.cinnabar") of the
// state's managed resources, sorted.
func (h *stateHeader) managed() []string {
	var out []string
	for _, r := range h.Resources {
		if r.Mode == "managed" {
			out = append(out, r.Type+"."+r.Name)
		}
	}
	sort.Strings(out)
	return out
}

func parseState(b []byte) (*stateHeader, error) {
	var h stateHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("terraform state is not valid JSON: %v", err)
	}
	if h.Version != 4 {
		return nil, fmt.Errorf("terraform state version %d, want 4", h.Version)
	}
	return &h, nil
}

func sum(b []byte) string {
	if b == nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
