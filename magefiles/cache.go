//go:build mage

package main

import (
	"context"
	"fmt"

	"github.com/magefile/mage/mg"

	"github.com/vanixiets/vanixiets/tasks/cache"
)

// Cache holds the shared cache's targets.
type Cache mg.Namespace

// Keygen makes a signing key for the shared cache called name (e.g. ci or laptop-crs58) and prints how to use it.
func (Cache) Keygen(ctx context.Context, name string) (err error) {
	defer explained(ctx, &err)
	dir, err := cache.KeyDir()
	if err != nil {
		return err
	}
	path, pub, err := cache.Keygen(dir, name)
	if err != nil {
		return err
	}
	fmt.Printf("secret key: %s (keep it private: whoever holds it writes entries every reader trusts)\n", path)
	fmt.Printf("public key: %s\n\n", pub)
	fmt.Printf("writer:  export %s=%s\n", cache.SigningKeyEnv, path)
	fmt.Printf("readers: export %s=%q  (add it to the keys they already trust)\n", cache.TrustedKeysEnv, pub.String())
	return nil
}
