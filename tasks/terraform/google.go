package terraform

import (
	"os"
	"path/filepath"
	"strings"
)

// googleStamp is the file scripts/install-google-provider.sh writes beside
// the mirror (in the tools directory) to record what the google provider
// in the mirror was built from: "<module>@<version> services: <names>".
// The script decides its content; this package only reads it, to explain
// an error the trimmed build can cause.
const googleStamp = "google-provider.source"

// googleServices returns the services the mirror's google provider was
// built with ("compute"), or "" when no stamp says so.
func (w *Workspace) googleServices() string {
	for _, m := range mirrorPaths(w.CLIConfig) {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(m), googleStamp))
		if err != nil {
			continue
		}
		if _, s, ok := strings.Cut(string(b), " services: "); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// googleHint is what to add to a terraform error or diagnostic for the
// one cause the suite itself brings: the set-up builds the google provider
// with only the services the fleet uses (scripts/install-google-provider.sh),
// so a resource of another Google product is unknown to it, though the
// registry's provider has it. terraform's own words ("does not support
// resource type") would send the user looking for a typo. It is "" for
// any other message.
func (w *Workspace) googleHint(msg string) string {
	flat := strings.Join(strings.Fields(msg), " ")
	if !strings.Contains(flat, "provider hashicorp/google does not support") {
		return ""
	}
	s := w.googleServices()
	if s == "" {
		return ""
	}
	return " (the google provider in the mirror registers only the services \"" + s +
		"\", as scripts/install-google-provider.sh built it: for a resource of another Google product, rebuild it with GOOGLE_SERVICES=\"" + s +
		" <service>\" bash scripts/install-google-provider.sh, where <service> is the product's directory under google/services in the provider's source)"
}
