package fleet

import "path/filepath"

// IsLab reports whether the fleet declares itself a test fleet (see Lab).
func (f *Fleet) IsLab() bool { return f != nil && f.Lab != nil }

// LabIdentityFiles returns the absolute paths of the identity files a lab
// fleet declares, resolved against its flake directory; nil for any other
// fleet.
func (f *Fleet) LabIdentityFiles(flakeDir string) []string {
	if !f.IsLab() {
		return nil
	}
	abs, err := filepath.Abs(flakeDir)
	if err != nil {
		abs = flakeDir
	}
	out := make([]string, 0, len(f.Lab.Identities))
	for _, id := range f.Lab.Identities {
		out = append(out, filepath.Join(abs, filepath.FromSlash(id)))
	}
	return out
}
