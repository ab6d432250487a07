package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/sops"
)

// Cloud API credentials live where a clan repository keeps its other
// secrets: named sops secrets, sops/secrets/<name>/secret in the flake,
// encrypted to the admins' age keys (`clan secrets set hcloud-token`). The
// suite decrypts them in memory with the identities that open the
// terraform state and hands them to terraform through its environment
// (Workspace.Env): no plain environment file in the repository, no
// plaintext on disk. A variable already set in the environment wins, so a
// CI secret or a shell export still works.
//
// The terraform state itself needs no passphrase: it is age-encrypted to
// the same admins (see Vault), so the one secret an operator holds is
// their age identity, found where sops finds it (tasks/adminkeys).
//
// A variable has more than one name it may be kept under: the suite's
// short one first, then the one the user's tree uses (its terranix modules
// read `clan secrets get hetzner-api-token` and `gcp-service-account-json`).
// The first that exists is used.
var cloudSecrets = []struct {
	// Env is the provider's variable; Secrets the named sops secrets that
	// may hold it, in order.
	Env     string
	Secrets []string
}{
	{Env: "HCLOUD_TOKEN", Secrets: []string{"hcloud-token", "hetzner-api-token"}},
	// The google provider takes a service account key (its JSON) here.
	{Env: "GOOGLE_CREDENTIALS", Secrets: []string{"gcp-credentials", "gcp-service-account-json"}},
}

// secretPath is the file of a named sops secret in flake.
func secretPath(flake, name string) string {
	return filepath.Join(flake, "sops", "secrets", name, "secret")
}

// cloudSecret returns the named secret that holds env in flake: the first
// of its names whose file exists ("" when none does).
func cloudSecret(flake, env string) string {
	for _, c := range cloudSecrets {
		if c.Env != env {
			continue
		}
		for _, name := range c.Secrets {
			if _, err := os.Lstat(secretPath(flake, name)); err == nil {
				return name
			}
		}
	}
	return ""
}

// hasCloudSecret reports whether flake keeps a named secret of env.
func hasCloudSecret(flake, env string) bool { return cloudSecret(flake, env) != "" }

// CloudCredential returns the value of a provider credential variable
// (HCLOUD_TOKEN, GOOGLE_CREDENTIALS): the environment's, else the flake's
// named sops secret decrypted with ids, else "" (neither is set). A secret
// that is there but cannot be read is an error naming it and the fix.
func CloudCredential(flake, env string, ids []age.Identity) (string, error) {
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	name := cloudSecret(flake, env)
	if name == "" {
		return "", nil
	}
	p := secretPath(flake, name)
	ct, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("%s (for %s): %v", p, env, err)
	}
	pt, err := sops.Decrypt(sops.Binary, ct, ids)
	if err != nil {
		return "", fmt.Errorf("%s (for %s) cannot be decrypted with your age identities (%v): have an admin add your key (clan secrets users add, or vars:rekey), or set %s", p, env, err, env)
	}
	defer clear(pt)
	v := strings.TrimSpace(string(pt)) // `clan secrets set` keeps the newline a shell or editor adds
	if v == "" {
		return "", fmt.Errorf("%s (for %s) is empty: set it again (clan secrets set %s) or set %s", p, env, name, env)
	}
	return v, nil
}
