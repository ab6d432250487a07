package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// KeyDir is where Keygen puts secret keys: $XDG_CONFIG_HOME/vanixiets/
// cache-keys, else ~/.config/vanixiets/cache-keys. Not under the cache root
// (paths.Home): a cache directory may be wiped at any time, a signing key
// must not be.
func KeyDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "vanixiets", "cache-keys"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache keys: no home directory (%v): set XDG_CONFIG_HOME", err)
	}
	return filepath.Join(h, ".config", "vanixiets", "cache-keys"), nil
}

// Keygen makes a writer key called name and writes its secret half to
// dir/<name>.secret (mode 0600, in a 0700 directory, atomically). It never
// replaces an existing key: readers that trust the old one would silently
// stop hitting. It returns the file's path and the public half to list in
// VANIXIETS_TRUSTED_CACHE_KEYS.
func Keygen(dir, name string) (string, PublicKey, error) {
	k, err := GenerateSigningKey(name)
	if err != nil {
		return "", PublicKey{}, err
	}
	p := filepath.Join(dir, name+".secret")
	if _, err := os.Lstat(p); err == nil {
		return "", PublicKey{}, fmt.Errorf("cache key %s already exists: pick another name, or remove it first (readers trusting it will miss)", p)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", PublicKey{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", PublicKey{}, fmt.Errorf("cache keys: %w", err)
	}
	if err := fsutil.WriteFile(p, []byte(k.String()+"\n"), 0o600); err != nil {
		return "", PublicKey{}, err
	}
	return p, k.Public(), nil
}
